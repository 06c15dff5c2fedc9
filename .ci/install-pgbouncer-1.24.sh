#!/usr/bin/env bash
# PgBouncer 1.24 for the store-postgres tests that run through a modern transaction pooler
# (protocol-level prepared statements, 1.21+; track_extra_parameters, 1.20). Debian bookworm ships
# 1.18 and trixie's 1.24 binary needs a newer glibc, so this builds the `pgbouncer` binary from
# trixie's source package with bookworm's libraries and installs only that binary at
# $PREFIX/bin/pgbouncer (default /opt/pgbouncer-1.24). Idempotent: does nothing when a 1.24+
# binary is already there. Needs root (apt) and Debian's mirrors; takes ~1-2 min once per machine.
# The tests find the binary through EVCO_PGBOUNCER_124 (default: that path) and fail saying how to
# get it when it is missing.
set -euo pipefail

PREFIX="${EVCO_PGBOUNCER_124_PREFIX:-/opt/pgbouncer-1.24}"
BIN="$PREFIX/bin/pgbouncer"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -Eq '^PgBouncer 1\.(2[1-9]|[3-9][0-9])'; then
  exit 0
fi

# trixie's source index only (deb-src adds no installable binaries to the system).
SRC_LIST=/etc/apt/sources.list.d/evco-trixie-src.sources
if ! apt-cache showsrc pgbouncer 2>/dev/null | grep -Eq '^Version: 1\.2[4-9]'; then
  if [ ! -f "$SRC_LIST" ]; then
    cat >"$SRC_LIST" <<'SOURCES'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
SOURCES
  fi
  apt-get update
fi

# Build dependencies, all from bookworm.
apt-get install -y --no-install-recommends dpkg-dev gcc make pkg-config libevent-dev libc-ares-dev libssl-dev

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
apt-get source --download-only pgbouncer/trixie
dpkg-source --no-check -x pgbouncer_*.dsc src >/dev/null
cd src
./configure --prefix="$PREFIX" --without-systemd --with-cares --with-openssl >/dev/null
make -j"$(nproc)" pgbouncer >/dev/null
install -D -m 0755 pgbouncer "$BIN"
"$BIN" --version
