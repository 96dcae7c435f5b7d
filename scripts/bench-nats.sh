#!/usr/bin/env bash
# Full-cycle benchmark on the NATS JetStream store, everything on this machine: three
# nats-server in one JetStream cluster (tags site:a, site:b, site:c; each stream has a copy on
# each), node A (with the built-in carrier simulator) and, with NODES=2, node B in another
# site, then `smsgw bench` bound to node A. Prints the bench's figures and the CPU seconds of
# the nodes and of the three servers together (store CPU per MT).
#
#   NODES=1|2 SHARDS="1 3" bash scripts/bench-nats.sh [COUNT] [BINDS] [WINDOW] [RATE]
#
# Without SHARDS: one connector `sim`, the store's default of one shard. With SHARDS (a list
# of shard counts, run one after the other on the same cluster, each in a namespace of its
# own, the nodes started afresh): three connectors sim-a, sim-b, sim-c to the same simulator,
# routed by destination prefix and pinned to shards 0, 1, 2 (modulo the shard count), and the
# bench sends to the three prefixes in turn, so the cases differ only in `shards`.
#
# nats-server: SMSGW_NATS_SERVER, else .venv/bin/nats-server (scripts/test.sh installs it),
# else the one on PATH. Uses target/release/smsgw like the other bench scripts (SMSGW_BIN
# overrides); logs are copied to /tmp/bench-nats-*.log at the end.
# Ports: NATS 14222-14224 (routes 16222-16224, monitoring 18222-18224), node A 12775/18080, simulator 12776,
# node B 22775/28080.
set -euo pipefail

count=${1:-20000}
binds=${2:-4}
window=${3:-64}
rate=${4:-}
nodes=${NODES:-1}
shard_cases=${SHARDS:-}

source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh" bench-nats

nats_server=${SMSGW_NATS_SERVER:-}
if [ -z "$nats_server" ]; then
    if [ -x .venv/bin/nats-server ]; then nats_server=.venv/bin/nats-server; else nats_server=nats-server; fi
fi

nats_pids=()
routes='"nats-route://127.0.0.1:16222", "nats-route://127.0.0.1:16223", "nats-route://127.0.0.1:16224"'
for i in 0 1 2; do
    site=$(printf '\x'$((61 + i))) # a, b, c
    mkdir -p "$run/nats-$site"
    cat >"$run/nats-$site.conf" <<EOF
server_name: "bench-$site"
listen: "127.0.0.1:$((14222 + i))"
http: "127.0.0.1:$((18222 + i))"
server_tags: ["site:$site"]
jetstream { store_dir: "$run/nats-$site", unique_tag: "site" }
cluster { name: "bench", listen: "127.0.0.1:$((16222 + i))", routes: [$routes] }
EOF
    "$nats_server" -c "$run/nats-$site.conf" >"$run/nats-$site.log" 2>&1 &
    pids+=($!)
    nats_pids+=($!)
done
for i in 0 1 2; do
    until grep -q "Server is ready" "$run/nats-$(printf '\x'$((61 + i))).log"; do sleep 0.1; done
done

store_toml() { # FIRST_SERVER_PORT NAMESPACE [SHARDS]: the store, that site's server first
    local others
    others=$(for port in 14222 14223 14224; do [ "$port" = "$1" ] || printf ', "nats://127.0.0.1:%s"' "$port"; done)
    cat <<EOF
[store]
kind = "nats"

[store.nats]
servers = ["nats://127.0.0.1:$1"$others]
namespace = "$2"
replicas = 3
EOF
    if [ -n "${3:-}" ]; then
        echo "shards = $3"
        echo "pinned = { sim-a = 0, sim-b = $((1 % $3)), sim-c = $((2 % $3)) }"
    fi
}

client_msgs() { # messages the nodes have sent to the three servers and got from them
    local port total=0 count
    for port in 18222 18223 18224; do
        count=$(curl -sf "http://127.0.0.1:$port/connz?limit=1024" | python3 -c '
import json, sys
print(sum(c["in_msgs"] + c["out_msgs"] for c in json.load(sys.stdin)["connections"] or []))')
        total=$((total + count))
    done
    echo "$total"
}

sum_cpu() { # PID...: their CPU seconds together
    local total=0 pid
    for pid in "$@"; do total=$(awk "BEGIN { print $total + $(cpu_seconds "$pid") }"); done
    echo "$total"
}

export SMSGW_BENCH_PASSWORD=demo1234

run_case() { # NAMESPACE [SHARDS]: start the nodes on that store, bench them, stop them
    local namespace=$1 shards=${2:-} routes="" destinations=447700900001
    if [ -n "$shards" ]; then
        routes=$(sim_spread_toml 12776)
        destinations=447700900101,447700900201,447700900301
        echo "== $shards shard(s): connectors sim-a, sim-b, sim-c; destinations $destinations"
    fi
    node_toml a1 siteA 12775 18080 true "$(store_toml 14222 "$namespace" "$shards")" \
        "$routes" >"$run/a-$namespace.toml"
    "$smsgw" serve --config "$run/a-$namespace.toml" >"$run/a-$namespace.log" 2>&1 &
    pids+=($!)
    local node_pids=($!) node_https=(18080)
    if [ "$nodes" = 2 ]; then
        sleep 1
        node_toml b1 siteB 22775 28080 false "$(store_toml 14223 "$namespace" "$shards")" \
            "$routes" >"$run/b-$namespace.toml"
        "$smsgw" serve --config "$run/b-$namespace.toml" >"$run/b-$namespace.log" 2>&1 &
        pids+=($!)
        node_pids+=($!)
        node_https+=(28080)
    fi
    local port
    for port in "${node_https[@]}"; do
        until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
    done
    local nodes_before store_before nodes_cpu store_cpu
    nodes_before=$(sum_cpu "${node_pids[@]}")
    store_before=$(sum_cpu "${nats_pids[@]}")
    local msgs_before msgs
    msgs_before=$(client_msgs)
    "$smsgw" bench --smpp 127.0.0.1:12775 --count "$count" --binds "$binds" --window "$window" \
        --destination "$destinations" --gateway-pid "${node_pids[0]}" ${rate:+--rate "$rate"}
    nodes_cpu=$(awk "BEGIN { print $(sum_cpu "${node_pids[@]}") - $nodes_before }")
    store_cpu=$(awk "BEGIN { print $(sum_cpu "${nats_pids[@]}") - $store_before }")
    msgs=$(($(client_msgs) - msgs_before))
    echo "CPU seconds during the run: $nodes nodes $nodes_cpu, three nats-server $store_cpu" \
        "($(awk "BEGIN { printf \"%.0f\", $store_cpu * 1e6 / $count }") us of store CPU per MT)"
    echo "NATS messages between the nodes and the servers: $msgs" \
        "($(awk "BEGIN { printf \"%.1f\", $msgs / $count }") per MT)"
    local pid
    for pid in "${node_pids[@]}"; do kill "$pid"; done
    for pid in "${node_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

if [ -z "$shard_cases" ]; then
    run_case bench
else
    for shards in $shard_cases; do run_case "bench-s$shards" "$shards"; done
fi
