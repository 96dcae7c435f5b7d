#!/usr/bin/env bash
# Full-cycle benchmark of two smsgw nodes sharing one Redis, everything on this machine:
# a private redis-server, node A (with the built-in carrier simulator) and node B, then
# `smsgw bench` bound to node A. Prints the bench's figures and the Redis commands per MT.
#
#   bash scripts/bench-redis.sh [COUNT] [BINDS] [WINDOW] [RATE]
#
# Uses target/release/smsgw (built with `cargo build --release` if missing or SMSGW_BUILD=1;
# SMSGW_BIN overrides); logs are copied to /tmp/bench-redis-*.log at the end.
# Ports: Redis 16379, node A 12775/18080, simulator 12776, node B 22775/28080.
set -euo pipefail

count=${1:-50000}
binds=${2:-4}
window=${3:-64}
rate=${4:-}

source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh" bench-redis

redis-server --port 16379 --dir "$run" --save "" --appendonly no --daemonize no \
    --logfile "$run/redis.log" &
pids+=($!)
until redis-cli -p 16379 ping >/dev/null 2>&1; do sleep 0.1; done

store_toml='[store]
kind = "redis"

[store.redis]
url = "redis://127.0.0.1:16379/0"
key_prefix = "bench:"'
node_config() { node_toml "$@" "$store_toml"; }

export SMSGW_BENCH_PASSWORD=demo1234
node_config a1 siteA 12775 18080 true >"$run/a.toml"
node_config b1 siteB 22775 28080 false >"$run/b.toml"
"$smsgw" serve --config "$run/a.toml" >"$run/a.log" 2>&1 &
pids+=($!)
node_a=$!
sleep 1
"$smsgw" serve --config "$run/b.toml" >"$run/b.log" 2>&1 &
pids+=($!)
node_b=$!
for port in 18080 28080; do
    until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
done

redis_pid=$(redis-cli -p 16379 info server | awk -F: '/^process_id/ { print $2 }' | tr -d '\r')
before=("$(cpu_seconds "$node_a")" "$(cpu_seconds "$node_b")" "$(cpu_seconds "$redis_pid")")
redis-cli -p 16379 config resetstat >/dev/null
if [ -n "${SMSGW_PERF:-}" ]; then # profile node A, node B and Redis into $SMSGW_PERF.{a,b,redis}
    perf record -F 499 -g -o "$SMSGW_PERF.a" -p "$node_a" >/dev/null 2>&1 &
    pids+=($!)
    perf record -F 499 -g -o "$SMSGW_PERF.b" -p "$node_b" >/dev/null 2>&1 &
    pids+=($!)
    perf record -F 499 -g -o "$SMSGW_PERF.redis" -p "$redis_pid" >/dev/null 2>&1 &
    pids+=($!)
    sleep 1
fi
"$smsgw" bench --smpp 127.0.0.1:12775 --count "$count" --binds "$binds" --window "$window" \
    --gateway-pid "$node_a" ${rate:+--rate "$rate"}
commands=$(redis-cli -p 16379 info commandstats |
    awk -F'[=,:]' '/^cmdstat_/ { total += $3 } END { print total }')
echo "redis commands: $commands ($(awk "BEGIN { printf \"%.1f\", $commands / $count }") per MT)"
echo "busiest commands (Redis time, including those run inside scripts):"
redis-cli -p 16379 info commandstats |
    awk -F'[=,:]' -v n="$count" '/^cmdstat_/ {
        printf "  %-20s %7.2f calls/MT %9.0f us total\n", substr($1, 9), $3 / n, $5 }' |
    sort -k4 -n -r | head -12
after=("$(cpu_seconds "$node_a")" "$(cpu_seconds "$node_b")" "$(cpu_seconds "$redis_pid")")
echo "CPU seconds during the run: node A $(awk "BEGIN { print ${after[0]} - ${before[0]} }")," \
    "node B $(awk "BEGIN { print ${after[1]} - ${before[1]} }")," \
    "redis $(awk "BEGIN { print ${after[2]} - ${before[2]} }")"
