#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# malformed_cpu.sh: what a malformed request costs ahead-serve, in the
# server's own CPU time (issue 15, section 4), and whether normal clients
# notice 10^5 of them.
#
# One event loop pinned to CPU 1, the clients (wrk, C) on CPU 0; the
# es-ngrams snapshot, default options. The server's CPU time is the sum of
# its threads' run time from /proc/PID/task/*/schedstat (nanoseconds), read
# before and after each phase:
#   A. normal clients alone (bench/prefixes.lua, -c32) for SECONDS: CPU per
#      normal request;
#   B. malformed requests alone (bench/malformed.lua, -c8) for SECONDS: CPU
#      per malformed request, counted by wrk (answered or closed);
#   C. both at once for SECONDS, until at least 10^5 malformed requests:
#      the normal clients must get no non-2xx and no socket error, and
#      nobody a 5xx.
# Prints each phase's figures; exit 1 on a failed check of C.
#
# Usage: bench/malformed_cpu.sh [BUILD_DIR]   Environment: SECONDS_EACH [10]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
EACH=${SECONDS_EACH:-10}
DATA=$ROOT/data/es-ngrams.tsv.gz
CLIENT_CPU=() SERVER_CPU=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    CLIENT_CPU=(taskset -c 0) SERVER_CPU=(taskset -c 1)
fi
WORK=$(mktemp -d /tmp/ahead-malformed-XXXXXX)
SERVE_PID=''
cleanup() {
    [ -z "$SERVE_PID" ] || kill "$SERVE_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "malformed_cpu.sh: FAILED: $*" >&2
    exit 1
}

"$BUILD/ahead-build" --quiet "$DATA" -o "$WORK/es.snap"
zcat "$DATA" | cut -f1 | LC_ALL=C grep '^[a-z0-9 ]*$' |
    awk 'n < 20000 { for (i = 1; i <= length($0) && i <= 6; i++) { print substr($0, 1, i); n++ } }' \
        >"$WORK/prefixes.txt"
"${SERVER_CPU[@]}" "$BUILD/ahead-serve" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --threads 1 "$WORK/es.snap" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do
    grep -q "ahead-serve: ready" "$WORK/serve.log" && break
    sleep 0.1
done
PORT=$(sed -n 's/^ahead-serve: listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/serve.log")
ADMIN=$(sed -n 's/^ahead-serve: admin listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/serve.log")
[ -n "$PORT" ] || fail "the server did not start: $(cat "$WORK/serve.log")"

cpu_ns() { cat /proc/"$SERVE_PID"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f", s }'; }
normal() { # SECONDS OUT
    "${CLIENT_CPU[@]}" wrk -t1 -c32 -d"$1s" --timeout 10s -s "$ROOT/bench/prefixes.lua" \
        "http://127.0.0.1:$PORT" -- "$WORK/prefixes.txt" /v1/complete 10 >"$2"
}
malformed() { # SECONDS OUT
    "${CLIENT_CPU[@]}" wrk -t1 -c8 -d"$1s" --timeout 10s -s "$ROOT/bench/malformed.lua" \
        "http://127.0.0.1:$PORT" >"$2"
}
field() { sed -n "s/.*[ ]$2=\([0-9]*\).*/\1/p" "$1"; }
per_request() { awk -v ns="$1" -v n="$2" 'BEGIN { printf "%.2f", ns / n / 1000 }'; }

normal 3 /dev/null # warm-up: the snapshot's pages, the allocator

c0=$(cpu_ns)
normal "$EACH" "$WORK/a.txt"
c1=$(cpu_ns)
a_req=$(sed -n 's/^PREFIXES requests=\([0-9]*\).*/\1/p' "$WORK/a.txt")
echo "A. normal alone: $a_req requests in ${EACH}s, server CPU $(per_request $((c1 - c0)) "$a_req") us per request"

c0=$(cpu_ns)
malformed "$EACH" "$WORK/b.txt"
c1=$(cpu_ns)
b_req=$(sed -n 's/^MALFORMED requests=\([0-9]*\).*/\1/p' "$WORK/b.txt")
echo "B. malformed alone: $(grep '^MALFORMED' "$WORK/b.txt"), server CPU $(per_request $((c1 - c0)) "$b_req") us per request"

five_xx() { curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^ahead_requests_total\{.*code="5/ { n += $2 } END { print n + 0 }'; }
x0=$(five_xx)
c0=$(cpu_ns)
malformed "$EACH" "$WORK/c-bad.txt" &
BAD_PID=$!
normal "$EACH" "$WORK/c-good.txt"
wait "$BAD_PID"
c1=$(cpu_ns)
kill -0 "$SERVE_PID" 2>/dev/null || fail "the server died"
c_good=$(sed -n 's/^PREFIXES requests=\([0-9]*\).*/\1/p' "$WORK/c-good.txt")
c_bad=$(sed -n 's/^MALFORMED requests=\([0-9]*\).*/\1/p' "$WORK/c-bad.txt")
echo "C. both: normal $(grep '^PREFIXES' "$WORK/c-good.txt") ($(awk -v a="$a_req" -v c="$c_good" 'BEGIN { printf "%.2f", c / a }')x alone);" \
    "$(grep '^MALFORMED' "$WORK/c-bad.txt"); server CPU $(awk -v ns=$((c1 - c0)) -v s="$EACH" 'BEGIN { printf "%.0f%%", ns / s / 1e7 }') of a core"
grep -q "^PREFIXES requests=[1-9][0-9]* bad_status=0 errors=0" "$WORK/c-good.txt" ||
    fail "normal clients got errors under attack"
[ "$(field "$WORK/c-bad.txt" 5xx)" = 0 ] && [ "$(($(five_xx) - x0))" = 0 ] || fail "5xx answers"
[ "$c_bad" -ge 100000 ] || fail "only $c_bad malformed requests in ${EACH}s: raise SECONDS_EACH"
echo "malformed_cpu.sh: passed"
