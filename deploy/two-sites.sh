#!/usr/bin/env bash
# Two sites x two smsgw nodes on loopback, active/active, as a demo of the multi-site set-up:
#
#   the store, one of:
#     nats (default): three nats-server (>= 2.12) in one JetStream cluster, one per site:
#       A and B, and C the tie-breaker; every stream has a copy on each site, so either data
#       centre may be lost (configs made from deploy/nats-server.conf: TLS with a CA made
#       here, passwords for clients and routes)
#     redis: a Redis primary + replica + 3 Sentinels (the store follows a failover; a single-
#       site store: see the README's failure matrix)
#   a carrier simulator (`smsgw carrier-sim`) both sites bind to
#   site A: nodes a1, a2 behind haproxy A; site B: nodes b1, b2 behind haproxy B
#   (haproxy configs made from deploy/haproxy.cfg: HTTP round-robin, SMPP TCP, /readyz checks)
#
#   deploy/two-sites.sh          start, wait until every node is ready, print how to send
#   deploy/two-sites.sh --stop   stop everything it started (by the PIDs in its run dir)
#
# Environment:
#   SMSGW_BIN          smsgw binary (default: `cargo build --release`, then its output)
#   SMSGW_DEMO_STORE   nats (default) or redis
#   SMSGW_NATS_SERVER  nats-server binary (default: the one on PATH)
#   SMSGW_DEMO_DIR     run dir: configs, logs, data, PIDs (default /tmp/smsgw-two-sites)
#   SMSGW_DEMO_PORT    first of the ~700 loopback ports used (default 24000)
# Needs haproxy and curl on PATH, and nats-server and openssl, or redis-server and redis-cli.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run="${SMSGW_DEMO_DIR:-/tmp/smsgw-two-sites}"
base="${SMSGW_DEMO_PORT:-24000}"
password="demo1234"
store="${SMSGW_DEMO_STORE:-nats}"
nats_server="${SMSGW_NATS_SERVER:-nats-server}"

# running PID: the process exists and is not a zombie waiting to be reaped.
running() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${state#Z}" = "$state" ]
}

stop() {
    if [ ! -f "$run/pids" ]; then
        echo "nothing to stop in $run"
        return 0
    fi
    # SIGTERM to all (newest first: balancers, nodes, simulator, the store's servers), up to 10 s
    # for them to finish, then SIGKILL for any still there.
    tac "$run/pids" | while read -r pid name; do
        kill "$pid" 2>/dev/null && echo "stopping $name ($pid)" || true
    done
    for _ in $(seq 100); do
        alive=0
        while read -r pid _; do
            running "$pid" && alive=1
        done <"$run/pids"
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    while read -r pid name; do
        if running "$pid"; then
            kill -9 "$pid" && echo "killed $name ($pid)"
        fi
    done <"$run/pids"
    rm -f "$run/pids"
}

if [ "${1:-}" = "--stop" ]; then
    stop
    exit 0
fi
if [ -f "$run/pids" ]; then
    echo "already running from $run (deploy/two-sites.sh --stop first)" >&2
    exit 1
fi

if [ -z "${SMSGW_BIN:-}" ]; then
    (cd "$here/.." && cargo build --release --bin smsgw)
    SMSGW_BIN="${CARGO_TARGET_DIR:-$here/../target}/release/smsgw"
fi
case "$store" in
    nats) store_tools=("$nats_server" openssl) ;;
    redis) store_tools=(redis-server redis-cli) ;;
    *) echo "SMSGW_DEMO_STORE must be nats or redis, not \"$store\"" >&2; exit 1 ;;
esac
for tool in "${store_tools[@]}" haproxy curl; do
    command -v "$tool" >/dev/null || { echo "$tool is not on PATH" >&2; exit 1; }
done

mkdir -p "$run"
: >"$run/pids"
trap 'echo "start failed; stopping what started (logs in $run)" >&2; stop' ERR

# start NAME LOG COMMAND...: runs COMMAND in the background and records its PID.
start() {
    local name="$1" log="$2"
    shift 2
    "$@" >"$log" 2>&1 &
    echo "$! $name" >>"$run/pids"
}

# wait_for WHAT COMMAND...: retries COMMAND for up to 30 s.
wait_for() {
    local what="$1"
    shift
    for _ in $(seq 300); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$what did not come up (logs in $run)" >&2
    return 1
}

carrier=$((base + 10))
. "$here/two-sites-stores.sh"
"start_${store}_store"

start carrier-sim "$run/carrier-sim.log" "$SMSGW_BIN" carrier-sim --listen "127.0.0.1:$carrier"
# The balancers connect to the nodes from this loopback address, which the nodes trust to name
# the client (PROXY protocol); anything else on 127.0.0.1 (curl, smsgw send) reaches a node
# directly as itself.
balancer="127.0.0.5"
node() {
    local site="$1" node="$2" smpp="$3" http="$4" admin="$5"
    mkdir -p "$run/$node"
    cat >"$run/$node/smsgw.toml" <<EOF
node_id = "$node"
site = "$site"
data_dir = "$run/$node"

[listeners]
smpp = "127.0.0.1:$smpp"
http = "127.0.0.1:$http"
trusted_proxies = ["$balancer"]
proxy_protocol = ["smpp", "http"]

# /metrics and /cluster: on loopback, open to this host only (no [[admin.users]]); the
# balancers do not forward it.
[admin]
listen = "127.0.0.1:$admin"

$store_toml

[[accounts]]
system_id = "demo"
password_env = "SMSGW_DEMO_PASSWORD"

[[connectors]]
name = "sim"
endpoints = ["127.0.0.1:$carrier"]
system_id = "gw"
password = "pw"

[[routes]]
prefix = "*"
connectors = ["sim"]
EOF
    SMSGW_DEMO_PASSWORD="$password" start "$node" "$run/$node/smsgw.log" \
        "$SMSGW_BIN" serve --config "$run/$node/smsgw.toml"
}

# haproxy_site SITE HTTP SMPP NODE_HTTP:NODE_SMPP...: deploy/haproxy.cfg with loopback
# listeners and this site's nodes as servers.
haproxy_site() {
    local site="$1" http="$2" smpp="$3"
    shift 3
    local http_servers="" smpp_servers="" n=0 pair
    # As deploy/haproxy.cfg: a PROXY v2 header first (checks too), from the balancer address
    # the nodes trust.
    local to_node="send-proxy-v2 check-send-proxy source $balancer"
    for pair in "$@"; do
        n=$((n + 1))
        http_servers+="    server node$n 127.0.0.1:${pair%:*} $to_node check inter 1s fall 2 rise 1\n"
        smpp_servers+="    server node$n 127.0.0.1:${pair#*:} $to_node check port ${pair%:*} inter 1s fall 2 rise 1\n"
    done
    awk -v http="$http" -v smpp="$smpp" -v hs="$http_servers" -v ss="$smpp_servers" '
        /^ *maxconn / { print "    maxconn 1000"; next }
        /bind \*:80$/ { print "    bind 127.0.0.1:" http; next }
        /bind \*:2775$/ { print "    bind 127.0.0.1:" smpp; next }
        /^ *server node/ { next }
        /^backend smsgw_http/ { backend = "http" }
        /^backend smsgw_smpp/ { backend = "smpp" }
        { print }
        /http-check expect status 200/ { printf "%s", (backend == "http" ? hs : ss) }
    ' "$here/haproxy.cfg" >"$run/haproxy-$site.cfg"
    haproxy -c -q -f "$run/haproxy-$site.cfg"
    start "haproxy-$site" "$run/haproxy-$site.log" haproxy -db -f "$run/haproxy-$site.cfg"
}

node siteA a1 $((base + 101)) $((base + 181)) $((base + 191))
node siteA a2 $((base + 102)) $((base + 182)) $((base + 192))
node siteB b1 $((base + 201)) $((base + 281)) $((base + 291))
node siteB b2 $((base + 202)) $((base + 282)) $((base + 292))
for http in $((base + 181)) $((base + 182)) $((base + 281)) $((base + 282)); do
    wait_for "smsgw on $http" curl -sf "http://127.0.0.1:$http/readyz"
done
haproxy_site A $((base + 80)) $((base + 75)) $((base + 181)):$((base + 101)) $((base + 182)):$((base + 102))
haproxy_site B $((base + 90)) $((base + 85)) $((base + 281)):$((base + 201)) $((base + 282)):$((base + 202))
wait_for "haproxy A" curl -sf "http://127.0.0.1:$((base + 80))/readyz"
wait_for "haproxy B" curl -sf "http://127.0.0.1:$((base + 90))/readyz"
trap - ERR

cat <<EOF
Two sites running (run dir $run; stop with: deploy/two-sites.sh --stop)
  $store_summary
  carrier simulator 127.0.0.1:$carrier
  site A: haproxy HTTP 127.0.0.1:$((base + 80)), SMPP 127.0.0.1:$((base + 75)); nodes a1, a2
  site B: haproxy HTTP 127.0.0.1:$((base + 90)), SMPP 127.0.0.1:$((base + 85)); nodes b1, b2

Send through site A (HTTP), then site B (SMPP, waiting for the receipt):
  curl -d 'login=demo&password=$password&phone_number=447700900001&sender=DEMO&message=hello&message_id=m1&receipt=TRUE' http://127.0.0.1:$((base + 80))/httpapi/receiver
  $SMSGW_BIN send --smpp 127.0.0.1:$((base + 85)) --system-id demo --password $password --to 447700900001 --text hello --wait
The nodes on either site (node a1's admin listener): curl http://127.0.0.1:$((base + 191))/cluster
$store_howto
EOF
