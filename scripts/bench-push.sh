#!/usr/bin/env bash
# Receipts pushed versus receipts on SMPP binds, same gateway, same run: nginx answering 200
# at once (a fast receiver), one smsgw (embedded store, built-in carrier simulator) with two
# accounts: `binds`, whose receipts go to its SMPP binds, and `push`, whose receipts are pushed
# (form) to nginx. `smsgw bench` runs the full cycle for `binds`, then for `push` (counting
# receipts the receiver took, from /metrics on the admin listener), and the ratio of the two is printed.
#
#   bash scripts/bench-push.sh [COUNT] [BINDS] [WINDOW] [CONCURRENCY]
#
# COUNT MTs per account (default 50000), BINDS binds with WINDOW submits each (4, 64), and the
# push account's concurrency (default: the gateway's default). Uses target/release/smsgw
# (built with `cargo build --release` if missing or SMSGW_BUILD=1; SMSGW_BIN overrides).
# Ports are picked free on 127.0.0.1; nginx's config, the gateway's config, data and logs
# live in a temp dir, and the logs are copied to /tmp/bench-push-*.log at the end.
set -euo pipefail

count=${1:-50000}
binds=${2:-4}
window=${3:-64}
concurrency=${4:-}

source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh" bench-push
receiver_port=$(free_port)
smpp_port=$(free_port)
http_port=$(free_port)
admin_port=$(free_port)
sim_port=$(free_port)

start_nginx "$receiver_port"

cat >"$run/smsgw.toml" <<EOF
node_id = "bench"
data_dir = "$run/data"

[listeners]
smpp = "127.0.0.1:$smpp_port"
http = "127.0.0.1:$http_port"

[admin]
listen = "127.0.0.1:$admin_port"

[simulator]
enabled = true
listen = "127.0.0.1:$sim_port"

[[accounts]]
system_id = "binds"
password_env = "SMSGW_BENCH_PASSWORD"
max_binds = 64

[[accounts]]
system_id = "push"
password_env = "SMSGW_BENCH_PASSWORD"
max_binds = 64
[accounts.push]
url = "http://127.0.0.1:$receiver_port/push"
format = "form"
allow_private_targets = ["127.0.0.1"]
${concurrency:+concurrency = $concurrency}

$(sim_route_toml "$sim_port")
EOF

export SMSGW_BENCH_PASSWORD=bench123
"$smsgw" serve --config "$run/smsgw.toml" >"$run/smsgw.log" 2>&1 &
pids+=($!)
gateway=$!
until curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null; do sleep 0.2; done

bench() { # ACCOUNT [--push ADMIN_ADDR]
    local account=$1
    shift
    "$smsgw" bench --smpp "127.0.0.1:$smpp_port" --system-id "$account" --count "$count" \
        --binds "$binds" --window "$window" --gateway-pid "$gateway" "$@" | tee "$run/$account.out"
}
full_cycle() { # ACCOUNT: DR/s full cycle from its bench output
    awk '/DR\/s full cycle/ { for (i = 1; i < NF; i++) if ($(i + 1) == "DR/s") print $i }' \
        "$run/$1.out"
}

echo "== receipts on SMPP binds (account binds)"
bench binds
echo "== receipts pushed to nginx at 127.0.0.1:$receiver_port (account push)"
bench push --push "127.0.0.1:$admin_port"
on_binds=$(full_cycle binds)
pushed=$(full_cycle push)
echo "DR/s full cycle: binds $on_binds, push $pushed;" \
    "push/binds = $(awk "BEGIN { printf \"%.1f %%\", 100 * $pushed / $on_binds }")"
