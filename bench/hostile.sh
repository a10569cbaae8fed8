#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# hostile.sh: normal clients against ahead-serve while hostile ones attack it
# (issue 9, section 2), on loopback, bounded in time.
#
# The server (one event loop, pinned to CPU 1 like bench_server.sh; wrk and
# the attackers on CPU 0) serves a snapshot of data/es-ngrams.tsv.gz (472k
# queries) with its default options. wrk -t1 -c32 replays keystroke
# prefixes of the log twice: alone for ALONE s, then for DURATION while
# bench/hostile_clients.py keeps IDLE idle connections and SLOW slow-header
# clients (a byte a second) open and sends MALFORMED malformed requests, at
# most RATE a second (the generator is Python on the clients' core:
# unbounded, it would measure its own appetite for CPU, taken from wrk,
# rather than the server's); DURATION is raised to fit them. Each run's line
# says how busy each CPU was: a client CPU at 100% with the server's below
# means the clients, not the server, set the figure. It fails (exit 1) on:
#   - the server dying, or any 5xx to anybody;
#   - any non-2xx answer or socket error at the normal clients (an answer
#     later than 10 s counts: a shared CI machine stalls for seconds);
#   - normal throughput under attack below MIN_RATIO (0.7) of the run
#     alone (CI sets 0: on a shared machine a ratio of two wrk runs is
#     noise, and the behaviour is what the test is for);
#   - the server's anonymous resident memory (RssAnon), once the attack is
#     over, more than 10% above what it was before it (polled for up to
#     20 s: the allocator returns freed pages on a timer).
#
# Usage: bench/hostile.sh [BUILD_DIR]      (default build)
# Environment: DATA [data/es-ngrams.tsv.gz]  DURATION [20]  IDLE [1000]
#              SLOW [200]  MALFORMED [100000]  RATE [1000]  MIN_RATIO [0.7]
#              ALONE [20]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
DURATION=${DURATION:-20}
IDLE=${IDLE:-1000}
SLOW=${SLOW:-200}
MALFORMED=${MALFORMED:-100000}
RATE=${RATE:-1000}
MIN_RATIO=${MIN_RATIO:-0.7}
ALONE=${ALONE:-20}
DATA=${DATA:-$ROOT/data/es-ngrams.tsv.gz}
[ -s "$DATA" ] || DATA=$ROOT/data/sample.tsv
[ "$DURATION" -ge $((MALFORMED / RATE + 2)) ] || DURATION=$((MALFORMED / RATE + 2))
CLIENT_CPU=() SERVER_CPU=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    CLIENT_CPU=(taskset -c 0) SERVER_CPU=(taskset -c 1)
fi

WORK=$(mktemp -d /tmp/ahead-hostile-XXXXXX)
SERVE_PID=''
cleanup() {
    [ -z "$SERVE_PID" ] || kill "$SERVE_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "hostile.sh: FAILED: $*" >&2
    exit 1
}

"$BUILD/ahead-build" --quiet "$DATA" -o "$WORK/sample.snap"
# Keystroke prefixes of the log's ASCII lines (mawk's substr counts bytes).
if [[ $DATA == *.gz ]]; then zcat "$DATA"; else cat "$DATA"; fi | cut -f1 | LC_ALL=C grep '^[a-z0-9 ]*$' |
    awk 'n < 20000 { for (i = 1; i <= length($0) && i <= 6; i++) { print substr($0, 1, i); n++ } }' \
        >"$WORK/prefixes.txt"
"${SERVER_CPU[@]}" "$BUILD/ahead-serve" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --threads 1 "$WORK/sample.snap" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do
    grep -q "ahead-serve: ready" "$WORK/serve.log" && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; fail "the server did not start"; }
    sleep 0.1
done
PORT=$(sed -n 's/^ahead-serve: listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/serve.log")

# Anonymous resident memory: code and snapshot pages touched for the first
# time by the attack's paths (RssFile) are shared and reclaimable, not held.
rss_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/$SERVE_PID/status"; }

# cpu_busy: "busy0 busy1 total0 total1" jiffies of CPUs 0 and 1 from /proc/stat.
cpu_ticks() { awk '$1 == "cpu0" || $1 == "cpu1" { b = $2 + $3 + $4 + $7 + $8; t = b + $5 + $6; printf "%d %d ", b, t }' /proc/stat; }

# load NAME SECONDS: wrk for SECONDS; prints requests/s and how busy each CPU was
# (CPU 0: clients, CPU 1: the server), fails on any error.
load() {
    local before after
    before=$(cpu_ticks)
    "${CLIENT_CPU[@]}" wrk -t1 -c32 -d"${2}s" --timeout 10s -s "$ROOT/bench/prefixes.lua" \
        "http://127.0.0.1:$PORT" -- "$WORK/prefixes.txt" /v1/complete 10 >"$WORK/wrk-$1.txt"
    grep -q "^PREFIXES requests=[1-9][0-9]* bad_status=0 errors=0" "$WORK/wrk-$1.txt" ||
        fail "$1: normal clients got errors: $(grep -E '^PREFIXES|Socket errors' "$WORK/wrk-$1.txt")"
    ! grep -q "Socket errors" "$WORK/wrk-$1.txt" ||
        fail "$1: normal clients' sockets failed: $(grep 'Socket errors' "$WORK/wrk-$1.txt")"
    after=$(cpu_ticks)
    awk -v b="$before" -v a="$after" '/^Requests\/sec:/ {
        split(b, x, " "); split(a, y, " ")
        printf "%.0f %.0f%% %.0f%%\n", $2, 100 * (y[1] - x[1]) / (y[2] - x[2] + 1), 100 * (y[3] - x[3]) / (y[4] - x[4] + 1) }' \
        "$WORK/wrk-$1.txt"
}

"${CLIENT_CPU[@]}" wrk -t1 -c32 -d3s "http://127.0.0.1:$PORT/v1/complete?q=a" >/dev/null # warm-up
read -r alone cpu0 cpu1 < <(load alone "$ALONE")
# Measured after the run alone, which filled the response cache (4 MB, bounded).
rss_before=$(rss_kb)
echo "alone: $alone requests/s (CPU busy: clients $cpu0, server $cpu1), server RssAnon $rss_before KB"

"${CLIENT_CPU[@]}" python3 "$ROOT/bench/hostile_clients.py" --port "$PORT" --idle "$IDLE" \
    --slow "$SLOW" --malformed "$MALFORMED" --rate "$RATE" --duration "$DURATION" \
    >"$WORK/attack.json" \
    2>"$WORK/attack.err" &
attack_pid=$!
sleep 2 # the idle and slow connections are in
read -r attacked cpu0 cpu1 < <(load attacked "$DURATION")
rss_peak=$(rss_kb)
wait "$attack_pid" || fail "hostile clients: $(cat "$WORK/attack.err" "$WORK/attack.json")"
echo "attacked: $attacked requests/s ($(awk -v a="$attacked" -v b="$alone" 'BEGIN { printf "%.2f", a / b }') of alone;" \
    "CPU busy: clients $cpu0, server $cpu1), server RssAnon $rss_peak KB"
echo "attackers: $(cat "$WORK/attack.json")"
kill -0 "$SERVE_PID" 2>/dev/null || fail "the server died"
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || fail "the server does not answer /healthz"
awk -v a="$attacked" -v b="$alone" -v r="$MIN_RATIO" 'BEGIN { exit !(a >= r * b) }' ||
    fail "throughput under attack $attacked < $MIN_RATIO of $alone"

rss_after=$(rss_kb)
for _ in $(seq 40); do
    [ "$rss_after" -le $((rss_before + rss_before / 10)) ] && break
    sleep 0.5
    rss_after=$(rss_kb)
done
echo "after: server RssAnon $rss_after KB (before $rss_before, peak $rss_peak)"
[ "$rss_after" -le $((rss_before + rss_before / 10)) ] ||
    fail "memory not back: $rss_after KB against $rss_before KB before the attack"
echo "hostile.sh: passed"
