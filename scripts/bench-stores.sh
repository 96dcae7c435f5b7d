#!/usr/bin/env bash
# The store backends side by side, in one run on this machine, each with the same client
# (`smsgw bench --binds 4 --window 64`): the embedded store (one node on `smsgw serve`'s
# defaults), Redis (two nodes, scripts/bench-redis.sh), NATS JetStream R3 over three servers
# with one node and with two nodes in two sites (scripts/bench-nats.sh), and NATS with one
# and with three shards (SHARDS="1 3"). Prints each case's summary lines; the whole output
# of each script goes to /tmp/bench-stores-CASE.out.
#
#   bash scripts/bench-stores.sh [COUNT] [NATS_COUNT]
#
# COUNT (default 50000) for the embedded and Redis cases, NATS_COUNT (default 20000) for the
# NATS ones, which are slower. Needs redis-server and nats-server like the scripts it calls.
set -euo pipefail

count=${1:-50000}
nats_count=${2:-20000}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
export SMSGW_BIN=${SMSGW_BIN:-$target/release/smsgw}
[ -x "$SMSGW_BIN" ] || cargo build --release --bin smsgw

summary() { # CASE: the figures of that case's output
    echo "== $1"
    grep -iE 'submitted|receipts on binds|CPU seconds|redis commands:|NATS messages|== ' \
        "/tmp/bench-stores-$1.out" || true
}

embedded() {
    local dir pid
    dir=$(mktemp -d /tmp/smsgw-bench-stores.XXXXXX)
    (cd "$dir" && exec "$SMSGW_BIN" serve >"$dir/serve.log" 2>&1) &
    pid=$!
    until curl -sf http://127.0.0.1:8080/readyz >/dev/null; do sleep 0.2; done
    local before after
    before=$(awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$pid/stat")
    "$SMSGW_BIN" bench --count "$count" --binds 4 --window 64 --gateway-pid "$pid"
    after=$(awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$pid/stat")
    echo "CPU seconds during the run: node $(awk "BEGIN { print $after - $before }")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}

embedded >/tmp/bench-stores-embedded.out 2>&1
summary embedded
bash scripts/bench-redis.sh "$count" 4 64 >/tmp/bench-stores-redis2.out 2>&1
summary redis2
NODES=1 bash scripts/bench-nats.sh "$nats_count" 4 64 >/tmp/bench-stores-nats1.out 2>&1
summary nats1
NODES=2 bash scripts/bench-nats.sh "$nats_count" 4 64 >/tmp/bench-stores-nats2.out 2>&1
summary nats2
SHARDS="1 3" NODES=1 bash scripts/bench-nats.sh "$nats_count" 4 64 \
    >/tmp/bench-stores-shards.out 2>&1
summary shards
