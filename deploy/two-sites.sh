#!/usr/bin/env bash
# Two sites x two smsgw nodes on loopback, active/active, as a demo of the multi-site set-up:
#
#   Redis primary + replica + 3 Sentinels (the store follows a failover)
#   a carrier simulator (`smsgw carrier-sim`) both sites bind to
#   site A: nodes a1, a2 behind haproxy A; site B: nodes b1, b2 behind haproxy B
#   (haproxy configs made from deploy/haproxy.cfg: HTTP round-robin, SMPP TCP, /readyz checks)
#
#   deploy/two-sites.sh          start, wait until every node is ready, print how to send
#   deploy/two-sites.sh --stop   stop everything it started (by the PIDs in its run dir)
#
# Environment:
#   SMSGW_BIN        smsgw binary (default: `cargo build --release`, then its output)
#   SMSGW_DEMO_DIR   run dir: configs, logs, data, PIDs (default /tmp/smsgw-two-sites)
#   SMSGW_DEMO_PORT  first of the ~300 loopback ports used (default 24000)
# Needs redis-server, redis-cli, haproxy and curl on PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run="${SMSGW_DEMO_DIR:-/tmp/smsgw-two-sites}"
base="${SMSGW_DEMO_PORT:-24000}"
password="demo1234"

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
    # SIGTERM to all (newest first: balancers, nodes, simulator, Sentinels, Redis), up to 10 s
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
for tool in redis-server redis-cli haproxy curl; do
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

primary=$((base + 379))
replica=$((base + 380))
sentinels=($((base + 381)) $((base + 382)) $((base + 383)))
carrier=$((base + 10))

# redis PORT CONFIG_FILE|"" ARGS...: a redis-server (a Sentinel's config file must come first:
# Sentinel rewrites it).
redis() {
    local port="$1" config="$2"
    shift 2
    mkdir -p "$run/redis-$port"
    start "redis-$port" "$run/redis-$port.log" redis-server ${config:+"$config"} --port "$port" \
        --bind 127.0.0.1 --dir "$run/redis-$port" --appendonly yes --appendfsync everysec \
        --save "" "$@"
    wait_for "redis on $port" redis-cli -p "$port" ping
}
redis "$primary" ""
redis "$replica" "" --replicaof 127.0.0.1 "$primary"
# The nodes WAIT for one replica before acknowledging: start them once it is in sync.
replica_in_sync() { redis-cli -p "$replica" info replication | grep -q 'master_link_status:up'; }
wait_for "the replica's sync" replica_in_sync
for port in "${sentinels[@]}"; do
    printf 'sentinel monitor smsgw 127.0.0.1 %s 2\nsentinel down-after-milliseconds smsgw 5000\nsentinel failover-timeout smsgw 30000\n' \
        "$primary" >"$run/sentinel-$port.conf"
    redis "$port" "$run/sentinel-$port.conf" --sentinel
done

start carrier-sim "$run/carrier-sim.log" "$SMSGW_BIN" carrier-sim --listen "127.0.0.1:$carrier"

sentinel_list=$(printf '"127.0.0.1:%s", ' "${sentinels[@]}")
# The balancers connect to the nodes from this loopback address, which the nodes trust to name
# the client (PROXY protocol); anything else on 127.0.0.1 (curl, smsgw send) reaches a node
# directly as itself.
balancer="127.0.0.5"
node() {
    local site="$1" node="$2" smpp="$3" http="$4"
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

[store]
kind = "redis"

[store.redis]
sentinels = [${sentinel_list%, }]
master_name = "smsgw"
wait_replicas = 1
key_prefix = "demo:"

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

node siteA a1 $((base + 101)) $((base + 181))
node siteA a2 $((base + 102)) $((base + 182))
node siteB b1 $((base + 201)) $((base + 281))
node siteB b2 $((base + 202)) $((base + 282))
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
  Redis primary 127.0.0.1:$primary, replica :$replica, Sentinels :${sentinels[0]} :${sentinels[1]} :${sentinels[2]} (master "smsgw")
  carrier simulator 127.0.0.1:$carrier
  site A: haproxy HTTP 127.0.0.1:$((base + 80)), SMPP 127.0.0.1:$((base + 75)); nodes a1, a2
  site B: haproxy HTTP 127.0.0.1:$((base + 90)), SMPP 127.0.0.1:$((base + 85)); nodes b1, b2

Send through site A (HTTP), then site B (SMPP, waiting for the receipt):
  curl -d 'login=demo&password=$password&phone_number=447700900001&sender=DEMO&message=hello&message_id=m1&receipt=TRUE' http://127.0.0.1:$((base + 80))/httpapi/receiver
  $SMSGW_BIN send --smpp 127.0.0.1:$((base + 85)) --system-id demo --password $password --to 447700900001 --text hello --wait
The nodes on either site: curl http://127.0.0.1:$((base + 90))/cluster
Fail the Redis primary over: redis-cli -p $primary debug sleep 30   (or kill it; the Sentinels promote the replica)
EOF
