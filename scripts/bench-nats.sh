#!/usr/bin/env bash
# Full-cycle benchmark on the NATS JetStream store, everything on this machine: three
# nats-server in one JetStream cluster (tags site:a, site:b, site:c; the store's stream has a
# copy on each), node A (with the built-in carrier simulator) and, with NODES=2, node B in
# another site, then `smsgw bench` bound to node A. Prints the bench's figures and the CPU
# seconds of the nodes and of the three servers together (store CPU per MT).
#
#   NODES=1|2 bash scripts/bench-nats.sh [COUNT] [BINDS] [WINDOW] [RATE]
#
# nats-server: SMSGW_NATS_SERVER, else .venv/bin/nats-server (scripts/test.sh installs it),
# else the one on PATH. Uses target/release/smsgw like the other bench scripts (SMSGW_BIN
# overrides); logs are copied to /tmp/bench-nats-*.log at the end.
# Ports: NATS 14222-14224 (routes 16222-16224), node A 12775/18080, simulator 12776,
# node B 22775/28080.
set -euo pipefail

count=${1:-20000}
binds=${2:-4}
window=${3:-64}
rate=${4:-}
nodes=${NODES:-1}

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

store_toml() { # FIRST_SERVER_PORT: the store, that site's server first
    local others
    others=$(for port in 14222 14223 14224; do [ "$port" = "$1" ] || printf ', "nats://127.0.0.1:%s"' "$port"; done)
    cat <<EOF
[store]
kind = "nats"

[store.nats]
servers = ["nats://127.0.0.1:$1"$others]
namespace = "bench"
replicas = 3
EOF
}

export SMSGW_BENCH_PASSWORD=demo1234
node_toml a1 siteA 12775 18080 true "$(store_toml 14222)" >"$run/a.toml"
"$smsgw" serve --config "$run/a.toml" >"$run/a.log" 2>&1 &
pids+=($!)
node_pids=($!)
node_https=(18080)
if [ "$nodes" = 2 ]; then
    sleep 1
    node_toml b1 siteB 22775 28080 false "$(store_toml 14223)" >"$run/b.toml"
    "$smsgw" serve --config "$run/b.toml" >"$run/b.log" 2>&1 &
    pids+=($!)
    node_pids+=($!)
    node_https+=(28080)
fi
for port in "${node_https[@]}"; do
    until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
done

sum_cpu() { # PID...: their CPU seconds together
    local total=0 pid
    for pid in "$@"; do total=$(awk "BEGIN { print $total + $(cpu_seconds "$pid") }"); done
    echo "$total"
}
nodes_before=$(sum_cpu "${node_pids[@]}")
store_before=$(sum_cpu "${nats_pids[@]}")
"$smsgw" bench --smpp 127.0.0.1:12775 --count "$count" --binds "$binds" --window "$window" \
    --gateway-pid "${node_pids[0]}" ${rate:+--rate "$rate"}
nodes_cpu=$(awk "BEGIN { print $(sum_cpu "${node_pids[@]}") - $nodes_before }")
store_cpu=$(awk "BEGIN { print $(sum_cpu "${nats_pids[@]}") - $store_before }")
echo "CPU seconds during the run: $nodes nodes $nodes_cpu, three nats-server $store_cpu" \
    "($(awk "BEGIN { printf \"%.0f\", $store_cpu * 1e6 / $count }") us of store CPU per MT)"
