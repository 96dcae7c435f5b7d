#!/usr/bin/env bash
# The HTTP MT path against the SMPP one and against Kannel's sendsms, in one run on this
# machine: gateway CPU per MT accepted over SMPP (`smsgw bench --no-receipts`) and over the
# Genesys receiver (wrk, a unique message_id per request, receipt=FALSE), and MTs accepted
# per second by each. With Kannel installed (Debian package `kannel`), the same wrk load goes
# to Kannel's sendsms, Kannel bound to a carrier simulator of its own, as the baseline; then
# Kannel again as the issue measured it, DLRs asked for (to nginx) over 100 connections.
#
#   bash scripts/bench-http.sh [SMPP_COUNT] [WRK_SECONDS] [WRK_CONNECTIONS] [ROUNDS]
#
# SMPP runs as 4 binds x window 64 (the usual bench), and as one bind with a window of
# WRK_CONNECTIONS, the HTTP load's concurrency, alternated with the HTTP load ROUNDS times
# (default 3; the median round is reported) (group commit shares an fsync among the writes
# in flight, so the cost per MT depends on it). Uses target/release/smsgw (built if missing or
# SMSGW_BUILD=1; SMSGW_BIN overrides). Ports: gateway 32775/38080, its simulator 32776,
# Kannel's simulator 32777, Kannel 33000/33001/33013.
set -euo pipefail

count=${1:-100000}
seconds=${2:-15}
connections=${3:-50}
rounds=${4:-3}

source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh" bench-http
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 2; }

wait_port() { # PORT
    for _ in $(seq 100); do
        (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}
calc() { awk "BEGIN { print $1 }"; }
# CPU seconds (user + system) a process has used so far.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"
}

cat >"$run/smsgw.toml" <<TOML
node_id = "bench"
site = "local"
data_dir = "$run/data"

[listeners]
smpp = "127.0.0.1:32775"
http = "127.0.0.1:38080"

[admin]
listen = "127.0.0.1:38090"

[simulator]
enabled = true
listen = "127.0.0.1:32776"

[[accounts]]
system_id = "demo"
password_env = "SMSGW_BENCH_PASSWORD"
max_binds = 64

$(sim_route_toml 32776)
TOML
export SMSGW_BENCH_PASSWORD=demo1234
"$smsgw" serve --config "$run/smsgw.toml" >"$run/gateway.log" 2>&1 &
gateway=$!
pids+=("$gateway")
until curl -sf http://127.0.0.1:38080/readyz >/dev/null; do sleep 0.2; done

# smpp_phase NAME BINDS WINDOW: sets NAME_ok, NAME_rate, NAME_cpu.
smpp_phase() {
    echo "== SMPP: $count MTs, no receipts (smsgw bench, $2 binds, window $3)"
    local before
    before=$(cpu_s "$gateway")
    "$smsgw" bench --smpp 127.0.0.1:32775 --count "$count" --binds "$2" --window "$3" \
        --no-receipts | tee "$run/$1.txt"
    printf -v "$1_cpu" '%s' "$(calc "$(cpu_s "$gateway") - $before")"
    printf -v "$1_ok" '%s' "$(awk '/submitted/ { print $2 }' "$run/$1.txt")"
    printf -v "$1_rate" '%s' "$(awk '/submitted/ { print $(NF-1) }' "$run/$1.txt")"
}
smpp_phase smpp 4 64

body='login=demo&password=demo1234&phone_number=447700900001&sender=DEMO&message=smsgw%20bench%3A%20a%20message%20of%20a%20typical%20length%2C%20around%20sixty%20chars&message_id={id}&receipt=FALSE'
# http_phase: sets http_ok, http_rate, http_cpu.
http_phase() {
    echo "== HTTP: wrk -c$connections for ${seconds}s, unique message_id, receipt=FALSE"
    local before
    before=$(cpu_s "$gateway")
    WRK_BODY=$body wrk -t2 -c"$connections" -d"${seconds}s" -s scripts/wrk/unique-post.lua \
        http://127.0.0.1:38080/httpapi/receiver | tee "$run/http.txt"
    http_cpu=$(calc "$(cpu_s "$gateway") - $before")
    http_ok=$(awk '/^answers:/ { print $2 }' "$run/http.txt")
    http_rate=$(calc "$http_ok / $seconds")
}

# SMPP at the HTTP load's concurrency and HTTP, alternated ROUNDS times: a machine's noise
# (another process, the page cache) moves single runs by 10 %, so the ratio reported is the
# median round's, with every round listed.
rounds_log=()
round_ratios=()
for round in $(seq "$rounds"); do
    smpp_phase smpp_same "1" "$connections"
    http_phase
    ratio=$(calc "($http_cpu / $http_ok) / ($smpp_same_cpu / $smpp_same_ok)")
    round_ratios+=("$ratio $round")
    rounds_log+=("$(printf '  round %d: SMPP 1x%s %6.1f us/MT (%5.0f MT/s), HTTP c%s %6.1f us/MT (%5.0f MT/s): %.2fx' \
        "$round" "$connections" "$(calc "$smpp_same_cpu * 1000000 / $smpp_same_ok")" "$smpp_same_rate" \
        "$connections" "$(calc "$http_cpu * 1000000 / $http_ok")" "$http_rate" "$ratio")")
    printf -v "round_${round}" '%s' "$smpp_same_cpu $smpp_same_ok $smpp_same_rate $http_cpu $http_ok $http_rate"
done
median_round=$(printf '%s\n' "${round_ratios[@]}" | sort -n | awk '{ r[NR] = $2 } END { print r[int((NR + 1) / 2)] }')
median_var="round_${median_round}"
read -r smpp_same_cpu smpp_same_ok smpp_same_rate http_cpu http_ok http_rate <<<"${!median_var}"

kannel_rate=""
if command -v bearerbox >/dev/null && command -v smsbox >/dev/null; then
    echo "== Kannel sendsms: the same wrk load, Kannel bound to a carrier simulator"
    "$smsgw" carrier-sim --listen 127.0.0.1:32777 >"$run/kannel-sim.log" 2>&1 &
    pids+=($!)
    wait_port 32777
    mkdir -p "$run/kannel"
    cat >"$run/kannel/kannel.conf" <<CONF
group = core
admin-port = 33000
admin-interface = 127.0.0.1
admin-password = admin
status-password = status
admin-allow-ip = "127.0.0.1"
smsbox-port = 33001
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
dlr-storage = internal
log-file = "$run/kannel/bearerbox.log"
log-level = 2
store-type = file
store-location = "$run/kannel/kannel.store"

group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = 32777
transceiver-mode = true
smsc-username = "kannel"
smsc-password = "kannel"
system-type = ""
max-pending-submits = 100
reconnect-delay = 5

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = 33001
sendsms-port = 33013
sendsms-interface = 127.0.0.1
log-file = "$run/kannel/smsbox.log"
log-level = 2
max-pending-requests = 2048

group = sendsms-user
username = tester
password = foobar
max-messages = 1
CONF
    bearerbox "$run/kannel/kannel.conf" >"$run/kannel/bearerbox.out" 2>&1 &
    pids+=($!)
    wait_port 33001
    smsbox "$run/kannel/kannel.conf" >"$run/kannel/smsbox.out" 2>&1 &
    pids+=($!)
    wait_port 33013
    for _ in $(seq 50); do
        curl -s 'http://127.0.0.1:33000/status.txt?password=status' | grep -q online && break
        sleep 0.2
    done
    kannel_body='username=tester&password=foobar&from=12345&to=447700900001&text=smsgw%20bench%3A%20a%20message%20of%20a%20typical%20length%2C%20around%20sixty%20chars&id={id}'
    WRK_METHOD=GET WRK_BODY=$kannel_body wrk -t2 -c"$connections" -d"${seconds}s" \
        -s scripts/wrk/unique-post.lua http://127.0.0.1:33013/cgi-bin/sendsms | tee "$run/kannel.txt"
    kannel_ok=$(awk '/^answers:/ { print $2 }' "$run/kannel.txt")
    kannel_rate=$(calc "$kannel_ok / $seconds")

    # The baseline the issue measured Kannel with: DLRs asked for (every state, to a fast
    # receiver) and 100 connections.
    dlr_port=$(free_port)
    start_nginx "$dlr_port"
    echo "== Kannel sendsms with DLRs (dlr-mask=31, dlr-url to nginx), wrk -c100"
    dlr_url="http%3A%2F%2F127.0.0.1%3A$dlr_port%2Fdlr%3Fid%3D{id}%26type%3D%25d"
    WRK_METHOD=GET WRK_BODY="$kannel_body&dlr-mask=31&dlr-url=$dlr_url" wrk -t2 -c100 \
        -d"${seconds}s" -s scripts/wrk/unique-post.lua http://127.0.0.1:33013/cgi-bin/sendsms \
        | tee "$run/kannel-dlr.txt"
    kannel_dlr_ok=$(awk '/^answers:/ { print $2 }' "$run/kannel-dlr.txt")
    kannel_dlr_rate=$(calc "$kannel_dlr_ok / $seconds")
else
    echo "== Kannel not installed (apt-get install kannel): no sendsms baseline"
fi

echo
echo "== Summary (same run)"
per_mt() { calc "$1 * 1000000 / $2"; }
printf '%s\n' "${rounds_log[@]}"
echo "  (median round: $median_round)"
printf '  SMPP 4x64   %8d MTs  %8.0f MT/s  gateway CPU %6.1f us/MT\n' "$smpp_ok" "$smpp_rate" \
    "$(per_mt "$smpp_cpu" "$smpp_ok")"
printf '  SMPP 1x%-4s %8d MTs  %8.0f MT/s  gateway CPU %6.1f us/MT\n' "$connections" \
    "$smpp_same_ok" "$smpp_same_rate" "$(per_mt "$smpp_same_cpu" "$smpp_same_ok")"
printf '  HTTP c%-5s %8d MTs  %8.0f MT/s  gateway CPU %6.1f us/MT\n' "$connections" "$http_ok" \
    "$http_rate" "$(per_mt "$http_cpu" "$http_ok")"
printf '  HTTP/SMPP CPU per MT: %.2fx (4x64), %.2fx (same concurrency)\n' \
    "$(calc "($http_cpu / $http_ok) / ($smpp_cpu / $smpp_ok)")" \
    "$(calc "($http_cpu / $http_ok) / ($smpp_same_cpu / $smpp_same_ok)")"
if [ -n "$kannel_rate" ]; then
    printf '  Kannel sendsms %8.0f MT/s; smsgw HTTP / Kannel: %.2fx\n' "$kannel_rate" \
        "$(calc "$http_rate / $kannel_rate")"
    printf '  Kannel sendsms with DLRs, c100 %8.0f MT/s; smsgw HTTP / Kannel: %.2fx\n' \
        "$kannel_dlr_rate" "$(calc "$http_rate / $kannel_dlr_rate")"
fi
