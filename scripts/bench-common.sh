# Sourced by the bench scripts: the smsgw binary, a run directory and the clean-up of the
# processes they start.
#
#   source scripts/bench-common.sh NAME
#
# Sets `smsgw` (SMSGW_BIN, else target/release/smsgw, built with `cargo build --release` if
# missing or SMSGW_BUILD=1), `run` (a fresh /tmp/smsgw-NAME.XXXXXX) and `pids` (append the
# PID of each process started). On exit every PID is killed, the run's *.log files are copied
# to /tmp/NAME-*.log, and the run directory is removed. Also `free_port` (a port free on
# 127.0.0.1 now), `sim_route_toml PORT` (every destination to a carrier simulator there),
# `sim_spread_toml PORT` (three connectors to it, each with a destination prefix),
# `node_toml ...` (a node's config on a given store), `cpu_seconds PID` and `start_nginx PORT`
# (a fast receiver answering 200, for pushes and DLR callbacks).

bench_name=$1
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
smsgw=${SMSGW_BIN:-$target/release/smsgw}
if [ ! -x "$smsgw" ] || [ "${SMSGW_BUILD:-0}" = 1 ]; then
    cargo build --release --bin smsgw
fi

run=$(mktemp -d "/tmp/smsgw-$bench_name.XXXXXX")
pids=()
bench_cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for log in "$run"/*.log; do
        [ -e "$log" ] && cp "$log" "/tmp/$bench_name-$(basename "$log")"
    done
    rm -rf "$run"
}
trap bench_cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

sim_connector_toml() { # PORT NAME PREFIX: connector NAME on the simulator at PORT (2 binds,
    # window 256, as the built-in default) and the route of PREFIX to it. The connector binds
    # with its own name as system_id: a simulator (like an SMSC) sends a receipt on any bind
    # of the system_id that submitted, and receipts are looked up per connector
    cat <<EOF
[[connectors]]
name = "$2"
endpoints = ["127.0.0.1:$1"]
binds = 2
window = 256
system_id = "$2"
password = "sim"

[[routes]]
prefix = "$3"
connectors = ["$2"]

EOF
}

sim_spread_toml() { # PORT: connectors sim-a, sim-b, sim-c on the simulator there, routes
    # 4477009001 -> sim-a, 4477009002 -> sim-b, 4477009003 -> sim-c
    local n
    for n in 1 2 3; do
        sim_connector_toml "$1" "sim-$(printf '\x'$((60 + n)))" "447700900$n"
    done
}

sim_route_toml() { # PORT: connector `sim`, route `*`
    sim_connector_toml "$1" sim "*"
}

node_toml() { # NODE SITE SMPP HTTP SIMULATOR(true|false) STORE_TOML [ROUTES_TOML]: a node of
    # account `demo` on the simulator at 12776 (started by the node with SIMULATOR = true);
    # ROUTES_TOML: its connectors and routes, by default `sim_route_toml 12776`
    cat <<EOF
node_id = "$1"
site = "$2"
data_dir = "$run/$1"

[listeners]
smpp = "127.0.0.1:$3"
http = "127.0.0.1:$4"

[admin]
listen = "127.0.0.1:$(free_port)"

$6

[simulator]
enabled = $5
listen = "127.0.0.1:12776"

[[accounts]]
system_id = "demo"
password_env = "SMSGW_BENCH_PASSWORD"
max_binds = 64


${7:-$(sim_route_toml 12776)}
EOF
}

cpu_seconds() { # PID: user + system CPU seconds so far
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat"
}

start_nginx() { # PORT: a fast receiver answering 200 to anything, for pushes and DLR callbacks
    command -v nginx >/dev/null || { echo "nginx is needed (apt-get install nginx)"; exit 2; }
    # One worker, no access log, connections kept alive for as many requests as come.
    mkdir -p "$run/nginx"
    cat >"$run/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $run/nginx/nginx.pid;
error_log $run/nginx.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $run/nginx/body;
    proxy_temp_path $run/nginx/proxy;
    fastcgi_temp_path $run/nginx/fastcgi;
    uwsgi_temp_path $run/nginx/uwsgi;
    scgi_temp_path $run/nginx/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server {
        listen 127.0.0.1:$1;
        location / { return 200 "ok\n"; }
    }
}
NGINX
    nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" -g 'daemon off;' 2>>"$run/nginx.log" &
    pids+=($!)
    until curl -sf -X POST "http://127.0.0.1:$1/push" >/dev/null; do sleep 0.1; done
}
