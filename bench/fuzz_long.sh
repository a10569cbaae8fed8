#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Long fuzzing runs, for bench/RESULTS.md ("Fuzzing"): every libFuzzer target
# (or those named) for SECONDS each, one after the other, through
# tests/fuzz.sh with libFuzzer's final statistics, then one line per target
# with its executions and findings. Each target's corpus is kept in
# bench/out/fuzz/TARGET (seeded from tests/fuzz/corpus/ on first use), so a
# later run goes on from where this one stopped. Exits 1 on any finding;
# tests/fuzz.sh prints the crashing input's path.
#
#   bench/fuzz_long.sh SECONDS [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
    echo "usage: bench/fuzz_long.sh SECONDS [TARGET...]" >&2
    exit 2
fi
mkdir -p bench/out/fuzz
log=bench/out/fuzz_long-$(date -u +%Y%m%dT%H%M%SZ).log
echo "fuzz_long: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
     "$(clang --version | head -1); log: $log"
status=0
FUZZ_CORPUS_DIR=$PWD/bench/out/fuzz FUZZ_JOBS=1 bash tests/fuzz.sh "$@" 2>&1 | tee "$log" ||
    status=$?
echo "== executions per target ($1 s each)"
grep '^fuzz: .* executions' "$log" || true
exit "$status"
