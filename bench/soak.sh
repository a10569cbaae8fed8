#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# soak.sh: ahead-serve for a long time at saturation, with reloads and
# hostile clients (issue 9, section 4). It fails (exit 1) on any leak or
# failure a long run shows and a short test does not.
#
# For DURATION seconds (after a warm-up): wrk (-t1 -c64) replays keystroke
# prefixes; every
# RELOAD_MS the served file is replaced by rename, in turn, by a good
# snapshot, a corrupt one (a flipped byte), the other good one and a
# truncated one, and POST /admin/reload is asked: a good file must give
# 200, a bad one 422 with the old snapshot still serving;
# bench/hostile_clients.py keeps 50 idle and 20 slow-header connections
# and sends malformed requests at a low rate. Every 10 s it samples the
# server's anonymous resident memory (RssAnon, less the live snapshot's
# private copy, which changes size with the snapshot), its open descriptors
# and the snapshots it holds (the registry's count; no snapshot file stays
# mapped, since the default serves copies). Memory is compared idle to
# idle: under load it moves by a megabyte or two with the connections in
# flight, and the allocator's
# fragmentation settles a few percent above its start. So a warm-up runs the
# same load for WARM seconds first, then the server's RssAnon is read idle,
# and again idle after the soak. It fails on:
#   - any non-2xx answer or socket error at wrk (an answer later than
#     10 s is one: a shared CI machine stalls for seconds), a reload answered
#     otherwise than expected, a 5xx to the hostile clients;
#   - idle RssAnon after the soak more than GROWTH_PCT (2: issue 15's target,
#     restated from issue 9's 1%) percent above
#     idle RssAnon after the warm-up (CI's 60 s run allows 5: in a minute
#     the allocator and the thread stacks still settle by 0.7-2.6%, measured,
#     with no leak under LeakSanitizer; a leak shows in the long run);
#   - more descriptors open once every client is gone than before the
#     load, or more than one snapshot held (or any file mapped) at the end.
#
# Usage: bench/soak.sh DURATION_SECONDS [BUILD_DIR]
# Environment: RELOAD_MS [2000]; GROWTH_PCT [2]; SERVER_LOG: where to keep the server's
#              stderr; WARM: the warm-up's seconds (a fifth of
#              the run, 20 to 120); DATA: the log to build from (default
#              data/es-ngrams.tsv.gz, else data/sample.tsv)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${1:?usage: bench/soak.sh DURATION_SECONDS [BUILD_DIR]}
BUILD=${2:-$ROOT/build}
RELOAD_MS=${RELOAD_MS:-2000}
GROWTH_PCT=${GROWTH_PCT:-2}
WARM=${WARM:-$((DURATION / 5 > 20 ? (DURATION / 5 < 120 ? DURATION / 5 : 120) : 20))}
DATA=${DATA:-$ROOT/data/es-ngrams.tsv.gz}
[ -s "$DATA" ] || DATA=$ROOT/data/sample.tsv

WORK=$(mktemp -d /tmp/ahead-soak-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # SERVER_LOG=PATH keeps the server's stderr (with a sanitizer build: its leak report).
    [ -z "${SERVER_LOG:-}" ] || cp "$WORK/serve.log" "$SERVER_LOG" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "soak.sh: FAILED: $*" >&2
    exit 1
}

# The files a reload meets: two good snapshots, a corrupt and a truncated one.
"$BUILD/ahead-build" --quiet "$DATA" -o "$WORK/good-a.snap"
"$BUILD/ahead-build" --quiet --no-infix "$DATA" -o "$WORK/good-b.snap"
cp "$WORK/good-a.snap" "$WORK/corrupt.snap"
size=$(stat -c %s "$WORK/good-a.snap")
printf '\x5a' | dd of="$WORK/corrupt.snap" bs=1 seek=$((size / 2)) conv=notrunc status=none
head -c $((size / 2)) "$WORK/good-a.snap" >"$WORK/truncated.snap"
mkdir "$WORK/live"
cp "$WORK/good-a.snap" "$WORK/live/idx.snap"
if [[ $DATA == *.gz ]]; then zcat "$DATA"; else cat "$DATA"; fi | cut -f1 |
    LC_ALL=C grep '^[a-z0-9 ]*$' |
    awk 'n < 50000 { for (i = 1; i <= length($0) && i <= 8; i++) { print substr($0, 1, i); n++ } }' \
        >"$WORK/prefixes.txt"

"$BUILD/ahead-serve" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --threads 2 \
    "$WORK/live/idx.snap" 2>"$WORK/serve.log" &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
for _ in $(seq 300); do
    grep -q "ahead-serve: ready" "$WORK/serve.log" && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; fail "the server did not start"; }
    sleep 0.1
done
PORT=$(sed -n 's/^ahead-serve: listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/serve.log")
ADMIN=$(sed -n 's/^ahead-serve: admin listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/serve.log")

# RssAnon less the live snapshot's private copy (its bytes, from the admin API).
rss_anon_kb() {
    local copy
    copy=$(curl -s "http://127.0.0.1:$ADMIN/admin/indexes" | python3 -c 'import json, sys
i = json.load(sys.stdin)["indexes"][0]
print(i["bytes"] // 1024 if i["memory"].startswith("copy") else 0)')
    echo $(($(awk '/^RssAnon:/ { print $2 }' "/proc/$SERVE_PID/status") - copy))
}
held() { curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '$1 == "ahead_snapshots_mapped" { print $2 }'; }
open_fds() { find "/proc/$SERVE_PID/fd" -mindepth 1 | wc -l; }
mapped() { awk '$6 ~ /\.snap/ { print $6 }' "/proc/$SERVE_PID/maps" | sort -u | wc -l; }
# Idle RssAnon once jemalloc has purged what the last load freed (1 s decay).
idle_rss_kb() {
    sleep 3
    rss_anon_kb
}

# phase NAME SECONDS: the whole load for SECONDS (wrk, hostile clients and
# the reload loop: good, corrupt, good, truncated, ... by the clock), then
# waits for every client to finish; counts into reloads and bad_reloads and
# fails on a client's error.
files=(good-b good-a corrupt good-b truncated good-a)
reloads=0 bad_reloads=0
phase() {
    local name=$1 seconds=$2 wrk_pid hostile_pid start next_ms next_sample now left f code expect
    wrk -t1 -c64 -d"${seconds}s" --timeout 10s -s "$ROOT/bench/prefixes.lua" \
        "http://127.0.0.1:$PORT" -- "$WORK/prefixes.txt" /v1/complete 10 >"$WORK/wrk-$name.txt" &
    wrk_pid=$!
    python3 "$ROOT/bench/hostile_clients.py" --port "$PORT" --idle 50 --slow 20 \
        --malformed $((seconds * 20)) --conns 2 --rate 20 --duration "$seconds" \
        >"$WORK/hostile-$name.json" 2>"$WORK/hostile-$name.err" &
    hostile_pid=$!
    PIDS+=("$wrk_pid" "$hostile_pid")
    start=$(date +%s) next_ms=$(($(date +%s%N) / 1000000)) next_sample=$start
    while [ $(($(date +%s) - start)) -lt "$seconds" ]; do
        f=${files[reloads % ${#files[@]}]}
        cp "$WORK/$f.snap" "$WORK/live/.idx.snap.tmp" && mv "$WORK/live/.idx.snap.tmp" "$WORK/live/idx.snap"
        code=$(curl -s -o "$WORK/reload.json" -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN/admin/reload")
        expect=200
        [[ $f == good-* ]] || expect=422
        if [ "$code" != "$expect" ]; then
            bad_reloads=$((bad_reloads + 1))
            echo "reload of $f: $code, expected $expect: $(cat "$WORK/reload.json")" >&2
        fi
        reloads=$((reloads + 1))
        now=$(date +%s)
        if [ "$now" -ge "$next_sample" ]; then
            printf '%-7s %6d  %11d  %3d  %4d/%d  %7d\n' "$name" $((now - start)) "$(rss_anon_kb)" \
                "$(open_fds)" "$(held)" "$(mapped)" "$reloads"
            next_sample=$((next_sample + 10))
        fi
        next_ms=$((next_ms + RELOAD_MS))
        left=$((next_ms - $(date +%s%N) / 1000000))
        if [ "$left" -gt 0 ]; then sleep "$(awk -v ms="$left" 'BEGIN { print ms / 1000 }')"; fi
    done
    wait "$wrk_pid" || fail "$name: wrk failed"
    wait "$hostile_pid" || fail "$name: hostile clients: $(cat "$WORK/hostile-$name.err")"
    PIDS=("$SERVE_PID")
    kill -0 "$SERVE_PID" 2>/dev/null || fail "the server died"
    echo "$name: wrk: $(grep -E '^Requests/sec|^PREFIXES|Socket errors' "$WORK/wrk-$name.txt" | tr '\n' ' ')"
    echo "$name: hostile clients: $(cat "$WORK/hostile-$name.json")"
    grep -q "^PREFIXES requests=[1-9][0-9]* bad_status=0 errors=0" "$WORK/wrk-$name.txt" ||
        fail "$name: normal clients got errors"
    ! grep -q "Socket errors" "$WORK/wrk-$name.txt" || fail "$name: normal clients' sockets failed"
}

fds_before=$(open_fds)
echo "phase     t(s)  RssAnon(KB)  fds  held/mapped  reloads"
# The warm-up: the same load, so that caches fill and the allocator settles.
phase warm-up "$WARM"
rss_warm=$(idle_rss_kb)
phase soak "$DURATION"
rss_last=$(idle_rss_kb)

# Every client is gone: the descriptors must be back to where they were.
fds_after=$(open_fds)
for _ in $(seq 30); do
    [ "$fds_after" -le "$fds_before" ] && break
    sleep 0.5
    fds_after=$(open_fds)
done
echo "reloads: $reloads ($bad_reloads answered otherwise than expected); idle RssAnon $rss_warm KB" \
    "after the warm-up, $rss_last KB after the soak; descriptors $fds_before before, $fds_after after;" \
    "snapshots held at the end: $(held), files mapped: $(mapped)"
[ "$bad_reloads" = 0 ] || fail "$bad_reloads reloads answered otherwise than expected"
[ "$rss_last" -le $((rss_warm + rss_warm * GROWTH_PCT / 100)) ] ||
    fail "idle RssAnon grew from $rss_warm KB to $rss_last KB (more than $GROWTH_PCT%)"
[ "$fds_after" -le "$fds_before" ] || fail "descriptors leaked: $fds_before before, $fds_after after"
[ "$(held)" = 1 ] || fail "$(held) snapshots held at the end"
[ "$(mapped)" = 0 ] || fail "$(mapped) snapshot files mapped at the end (the default serves copies)"
echo "soak.sh: passed"
