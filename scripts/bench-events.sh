#!/usr/bin/env bash
# The event log's cost: the full cycle (`smsgw bench`, SMPP, receipts on) of one node on the
# embedded store with the built-in simulator, with no event log (`off`), with every event to
# PostgreSQL (`postgres`) and, to tell the gateway's own cost from PostgreSQL's CPU on the
# same machine, with every event to an NDJSON file (`file`), alternated ROUNDS times in one
# run. PostgreSQL is a private server with its default durability (fsync on). After each
# `postgres` run it also reports how long the event log took to catch up (every MT's `final`
# event in PostgreSQL) after the bench ended, and the CPU the node and PostgreSQL used.
#
#   [CASES="off postgres file"] bash scripts/bench-events.sh [COUNT] [ROUNDS]
#
# Needs the postgresql package (initdb and postgres in /usr/lib/postgresql/<version>/bin) and
# psql. Ports: node 12775/18080, simulator 12776, PostgreSQL 15432.
set -euo pipefail

count=${1:-50000}
rounds=${2:-3}
cases=${CASES:-off postgres file}

source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh" bench-events

pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_postgres=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$run"
    as_postgres=(runuser -u postgres --)
fi
"${as_postgres[@]}" "$pg_bin/initdb" -U postgres --auth=trust -D "$run/pg" >/dev/null
"${as_postgres[@]}" "$pg_bin/postgres" -D "$run/pg" -p 15432 -k "$run" \
    -c listen_addresses=127.0.0.1 >"$run/postgres.log" 2>&1 &
pids+=($!)
pg_stop() { "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$run/pg" stop -m immediate >/dev/null 2>&1 || true; }
trap 'pg_stop; bench_cleanup' EXIT
pg_url="postgres://postgres@127.0.0.1:15432/postgres"
until psql "$pg_url" -c 'select 1' >/dev/null 2>&1; do sleep 0.2; done
pg_cpu() { # CPU seconds of every PostgreSQL process so far (the server and its backends)
    local total=0 pid
    for pid in $(pgrep -f "postgres: |$pg_bin/postgres" || true); do
        total=$(awk -v t="$total" -v s="$(cpu_seconds "$pid" 2>/dev/null || echo 0)" 'BEGIN { print t + s }')
    done
    echo "$total"
}
finals() { psql "$pg_url" -tAc "select count(*) from smsgw_events where kind = 'final'" 2>/dev/null || echo 0; }

events_toml="[events]
[[events.sinks]]
kind = \"postgres\"
url = \"$pg_url\""

export SMSGW_BENCH_PASSWORD=demo1234
one_run() { # CASE (off|on) ROUND
    local dir="$run/$1-$2"
    mkdir -p "$dir"
    local extra=""
    [ "$1" = postgres ] && extra=$events_toml
    [ "$1" = file ] && extra="[events]
[[events.sinks]]
kind = \"file\"
path = \"$dir/events.ndjson\""

    node_toml "n$2" bench 12775 18080 true "" | sed "s|data_dir = .*|data_dir = \"$dir\"|" \
        >"$dir/node.toml"
    echo "$extra" >>"$dir/node.toml"
    "$smsgw" serve --config "$dir/node.toml" >"$dir/serve.log" 2>&1 &
    local node=$!
    until curl -sf http://127.0.0.1:18080/readyz >/dev/null; do sleep 0.2; done
    local before_finals
    before_finals=$(finals)
    local before after pg_before
    before=$(cpu_seconds "$node")
    pg_before=$(pg_cpu)
    echo "== $1 round $2"
    "$smsgw" bench --smpp 127.0.0.1:12775 --count "$count" --binds 4 --window 64 \
        --gateway-pid "$node"
    after=$(cpu_seconds "$node")
    echo "CPU seconds during the run: node $(awk "BEGIN { print $after - $before }")"
    if [ "$1" = postgres ]; then
        local start=$SECONDS
        until [ "$(( $(finals) - before_finals ))" -ge "$count" ]; do
            if [ $((SECONDS - start)) -gt 300 ]; then echo "event log: not caught up in 300 s"; break; fi
            sleep 0.5
        done
        echo "event log caught up $((SECONDS - start)) s after the bench ended" \
            "($(( $(finals) - before_finals )) final events)"
        echo "node CPU seconds until caught up: $(awk "BEGIN { print $(cpu_seconds "$node") - $before }")," \
            "PostgreSQL $(awk "BEGIN { print $(pg_cpu) - $pg_before }")"
    fi
    kill "$node"
    wait "$node" 2>/dev/null || true
    rm -rf "$dir"
}

for round in $(seq 1 "$rounds"); do
    for case in $cases; do
        one_run "$case" "$round"
    done
done
echo "rows: $(psql "$pg_url" -tAc 'select count(*) from smsgw_events')"
