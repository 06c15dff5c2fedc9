#!/bin/sh
# Instructions per append, rung by rung (the `postgres-append` section's ladder), counted by
# callgrind in a single-user backend: no other load on the machine changes them.
#   usage: append-callgrind.sh <inputs dir> <data dir>
# <inputs dir>: written by `EVCO_BENCH_APPEND_SINGLE_USER=<dir> pnpm bench postgres-append`;
# <data dir>: a cluster of its own, stopped (initdb -D <data dir> -U postgres), owned by the user
# this runs as (postgres refuses root: run it with `su postgres -c`).
set -eu
inputs=$1
data=$2
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
out=$(mktemp -d)
for small in "$inputs"/*-100.sql; do
  rung=$(basename "$small" -100.sql)
  total() {
    valgrind --tool=callgrind --callgrind-out-file="$out/$rung-$1.out" \
      "$bin/postgres" --single -D "$data" -c fsync=off postgres < "$inputs/$rung-$1.sql" > "$out/$rung-$1.log" 2>&1
    sed -n 's/^totals: //p' "$out/$rung-$1.out"
  }
  a=$(total 100)
  b=$(total 600)
  echo "$rung $(( (b - a) / 500 ))"
done
rm -rf "$out"
