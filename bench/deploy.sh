#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# deploy.sh: three ahead-serve replicas behind nginx (server/deploy/
# nginx.conf), under load, while snapshots roll across them with
# server/deploy/ahead-rollout and a replica is killed (issue 10, section 3).
# Loopback only.
#
# wrk (-t1 -c32) replays keystroke prefixes through nginx for DURATION
# seconds, or for as long as the events take if that is longer, while, in
# order:
#   1. a new snapshot is rolled out (replicas 1 and 2 by the admin API,
#      replica 3 runs --watch and has none): it must succeed;
#   2. replica 2 is killed with SIGKILL, and restarted on the same port;
#   3. a corrupt snapshot is rolled out: it must be refused before any
#      replica is touched;
#   4. a snapshot of another language is rolled out with --max-changed 0.3:
#      the canary on replica 1 must stop it, and replica 1 must be rolled
#      back;
#   5. with replica 3 down, the first snapshot is rolled out again: it
#      must stop at replica 3 and roll replicas 2 and 1 back; replica 3 is
#      then restarted;
#   6. ahead-rollout is killed with SIGKILL at each of its steps (copy,
#      verify, canary, rename, reload, wait, recheck; on replica 2, and at
#      the rename on replica 3), then run again with the same arguments:
#      the rerun must succeed and leave every replica on the new snapshot
#      with no copy or backup beside its file.
# It fails (exit 1) on any non-2xx answer or socket error at wrk, on a
# rollout ending otherwise than expected, on a replica not serving the new
# snapshot at the end or mapping more than one snapshot, on a staging or
# backup file left beside a live one, or on an answer without
# Content-Length. Then, for COMPARE seconds each (0 skips it), it measures
# throughput direct to one replica and through nginx.
#
# Usage: bench/deploy.sh DURATION_SECONDS [BUILD_DIR]
# Environment: COMPARE [10]: seconds of each throughput run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${1:?usage: bench/deploy.sh DURATION_SECONDS [BUILD_DIR]}
BUILD=${2:-$ROOT/build}
COMPARE=${COMPARE:-10}
ROLLOUT=("python3" "$ROOT/server/deploy/ahead-rollout" --query-bin "$BUILD/ahead-query" --timeout 30)
command -v nginx >/dev/null || {
    echo "deploy.sh: nginx is not installed (bash .ci/deps.sh test)" >&2
    exit 1
}

WORK=$(mktemp -d /tmp/ahead-deploy-XXXXXX)
chmod 755 "$WORK" # nginx's workers run as nobody when started by root
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "deploy.sh: FAILED: $*" >&2
    for f in "$WORK"/r*.log "$WORK/nginx.log"; do
        [ -s "$f" ] && { echo "--- $f" >&2; tail -5 "$f" >&2; }
    done
    exit 1
}

# Snapshots: the one served first, its successor (a day's new counts), a
# corrupt copy of the successor, and one of another language.
"$BUILD/ahead-build" -q "$ROOT/data/sample.tsv" -o "$WORK/day1.snap"
{
    cat "$ROOT/data/sample.tsv"
    printf 'wonderland\t900000\nworld cup\t800000\nthe day after\t700000\n'
} >"$WORK/day2.tsv"
"$BUILD/ahead-build" -q "$WORK/day2.tsv" -o "$WORK/day2.snap"
cp "$WORK/day2.snap" "$WORK/corrupt.snap"
size=$(stat -c %s "$WORK/corrupt.snap")
printf '\x5a' | dd of="$WORK/corrupt.snap" bs=1 seek=$((size / 2)) conv=notrunc status=none
"$BUILD/ahead-build" -q "$ROOT/data/es-ngrams.tsv.gz" -o "$WORK/other.snap"
id_of() { "$BUILD/ahead-query" "$1" --stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }
DAY1=$(id_of "$WORK/day1.snap")
DAY2=$(id_of "$WORK/day2.snap")
cut -f1 "$ROOT/data/sample.tsv" | LC_ALL=C grep '^[a-z0-9 ]*$' |
    awk '{ for (i = 1; i <= length($0) && i <= 6; i++) print substr($0, 1, i) }' >"$WORK/prefixes.txt"

# Ports: seven free ones (three public, three admin, nginx).
read -r -a PORTS <<<"$(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')"
NGINX_PORT=${PORTS[6]}

# Replica i (1..3): its own folder and copy; replica 3 runs --watch, no admin API.
# Each serves from its file's mapping (--snapshot-memory map), so that the end
# state can be read from /proc: one snapshot file mapped, the old ones gone.
REPLICA_PID=()
start_replica() {
    local i=$1 admin=(--admin-listen "127.0.0.1:${PORTS[$1 + 2]}") watch=()
    if [ "$i" = 3 ]; then admin=(--admin-listen off) watch=(--watch); fi
    "$BUILD/ahead-serve" --listen "127.0.0.1:${PORTS[$i - 1]}" "${admin[@]}" "${watch[@]}" \
        --threads 1 --drain-ms 500 --snapshot-memory map "$WORK/r$i/live.snap" 2>>"$WORK/r$i.log" &
    REPLICA_PID[i]=$!
    PIDS+=("$!")
}
wait_ready() { # PORT
    for _ in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    fail "the replica on port $1 did not get ready"
}
for i in 1 2 3; do
    mkdir "$WORK/r$i"
    cp "$WORK/day1.snap" "$WORK/r$i/live.snap"
    start_replica "$i"
done
for i in 1 2 3; do wait_ready "${PORTS[$i - 1]}"; done
replica_spec() { # i
    local spec="public=127.0.0.1:${PORTS[$1 - 1]},file=$WORK/r$1/live.snap"
    [ "$1" = 3 ] || spec+=",admin=127.0.0.1:${PORTS[$1 + 2]}"
    echo "$spec"
}
REPLICAS=(--replica "$(replica_spec 1)" --replica "$(replica_spec 2)" --replica "$(replica_spec 3)")

# nginx with the shipped configuration; only the addresses change.
mkdir -p "$WORK/nginx/tmp"
chmod -R 755 "$WORK/nginx"
sed -e "s/127\.0\.0\.1:8091/127.0.0.1:${PORTS[0]}/" -e "s/127\.0\.0\.1:8092/127.0.0.1:${PORTS[1]}/" \
    -e "s/127\.0\.0\.1:8093/127.0.0.1:${PORTS[2]}/" -e "s/127\.0\.0\.1:8088/127.0.0.1:$NGINX_PORT/" \
    "$ROOT/server/deploy/nginx.conf" >"$WORK/nginx/nginx.conf"
nginx -p "$WORK/nginx" -c nginx.conf -g 'daemon off;' 2>"$WORK/nginx.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_ready "$NGINX_PORT"
# Its documented options (consistent hashing, the micro-cache) must work
# too: a second nginx with them, on its own port and in front of replica 1
# alone, must serve a repeated request from its cache, and once the entry
# is a second old, renew it by revalidating with the replica's ETag (the
# replica answers 304, counted in its metrics) while the stale entry is
# served.
OPTIONS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -E -e 's/^(\s*)#([a-z])/\1\2/' -e "s/127\.0\.0\.1:$NGINX_PORT/127.0.0.1:$OPTIONS_PORT/" \
    -e "/server 127\.0\.0\.1:(${PORTS[1]}|${PORTS[2]}) /d" -e 's/^pid nginx\.pid;/pid options.pid;/' \
    "$WORK/nginx/nginx.conf" >"$WORK/nginx/options.conf"
mkdir -p "$WORK/nginx/cache"
chmod 755 "$WORK/nginx/cache"
nginx -p "$WORK/nginx" -c options.conf -g 'daemon off;' 2>"$WORK/nginx-options.log" &
OPTIONS_PID=$!
PIDS+=("$OPTIONS_PID")
wait_ready "$OPTIONS_PORT"
cache_status() { curl -s -o /dev/null -D - "http://127.0.0.1:$OPTIONS_PORT/v1/complete?q=wonder" | tr -d '\r' |
    sed -n 's/^[Xx]-[Cc]ache: //p'; }
not_modified() { curl -s "http://127.0.0.1:${PORTS[3]}/metrics" |
    awk '/^ahead_requests_total\{.*code="304"/ { n += $2 } END { print n + 0 }'; }
before=$(not_modified)
statuses="$(cache_status) $(cache_status)"
# nginx reads its clock once per event-loop pass: the entry expires a second
# or so after it was stored; ask every 0.2 s until it is served stale.
for _ in $(seq 25); do
    sleep 0.2
    last=$(cache_status)
    statuses+=" $last"
    [ "$last" = STALE ] && break
done
sleep 0.5
last=$(cache_status)
statuses+=" $last"
revalidated=$(($(not_modified) - before))
[[ $statuses == "MISS HIT "*STALE" HIT" ]] && [ "$revalidated" -ge 1 ] ||
    fail "nginx.conf's micro-cache: $statuses and $revalidated 304s, expected MISS, HIT..., STALE, HIT and a 304"
kill "$OPTIONS_PID"
wait "$OPTIONS_PID" 2>/dev/null || true
echo "nginx.conf's options: $statuses; the replica answered $revalidated revalidation(s) with 304"

# Every answer carries Content-Length (never chunked), direct and through nginx.
for base in "http://127.0.0.1:${PORTS[0]}" "http://127.0.0.1:$NGINX_PORT"; do
    for path in "/v1/complete?q=wor" "/v1/complete?q=%ff" "/v1/indexes" "/readyz" "/" "/openapi.json"; do
        headers=$(curl -s -D - -o /dev/null "$base$path")
        grep -qi '^content-length:' <<<"$headers" && ! grep -qi '^transfer-encoding:' <<<"$headers" ||
            fail "$base$path: no Content-Length: $headers"
    done
done

echo "== under load through nginx for ${DURATION}s, or until the events are over"
# wrk runs until stopped (SIGINT makes it print its summary): at least
# DURATION seconds, and on a slow machine as long as the events take.
wrk -t1 -c32 -d"$((DURATION + 3600))s" --timeout 10s -s "$ROOT/bench/prefixes.lua" \
    "http://127.0.0.1:$NGINX_PORT" -- "$WORK/prefixes.txt" /v1/complete 10 >"$WORK/wrk.txt" &
WRK_PID=$!
PIDS+=("$WRK_PID")
START=$(date +%s)
sleep 2

echo "-- 1. roll out a new snapshot ($DAY2)"
t0=$(date +%s%N)
"${ROLLOUT[@]}" --snapshot "$WORK/day2.snap" "${REPLICAS[@]}" 2>&1 | tee "$WORK/rollout1.txt" ||
    fail "the rollout of a good snapshot failed"
echo "the rollout took $((($(date +%s%N) - t0) / 1000000)) ms under load"

echo "-- 2. kill -9 replica 2 and restart it"
kill_replica() { # i
    kill -9 "${REPLICA_PID[$1]}"
    wait "${REPLICA_PID[$1]}" 2>/dev/null || true
}
kill_replica 2
sleep 1
start_replica 2
wait_ready "${PORTS[1]}"

echo "-- 3. roll out a corrupt snapshot: refused, nothing changed"
status=0
"${ROLLOUT[@]}" --snapshot "$WORK/corrupt.snap" "${REPLICAS[@]}" >"$WORK/rollout3.txt" 2>&1 || status=$?
cat "$WORK/rollout3.txt"
[ "$status" = 1 ] && grep -q "no replica was changed" "$WORK/rollout3.txt" ||
    fail "the corrupt snapshot's rollout ended with $status"

echo "-- 4. roll out another language's snapshot: the canary stops it, replica 1 rolls back"
status=0
"${ROLLOUT[@]}" --snapshot "$WORK/other.snap" --max-changed 0.3 "${REPLICAS[@]}" \
    >"$WORK/rollout4.txt" 2>&1 || status=$?
cat "$WORK/rollout4.txt"
[ "$status" = 1 ] && grep -q "more than --max-changed" "$WORK/rollout4.txt" &&
    grep -q "rolled back 1 replica$" "$WORK/rollout4.txt" ||
    fail "the canary did not stop the rollout and roll back (status $status)"

echo "-- 5. replica 3 down: the rollout stops there and rolls replicas 2 and 1 back"
kill_replica 3
status=0
"${ROLLOUT[@]}" --snapshot "$WORK/day1.snap" "${REPLICAS[@]}" >"$WORK/rollout5.txt" 2>&1 || status=$?
cat "$WORK/rollout5.txt"
[ "$status" = 1 ] && grep -q "rolled back 2 replicas$" "$WORK/rollout5.txt" ||
    fail "the rollout past a dead replica did not roll back two (status $status)"
start_replica 3
wait_ready "${PORTS[2]}"

served_by() { # i
    curl -s "http://127.0.0.1:${PORTS[$1 - 1]}/v1/indexes" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["indexes"][0]["snapshot"])'
}
echo "-- 6. ahead-rollout killed at each step, then run again with the same arguments"
KILLS=(copy:2 verify:2 canary:2 rename:2 reload:2 wait:2 recheck:2 rename:3)
for n in "${!KILLS[@]}"; do
    if [ $((n % 2)) = 0 ]; then snap=day1 want=$DAY1; else snap=day2 want=$DAY2; fi
    status=0
    { AHEAD_ROLLOUT_KILL_AT=${KILLS[n]} "${ROLLOUT[@]}" --snapshot "$WORK/$snap.snap" "${REPLICAS[@]}" \
        >"$WORK/killed.txt" 2>&1; } 2>/dev/null || status=$? # not the shell's "Killed" line
    [ "$status" = 137 ] || { cat "$WORK/killed.txt"; fail "the rollout to be killed at ${KILLS[n]} ended with $status"; }
    status=0
    "${ROLLOUT[@]}" --snapshot "$WORK/$snap.snap" "${REPLICAS[@]}" >"$WORK/rerun.txt" 2>&1 || status=$?
    [ "$status" = 0 ] || { cat "$WORK/rerun.txt"; fail "the rerun after a kill at ${KILLS[n]} ended with $status"; }
    for i in 1 2 3; do
        served=$(served_by "$i")
        [ "$served" = "$want" ] || { cat "$WORK/rerun.txt"; fail "after a kill at ${KILLS[n]}, replica $i serves $served, not $want"; }
        [ "$(ls -A "$WORK/r$i")" = live.snap ] || fail "after a kill at ${KILLS[n]}, left beside replica $i's file: $(ls -A "$WORK/r$i")"
    done
    echo "killed at ${KILLS[n]}, then run again: all serve $want;" \
        "$(grep -cE 'killed: it stays|left by a rollout that was killed' "$WORK/rerun.txt") leftover(s) taken over," \
        "$(grep -c 'already serves' "$WORK/rerun.txt") replica(s) already done"
done

EVENTS=$(($(date +%s) - START))
[ "$EVENTS" -ge "$DURATION" ] || sleep $((DURATION - EVENTS))
kill -INT "$WRK_PID"
wait "$WRK_PID" || fail "wrk failed"
PIDS=("${PIDS[@]/$WRK_PID/}")
echo "wrk through nginx: $(grep -E '^Requests/sec|^PREFIXES|Socket errors|Non-2xx' "$WORK/wrk.txt" | tr '\n' ' ')"
echo "the events took ${EVENTS}s, all of them under the load"
grep -q "^PREFIXES requests=[1-9][0-9]* bad_status=0 errors=0" "$WORK/wrk.txt" ||
    fail "clients got errors through nginx"
! grep -qE "Socket errors|Non-2xx" "$WORK/wrk.txt" || fail "clients' sockets failed or got non-2xx"

# The end state: every replica on the new snapshot, one mapping each, no stray file.
for i in 1 2 3; do
    served=$(served_by "$i")
    [ "$served" = "$DAY2" ] || fail "replica $i serves $served, not $DAY2"
    mapped=0
    for _ in $(seq 50); do
        mapped=$(awk '$6 ~ /\.snap/ { print $6 }' "/proc/${REPLICA_PID[$i]}/maps" | sort -u | wc -l)
        [ "$mapped" = 1 ] && break
        sleep 0.1
    done
    [ "$mapped" = 1 ] || fail "replica $i maps $mapped snapshots"
    [ "$(ls -A "$WORK/r$i")" = live.snap ] || fail "left beside replica $i's file: $(ls -A "$WORK/r$i")"
done
echo "replicas: all three serve $DAY2 (first $DAY1), one mapping each"

# CPU time (user + system, clock ticks) of the given processes, all threads.
cpu_ticks() {
    local sum=0 pid
    for pid in "$@"; do sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
    echo "$sum"
}
if [ "$COMPARE" -gt 0 ]; then
    echo "== throughput, ${COMPARE}s each (wrk -t1 -c64), and CPU time per request"
    HZ=$(getconf CLK_TCK)
    # nginx's workers are its master's children (their comm is "nginx").
    read -r -a NGINX_ALL <<<"$NGINX_PID $(awk -v p="$NGINX_PID" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null | tr '\n' ' ')"
    for target in "direct to replica 1:${PORTS[0]}" "through nginx to 3 replicas:$NGINX_PORT"; do
        n0=$(cpu_ticks "${NGINX_ALL[@]}") r0=$(cpu_ticks "${REPLICA_PID[@]}")
        wrk -t1 -c64 -d"${COMPARE}s" --latency -s "$ROOT/bench/prefixes.lua" "http://127.0.0.1:${target##*:}" \
            -- "$WORK/prefixes.txt" /v1/complete 10 >"$WORK/compare.txt"
        n1=$(cpu_ticks "${NGINX_ALL[@]}") r1=$(cpu_ticks "${REPLICA_PID[@]}")
        requests=$(sed -n 's/^PREFIXES requests=\([0-9]*\).*/\1/p' "$WORK/compare.txt")
        echo "${target%:*}: $(grep -E '^Requests/sec' "$WORK/compare.txt" | tr -s ' ');" \
            "p50/p99 $(awk '$1 == "50%" || $1 == "99%" { printf "%s ", $2 }' "$WORK/compare.txt");" \
            "CPU per request: replicas $(awk -v t=$((r1 - r0)) -v n="$requests" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }') us," \
            "nginx $(awk -v t=$((n1 - n0)) -v n="$requests" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }') us"
    done
fi
echo "deploy.sh: passed"
