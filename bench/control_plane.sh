#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# control_plane.sh: how the control plane answers when the public API
# saturates the machine (issue 9, section 1).
#
# ahead-serve (2 event loops, --verify checksums) serves the npm-downloads
# snapshot under wrk -t2 -c256 (both cores saturated: nothing is pinned).
# Each repetition makes two runs of DURATION, side by side:
#
#   reloads   the snapshot is replaced (hard link + rename, two files
#             alternating) and POST /admin/reload asked every SWAP_MS by the
#             clock, RELOADS times; meanwhile every PROBE_MS one of
#             /metrics, /admin/indexes, /healthz, /readyz is asked in turn;
#   steady    the same probes, no reloads.
#
# It prints each run's requests/s and errors, then over all repetitions: the
# reload latency (p50, p99, max, as curl's time_total), each probe's p99 and
# max, and the throughput lost to reloading (1 - reloads/steady, the median
# of the per-repetition ratios and the ratio of the medians). Targets: reload
# p99 <= 250 ms, max <= 1 s; probes p99 <= 50 ms; loss <= 5%; no errors.
#
# Usage: bench/control_plane.sh [AHEAD_SERVE]   (default build/ahead-serve;
#        needs bench/out/npm.snap, npm-b.snap and prefixes-npm.txt, which
#        bench_server.sh makes)
# Environment: REPS [3]  DURATION [55]  RELOADS [100]  SWAP_MS [500]
#              PROBE_MS [100]  CONNS [256]  OUT [bench/out]
#              SERVER_OPTS: more ahead-serve options, e.g. "--typos 0 --match
#                           prefix" (exact lookups: the load of bench_server.sh
#                           before issue 7 made typos the default)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVE=${1:-$ROOT/build/ahead-serve}
OUT=${OUT:-$ROOT/bench/out}
REPS=${REPS:-3}
DURATION=${DURATION:-55}
RELOADS=${RELOADS:-100}
SWAP_MS=${SWAP_MS:-500}
PROBE_MS=${PROBE_MS:-100}
CONNS=${CONNS:-256}
for f in npm.snap npm-b.snap prefixes-npm.txt; do
    [ -s "$OUT/$f" ] || { echo "control_plane.sh: $OUT/$f missing (run bench_server.sh once)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/ahead-control-XXXXXX)
SERVE_PID='' WRK_PID='' PROBE_PID=''
cleanup() {
    for p in $PROBE_PID $WRK_PID $SERVE_PID; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/live"
cp "$OUT/npm.snap" "$WORK/a.snap"
cp "$OUT/npm-b.snap" "$WORK/b.snap"
ln "$WORK/a.snap" "$WORK/live/npm.snap"
SERVER_CPU=()
# shellcheck source=bench/swap_common.sh
. "$ROOT/bench/swap_common.sh"

# probe_loop FILE: asks the four endpoints in turn every PROBE_MS, logging
# "ENDPOINT HTTP_STATUS SECONDS" to FILE, until killed.
probe_loop() {
    local urls=("http://127.0.0.1:$ADMIN_PORT/metrics" "http://127.0.0.1:$ADMIN_PORT/admin/indexes"
        "http://127.0.0.1:$AHEAD_PORT/healthz" "http://127.0.0.1:$AHEAD_PORT/readyz")
    local names=(metrics indexes healthz readyz) i=0
    while :; do
        echo "${names[i]} $(curl -s -o /dev/null -w '%{http_code} %{time_total}' "${urls[i]}")" >>"$1"
        i=$(((i + 1) % 4))
        sleep "$(awk -v ms="$PROBE_MS" 'BEGIN { print ms / 1000 }')"
    done
}

# run KIND REP: one run; prints "KIND REP requests/s non2xx socket_errors".
run() {
    local kind=$1 rep=$2
    ln -f "$WORK/a.snap" "$WORK/live/npm.snap" # swap_while starts from a.snap
    WHICH=0
    # shellcheck disable=SC2086 # SERVER_OPTS is a list of options
    start_ahead --threads 2 ${SERVER_OPTS:-}
    wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$ROOT/bench/prefixes.lua" \
        "http://127.0.0.1:$AHEAD_PORT" -- "$OUT/prefixes-npm.txt" /v1/complete 10 \
        >"$WORK/wrk-$kind-$rep.txt" &
    WRK_PID=$!
    sleep 2 # wrk connected and the loops saturated
    probe_loop "$WORK/probes-$kind.txt" &
    PROBE_PID=$!
    if [ "$kind" = reloads ]; then
        SWAP_LOG=$WORK/reloads.txt SWAP_MAX=$RELOADS swap_while "$WRK_PID"
    fi
    wait "$WRK_PID"
    kill "$PROBE_PID"
    wait "$PROBE_PID" 2>/dev/null || true
    kill "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
    WRK_PID='' PROBE_PID='' SERVE_PID=''
    awk -v kind="$kind" -v rep="$rep" '
        /^Requests\/sec:/ { rps = $2 }
        /^PREFIXES/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
        /Socket errors/ { errs = $0 }
        END { printf "%s %s %.0f bad_status=%s errors=%s %s\n", kind, rep, rps, f["bad_status"],
                     f["errors"], errs }' "$WORK/wrk-$kind-$rep.txt"
}

echo "ahead-serve $("$SERVE" --version | head -1), npm-downloads, wrk -t2 -c$CONNS ${DURATION}s," \
    "$RELOADS reloads every $SWAP_MS ms, $(nproc) CPUs, options: ${SERVER_OPTS:-none}"
for rep in $(seq "$REPS"); do
    run reloads "$rep" | tee -a "$WORK/runs.txt"
    run steady "$rep" | tee -a "$WORK/runs.txt"
done

# pct FILE COLUMN P: the P-th percentile (nearest rank) of a column, in ms.
pct() {
    sort -g -k"$2","$2" "$1" | awk -v c="$2" -v p="$3" '{ v[NR] = $c } END {
        i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.1f", v[i] * 1000 }'
}
echo
n=$(wc -l <"$WORK/reloads.txt")
bad=$(awk '$1 != 200 || $3 != 1' "$WORK/reloads.txt" | wc -l)
echo "reloads: $n, not 200 or not changed: $bad; ms p50 $(pct "$WORK/reloads.txt" 2 50)" \
    "p99 $(pct "$WORK/reloads.txt" 2 99) max $(pct "$WORK/reloads.txt" 2 100)"
for kind in reloads steady; do
    for ep in metrics indexes healthz readyz; do
        grep "^$ep " "$WORK/probes-$kind.txt" >"$WORK/p.txt" || true
        [ -s "$WORK/p.txt" ] || continue
        echo "probe $ep during $kind: $(wc -l <"$WORK/p.txt") asked, not 200:" \
            "$(awk '$2 != 200' "$WORK/p.txt" | wc -l); ms p50 $(pct "$WORK/p.txt" 3 50)" \
            "p99 $(pct "$WORK/p.txt" 3 99) max $(pct "$WORK/p.txt" 3 100)"
    done
done
# median: the middle line of numbers on stdin (the lower middle for an even count).
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio=$(awk '{ rps[$1, $2] = $3 } END { for (k in rps) { split(k, p, SUBSEP); if (p[1] == "reloads") print rps[k] / rps["steady", p[2]] } }' \
    "$WORK/runs.txt" | median)
with=$(awk '$1 == "reloads" { print $3 }' "$WORK/runs.txt" | median)
without=$(awk '$1 == "steady" { print $3 }' "$WORK/runs.txt" | median)
awk -v r="$ratio" -v a="$with" -v b="$without" 'BEGIN {
    printf "throughput lost to reloading: %.1f%% (median of per-repetition ratios), %.1f%% (ratio of medians %.0f / %.0f)\n",
           (1 - r) * 100, (1 - a / b) * 100, a, b }'
