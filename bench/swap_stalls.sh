#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# swap_stalls.sh: how many requests a hot swap slows down, from the server's
# own latency histogram rather than from wrk's (which the machine's noise
# moves more than the effect).
#
# ahead-serve (one event loop, pinned to CPU 1 with its control thread, as
# in bench_server.sh) serves the npm-downloads snapshot under wrk -t1 -c64
# (CPU 0) for DURATION while, unless SWAP_MS=0, the file is replaced by a
# hard link and rename and reloaded through POST /admin/reload every SWAP_MS
# by the clock. Then it reads ahead_request_duration_seconds and prints the
# requests that took the loop over 1 ms and over 2.5 ms, with the reload
# count. Run it with and without swaps, and with two builds, side by side.
#
# Usage: bench/swap_stalls.sh [AHEAD_SERVE]   (default build/ahead-serve;
#        needs bench/out/npm.snap, npm-b.snap and prefixes-npm.txt, which
#        bench_server.sh makes)
# Environment: DURATION [10s]  SWAP_MS [500]  OUT [bench/out]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVE=${1:-$ROOT/build/ahead-serve}
OUT=${OUT:-$ROOT/bench/out}
DURATION=${DURATION:-10s}
SWAP_MS=${SWAP_MS:-500}
for f in npm.snap npm-b.snap prefixes-npm.txt; do
    [ -s "$OUT/$f" ] || { echo "swap_stalls.sh: $OUT/$f missing (run bench_server.sh once)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/ahead-stalls-XXXXXX)
SERVE_PID=''
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/live"
cp "$OUT/npm.snap" "$WORK/a.snap"
cp "$OUT/npm-b.snap" "$WORK/b.snap"
ln "$WORK/a.snap" "$WORK/live/npm.snap"

SERVER_CPU=(taskset -c 1)
# shellcheck source=bench/swap_common.sh
. "$ROOT/bench/swap_common.sh"
start_ahead --threads 1
taskset -c 0 wrk -t1 -c64 -d"$DURATION" --latency -s "$ROOT/bench/prefixes.lua" \
    "http://127.0.0.1:$AHEAD_PORT" -- "$OUT/prefixes-npm.txt" /v1/complete 10 >"$WORK/wrk.txt" &
WRK_PID=$!
if [ "$SWAP_MS" -gt 0 ]; then swap_while "$WRK_PID"; fi
wait "$WRK_PID"
curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" >"$WORK/metrics.txt"
awk -v swap_ms="$SWAP_MS" '
    /^Requests\/sec:/ { rps = $2 }
    $1 == "99%" { p99 = $2 }
    /^ahead_request_duration_seconds_bucket/ { split($0, a, "le=\""); split(a[2], b, "\""); v[b[1]] = $NF }
    /^ahead_reloads_total/ && /result="ok"/ { reloads = $NF }
    END { what = "no swaps"; if (swap_ms > 0) what = "swap every " swap_ms " ms"
          printf "%s: %d requests, %d over 1 ms, %d over 2.5 ms, %d reloads; wrk %.0f req/s, p99 %s\n",
                 what, v["+Inf"], v["+Inf"] - v["0.001"],
                 v["+Inf"] - v["0.0025"], reloads - 1, rps, p99 }
' "$WORK/wrk.txt" "$WORK/metrics.txt"
