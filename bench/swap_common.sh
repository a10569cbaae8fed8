# SPDX-License-Identifier: MIT
#
# swap_common.sh: what bench_server.sh and swap_stalls.sh share, sourced by
# both: starting ahead-serve on free ports over a live snapshot, and the
# loop that swaps that snapshot under load.
#
# The caller sets WORK (a private directory holding a.snap and b.snap, with
# live/npm.snap a hard link to a.snap), SERVE (the ahead-serve binary),
# SERVER_CPU (an array prefixed to the server's command: taskset, or empty)
# and SWAP_MS.

# npm_inputs: the two npm-downloads snapshots with different ids (k=10 and
# k=11) and the keystroke prefixes, kept in OUT and rebuilt when missing or of
# another format version; then WORK/a.snap, WORK/b.snap and live/npm.snap, a
# hard link to a.snap. Needs ROOT, BUILD, DATA, OUT and WORK.
npm_inputs() {
    local snap
    for snap in npm.snap npm-b.snap; do
        if [ -s "$OUT/$snap" ] && ! "$BUILD/ahead-query" "$OUT/$snap" --stats >/dev/null 2>&1; then
            rm -f "$OUT/$snap"
        fi
    done
    [ -s "$OUT/npm.snap" ] || "$BUILD/ahead-build" --quiet "$DATA/npm-downloads.tsv.gz" -o "$OUT/npm.snap"
    [ -s "$OUT/npm-b.snap" ] ||
        "$BUILD/ahead-build" --quiet --topk 11 "$DATA/npm-downloads.tsv.gz" -o "$OUT/npm-b.snap"
    [ -s "$OUT/prefixes-npm.txt" ] ||
        python3 "$ROOT/bench/make_prefixes.py" "$DATA/npm-downloads.tsv.gz" "$OUT/prefixes-npm.txt"
    mkdir -p "$WORK/live"
    # The two snapshots a hot-swap run alternates, on the live file's file system.
    cp "$OUT/npm.snap" "$WORK/a.snap"
    cp "$OUT/npm-b.snap" "$WORK/b.snap"
    ln "$WORK/a.snap" "$WORK/live/npm.snap"
}

# start_ahead [OPTION...]: starts ahead-serve on live/npm.snap with the
# options given, waits until it is ready, and sets SERVE_PID, AHEAD_PORT and
# ADMIN_PORT (read from its log, WORK/ahead.log).
start_ahead() {
    "${SERVER_CPU[@]}" "$SERVE" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 "$@" \
        "$WORK/live/npm.snap" 2>"$WORK/ahead.log" &
    SERVE_PID=$!
    for _ in $(seq 200); do
        grep -q "ahead-serve: ready" "$WORK/ahead.log" && break
        kill -0 "$SERVE_PID" || { cat "$WORK/ahead.log" >&2; exit 1; }
        sleep 0.1
    done
    AHEAD_PORT=$(sed -n 's/^ahead-serve: listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/ahead.log")
    ADMIN_PORT=$(sed -n 's/^ahead-serve: admin listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/ahead.log")
}

# swap_while PID: while process PID runs (and, with SWAP_MAX set, for at
# most SWAP_MAX reloads), replaces live/npm.snap by the
# other snapshot and reloads it through POST /admin/reload, every SWAP_MS by
# the clock however long the reload took. Sets SWAPS and NOT_SWAPPED; with
# SWAP_LOG set, appends "HTTP_STATUS SECONDS CHANGED" per reload to it. The
# live file starts as a.snap (WHICH=0); WHICH carries over between calls, so
# the file swapped in is never the live one.
WHICH=0
swap_while() {
    local pid=$1 next src left
    SWAPS=0 NOT_SWAPPED=0
    next=$(($(date +%s%N) / 1000000))
    while kill -0 "$pid" 2>/dev/null; do
        next=$((next + SWAP_MS))
        WHICH=$((1 - WHICH))
        src=$WORK/a.snap
        [ "$WHICH" = 1 ] && src=$WORK/b.snap
        # A hard link and a rename: the swap as a deployment does it, without
        # the benchmark itself copying 63 MB every SWAP_MS on a 2-core machine.
        ln -f "$src" "$WORK/live/.npm.snap.tmp" && mv "$WORK/live/.npm.snap.tmp" "$WORK/live/npm.snap"
        local answer changed=0
        answer=$(curl -s -w '\n%{http_code} %{time_total}' -X POST \
            "http://127.0.0.1:$ADMIN_PORT/admin/reload")
        if grep -q '"changed":true' <<<"$answer"; then
            SWAPS=$((SWAPS + 1)) changed=1
        else
            NOT_SWAPPED=$((NOT_SWAPPED + 1))
        fi
        if [ -n "${SWAP_LOG:-}" ]; then echo "$(tail -n1 <<<"$answer") $changed" >>"$SWAP_LOG"; fi
        if [ -n "${SWAP_MAX:-}" ] && [ $((SWAPS + NOT_SWAPPED)) -ge "$SWAP_MAX" ]; then return; fi
        left=$((next - $(date +%s%N) / 1000000))
        if [ "$left" -gt 0 ]; then sleep "$(awk -v ms="$left" 'BEGIN { print ms / 1000 }')"; fi
    done
}
