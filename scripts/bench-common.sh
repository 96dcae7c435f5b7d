# Sourced by the bench scripts: the smsgw binary, a run directory and the clean-up of the
# processes they start.
#
#   source scripts/bench-common.sh NAME
#
# Sets `smsgw` (SMSGW_BIN, else target/release/smsgw, built with `cargo build --release` if
# missing or SMSGW_BUILD=1), `run` (a fresh /tmp/smsgw-NAME.XXXXXX) and `pids` (append the
# PID of each process started). On exit every PID is killed, the run's *.log files are copied
# to /tmp/NAME-*.log, and the run directory is removed. Also `free_port` (a port free on
# 127.0.0.1 now) and `sim_route_toml PORT` (every destination to a carrier simulator there).

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

sim_route_toml() { # PORT: connector `sim` (2 binds, window 256, as the built-in default), route `*`
    cat <<EOF
[[connectors]]
name = "sim"
endpoints = ["127.0.0.1:$1"]
binds = 2
window = 256
system_id = "smsgw"
password = "sim"

[[routes]]
prefix = "*"
connectors = ["sim"]
EOF
}
