#!/usr/bin/env bash
# Issue 13 prototype: starts each candidate store on 127.0.0.1 (free ports, data under a
# mktemp dir), runs store-bench against it at each concurrency, and stops everything it
# started on exit. Prints markdown table rows (see proto/RESULTS.md) and the failover and
# feature findings.
#
#   proto/run.sh [nats] [pg] [redis]        (default: all)
#
# Environment: CONCURRENCY ("1 16 128"), SECONDS_PER_CASE (6, after 1 s of warmup),
# NATS_SERVER (nats-server: another binary, e.g. a newer one), NATS_CASES (all, in order),
# BENCH_LOCK (/work/ab/bench.lock: every measurement holds it, so no other benchmark runs at
# the same time; empty to skip), CARGO_TARGET_DIR.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
concurrency=${CONCURRENCY:-1 16 128}
seconds=${SECONDS_PER_CASE:-6}
lock=${BENCH_LOCK-/work/ab/bench.lock}
backends=${*:-nats pg redis}
nats_server=${NATS_SERVER:-nats-server}
nats_cases=${NATS_CASES:-kv-create kv-update kv-get publish take-done accept receipt features failover}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/store-bench/target}

nice -n 19 cargo build --quiet --manifest-path "$here/store-bench/Cargo.toml"
bench_bin=$CARGO_TARGET_DIR/debug/store-bench
clk_tck=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/store-bench.XXXXXX)
chmod 755 "$work"
started=()
pg_dirs=()
cleanup() {
    for dir in "${pg_dirs[@]}"; do
        runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$dir" -m immediate stop >/dev/null 2>&1 || true
    done
    for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

log() { echo "# $*" >&2; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One measurement, holding the lock so nothing else measures meanwhile.
measure() {
    if [[ -n $lock ]]; then
        nice -n 19 flock "$lock" "$bench_bin" "$@"
    else
        nice -n 19 "$bench_bin" "$@"
    fi
}

# Runs CASE at each concurrency: measure_all BACKEND CASE ARGS...
measure_all() {
    local backend=$1 case=$2
    shift 2
    for c in $concurrency; do
        measure "$backend" "$case" --concurrency "$c" --seconds "$seconds" --clk-tck "$clk_tck" "$@" ||
            echo "| $backend | $case | $c | FAILED |"
    done
}

wait_for() { # wait_for SECONDS COMMAND...: retries COMMAND until it succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >"$work/wait.out" 2>&1; do
        ((SECONDS < deadline)) || { log "timed out: $*: $(grep -v "^ *[0-9]*: \|^ *at " "$work/wait.out" | head -8)"; return 1; }
        sleep 0.2
    done
}

echo "| backend | case | concurrency | ops/s | p50 ms | p99 ms | server CPU us/op | errors |"
echo "|---|---|---|---|---|---|---|---|"

# --- NATS JetStream: three servers tagged site:a/b/c, TLS on client and route connections.
run_nats() {
    local dir=$work/nats
    mkdir -p "$dir"
    (
        cd "$dir"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -keyout ca.key -out ca.pem -subj /CN=store-bench-ca 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile ext -out server.pem 2>/dev/null
    )
    local user=smsgw password route_password
    password=$(openssl rand -hex 16)
    route_password=$(openssl rand -hex 16)
    local -A client_port route_port pid
    local names=(a b c)
    for name in "${names[@]}"; do
        client_port[$name]=$(free_port)
        route_port[$name]=$(free_port)
    done
    local routes=""
    for name in "${names[@]}"; do
        routes+="\"nats-route://route:$route_password@127.0.0.1:${route_port[$name]}\", "
    done
    local tls="cert_file: \"$dir/server.pem\", key_file: \"$dir/server.key\", ca_file: \"$dir/ca.pem\", timeout: 2"
    for name in "${names[@]}"; do
        cat >"$dir/$name.conf" <<CONF
server_name: "$name"
host: 127.0.0.1
port: ${client_port[$name]}
server_tags: ["site:$name"]
jetstream { store_dir: "$dir/data-$name", max_memory_store: 256MB, max_file_store: 4GB }
tls { $tls }
authorization { users: [ { user: "$user", password: "$password" } ] }
cluster {
  name: smsgw
  host: 127.0.0.1
  port: ${route_port[$name]}
  authorization { user: route, password: "$route_password", timeout: 2 }
  tls { $tls, verify: true }
  routes: [ $routes ]
}
CONF
        nice -n 19 "$nats_server" -c "$dir/$name.conf" -l "$dir/$name.log" &
        wait_for 10 test -s "$dir/$name.log"
        pid[$name]=$!
        started+=("${pid[$name]}")
    done
    local urls="" pids="" servers=""
    for name in "${names[@]}"; do
        urls+="tls://127.0.0.1:${client_port[$name]},"
        pids+="${pid[$name]},"
        servers+="$name:${pid[$name]},"
    done
    local conn=(--urls "$urls" --ca "$dir/ca.pem" --user "$user" --password "$password")
    # The meta leader is elected a few seconds after the routes are up.
    wait_for 60 "$bench_bin" nats setup "${conn[@]}" || {
        "$bench_bin" nats request "${conn[@]}" --subject '$JS.API.STREAM.INFO.KV_claims' --body '' >&2
        return 1
    }
    log "$("$nats_server" --version) x3, routes TLS+credentials, clients TLS+user/password"
    for case in $nats_cases; do
        case $case in
        features)
            measure nats features "${conn[@]}" --rss-pid "${pid[a]}" --dedupe-count 50000 | sed 's/^/# /' ;;
        failover) # last: it leaves one server dead
            measure nats failover "${conn[@]}" --concurrency 16 --seconds 20 --kill-after 5 \
                --servers "$servers" | sed 's/^/# /' ;;
        *) measure_all nats "$case" "${conn[@]}" --pids "$pids" --prefill 60000 ;;
        esac
    done
}

# --- PostgreSQL 15: a primary and a synchronous standby (ANY 1), both local.
run_pg() {
    local bin=/usr/lib/postgresql/15/bin dir=$work/pg primary_port standby_port
    mkdir -p "$dir"
    chown postgres "$dir"
    primary_port=$(free_port)
    standby_port=$(free_port)
    local as_pg=(runuser -u postgres --)
    "${as_pg[@]}" "$bin/initdb" -D "$dir/primary" -U bench --auth=trust >/dev/null
    cat >>"$dir/primary/postgresql.conf" <<CONF
port = $primary_port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
wal_level = replica
max_wal_senders = 4
synchronous_commit = on
synchronous_standby_names = 'ANY 1 (standby_b)'
shared_buffers = 256MB
CONF
    pg_dirs+=("$dir/primary")
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start >/dev/null
    "${as_pg[@]}" "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U bench -D "$dir/standby" -X stream -R
    cat >>"$dir/standby/postgresql.auto.conf" <<CONF
port = $standby_port
primary_conninfo = 'host=127.0.0.1 port=$primary_port user=bench application_name=standby_b'
CONF
    pg_dirs+=("$dir/standby")
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -w start >/dev/null
    local psql=(psql -h 127.0.0.1 -p "$primary_port" -U bench -d postgres -Atc)
    wait_for 30 bash -c "[[ \$(${psql[*]} \"select sync_state from pg_stat_replication\") == quorum ]]"
    log "PostgreSQL $("${psql[@]}" 'show server_version'): standby $("${psql[@]}" 'select application_name, sync_state from pg_stat_replication')"
    local pids
    pids="$(head -1 "$dir/primary/postmaster.pid"),$(head -1 "$dir/standby/postmaster.pid")"
    local conn=(--pg "host=127.0.0.1 port=$primary_port user=bench dbname=postgres")
    "$bench_bin" pg setup "${conn[@]}" >&2
    for case in get accept receipt take-done; do
        measure_all pg "$case" "${conn[@]}" --pids "$pids"
    done
}

start_redis() { # start_redis PORT [ARGS...]: prints nothing; records the pid
    local port=$1
    shift
    mkdir -p "$work/redis-$port"
    nice -n 19 redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly yes \
        --appendfsync everysec --dir "$work/redis-$port" --logfile "$work/redis-$port/log" "$@" &
    started+=("$!")
    wait_for 10 redis-cli -p "$port" ping
}

# --- Redis 7: a primary and one replica with WAIT 1; then a single Redis, no WAIT.
run_redis() {
    local primary replica single
    primary=$(free_port)
    replica=$(free_port)
    single=$(free_port)
    start_redis "$primary"
    local primary_pid=${started[-1]}
    start_redis "$replica" --replicaof 127.0.0.1 "$primary"
    local replica_pid=${started[-1]}
    wait_for 20 bash -c "redis-cli -p $replica info replication | grep -q master_link_status:up"
    log "$(redis-server --version | cut -d' ' -f1-3): primary + replica, WAIT 1"
    for case in accept receipt take-done; do
        measure_all redis "$case" --redis "redis://127.0.0.1:$primary" --replicas 1 --prefill 150000 \
            --pids "$primary_pid,$replica_pid"
    done
    start_redis "$single"
    local single_pid=${started[-1]}
    for case in accept receipt take-done; do
        measure_all redis "$case" --redis "redis://127.0.0.1:$single" --replicas 0 --prefill 150000 \
            --pids "$single_pid"
    done
}

for backend in $backends; do
    "run_$backend"
done
