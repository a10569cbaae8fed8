#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench_server.sh: ahead-serve against its ceiling, with wrk.
#
# What it measures, all on 127.0.0.1 with the same wrk settings (-t1 -c64,
# 10 s, keep-alive, several repetitions, the two servers alternating):
#
#   ahead     ahead-serve on the npm-downloads snapshot, replaying the
#             keystroke prefix file (bench/make_prefixes.py) through
#             bench/prefixes.lua, k=10;
#   static    the stock h2o binary serving one static file whose size is the
#             median ahead-serve response body for those prefixes, asked
#             with the same requests: the cost of HTTP alone on this
#             machine, the ceiling a lookup server can approach;
#   hotswap   ahead, while the snapshot is replaced and reloaded every
#             SWAP_MS (two snapshots alternating, POST /admin/reload).
#
# It prints requests/s, p50 and p99 latency of every run, the medians, the
# ahead/static ratio and the throughput lost under hot swaps. Targets (issue
# 3): ratio >= 0.9, ahead p99 < 1 ms, zero errors, hot-swap loss < 10%.
#
# With two or more CPUs, wrk runs on CPU 0 and the server under test, all its
# threads, on CPU 1 (PIN=1), so that neither is scheduled onto the other's
# core mid-run, and a reload's work comes out of the server's CPU, not out of
# the client's (which would count as lost throughput what is wrk's); each
# run also prints how busy each CPU was (from /proc/stat), which shows when
# the client, not the server, is the limit. Every run prints the mean
# latency that Little's law imposes on CONNS requests always in flight at
# the measured rate (CONNS / requests per second): no server can have a p99
# below that mean at that rate. The CPU column also shows the hypervisor's
# steal: time the virtual CPU did not run at all, in slices of milliseconds,
# which sets a floor under any p99 once it reaches 1%. A last pair of runs
# uses LOW_CONNS connections, where requests hardly queue behind each other.
#
# Usage: bench/bench_server.sh            (after cmake --build build)
# Environment (defaults in brackets):
#   BUILD [build]  DATA [../shared/data]  OUT [bench/out]  REPS [3]
#   DURATION [10s]  CONNS [64]  SERVER_THREADS [1]  SWAP_MS [500]
#   PIN [1 with 2+ CPUs]  LOW_CONNS [4]
#   VERIFY [checksums]: ahead-serve --verify for the hot-swap run (full also
#                  walks every structure, about a second of CPU per npm reload)
#   SNAPSHOT_MEMORY [copy]: ahead-serve --snapshot-memory (map: served from
#                  the file's mapping, in 4 KB pages)
#   SHUFFLE [0]: 1 replays the prefixes in a random (fixed-seed) order
#   MATCHING []: query parameters added to every ahead request, such as
#                  typos=0&match=prefix for the exact lookup alone
#   RESULTS_DIR [bench/results]: where every run is written as server.json
#                  (server-shuffled.json), which bench/plot.py draws
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DATA=${DATA:-$ROOT/../shared/data}
OUT=${OUT:-$ROOT/bench/out}
REPS=${REPS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
SERVER_THREADS=${SERVER_THREADS:-1}
SWAP_MS=${SWAP_MS:-500}
VERIFY=${VERIFY:-checksums}
LOW_CONNS=${LOW_CONNS:-4}
if [ "$(nproc)" -ge 2 ]; then PIN=${PIN:-1}; else PIN=0; fi
# Commands prefixed to the load generator and to the servers.
CLIENT_CPU=() SERVER_CPU=()
if [ "$PIN" = 1 ]; then
    command -v taskset >/dev/null || { echo "bench_server.sh: taskset not found (PIN=0 to skip)" >&2; exit 1; }
    CLIENT_CPU=(taskset -c 0) SERVER_CPU=(taskset -c 1)
fi

SERVE=$BUILD/ahead-serve
BUILDER=$BUILD/ahead-build
for tool in wrk h2o python3 curl; do
    command -v "$tool" >/dev/null || { echo "bench_server.sh: $tool not found" >&2; exit 1; }
done
if [ ! -x "$SERVE" ] || [ ! -x "$BUILDER" ]; then
    echo "bench_server.sh: build first ($SERVE, $BUILDER)" >&2
    exit 1
fi

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ahead-bench-XXXXXX)
SERVE_PID=''
H2O_PID=
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    [ -n "$H2O_PID" ] && kill "$H2O_PID" 2>/dev/null && wait "$H2O_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---- inputs: two npm snapshots with different ids (k=10 and k=11), the prefixes.
# shellcheck source=bench/swap_common.sh
. "$ROOT/bench/swap_common.sh"
npm_inputs
PREFIXES=$OUT/prefixes-npm.txt
# SHUFFLE=1: the same prefixes in a random order (fixed seed), so that no
# lookup follows the keystroke before it.
if [ "${SHUFFLE:-0}" = 1 ]; then
    python3 -c 'import random, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]
random.Random(20261204).shuffle(lines)
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(lines) + "\n")' "$PREFIXES" "$OUT/prefixes-npm-shuffled.txt"
    PREFIXES=$OUT/prefixes-npm-shuffled.txt
fi

# ---- ahead-serve on free ports (it logs the ports it got)
start_ahead --threads "$SERVER_THREADS" --verify "$VERIFY" --snapshot-memory "${SNAPSHOT_MEMORY:-copy}"
AHEAD=http://127.0.0.1:$AHEAD_PORT

# ---- the median response body, over a sample of 2,000 prefixes
python3 - "$AHEAD_PORT" "$PREFIXES" "$WORK/static" <<'EOF'
import http.client, os, sys, urllib.parse
port, prefixes, outdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lines = open(prefixes, encoding="utf-8").read().split("\n")[:-1]
step = max(1, len(lines) // 2000)
conn = http.client.HTTPConnection("127.0.0.1", port)
bodies = []
for p in lines[::step]:
    conn.request("GET", "/v1/complete?q=" + urllib.parse.quote(p, safe="") + "&k=10")
    r = conn.getresponse()
    bodies.append(r.read())
bodies.sort(key=len)
median = bodies[len(bodies) // 2]
os.makedirs(outdir, exist_ok=True)
with open(os.path.join(outdir, "median.json"), "wb") as f:
    f.write(median)
print(f"median response body: {len(median)} bytes over {len(bodies)} prefixes", file=sys.stderr)
EOF
chmod 755 "$WORK" "$WORK/static"
chmod 644 "$WORK/static/median.json"
MEDIAN_BYTES=$(stat -c %s "$WORK/static/median.json")

# ---- stock h2o serving that file
H2O_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
    echo "listen: {host: 127.0.0.1, port: $H2O_PORT}"
    echo "num-threads: $SERVER_THREADS"
    [ "$(id -u)" = 0 ] && echo "user: nobody"
    echo "error-log: $WORK/h2o-error.log"
    echo "hosts:"
    echo "  default:"
    echo "    paths:"
    echo "      /:"
    echo "        file.dir: $WORK/static"
} >"$WORK/h2o.conf"
"${SERVER_CPU[@]}" h2o -c "$WORK/h2o.conf" >"$WORK/h2o.out" 2>&1 &
H2O_PID=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$H2O_PORT/median.json" -o /dev/null && break
    kill -0 "$H2O_PID" || { cat "$WORK/h2o.out" "$WORK/h2o-error.log" >&2; exit 1; }
    sleep 0.1
done
# The same wrk script as for ahead, so both get the same requests (h2o's
# file handler ignores the query) and wrk spends the same per request.
STATIC_BASE=http://127.0.0.1:$H2O_PORT
echo "servers: ahead-serve :$AHEAD_PORT, h2o :$H2O_PORT (static $MEDIAN_BYTES bytes), $SERVER_THREADS loop(s) each; wrk -t1 -c$CONNS -d$DURATION" >&2
[ "$PIN" = 1 ] && echo "pinned: wrk on CPU 0, servers on CPU 1" >&2

# ---- wrk runs; each prints "req/s p50_us p99_us errors"
to_us() { # 812.00us | 1.24ms | 2.00s -> microseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000;
                           else if (v ~ /s$/) m = 1000000; else m = 1; printf "%.0f", n * m }'
}
# Per-CPU times from /proc/stat, in jiffies: "busy steal total" for each CPU.
cpu_sample() {
    awk '/^cpu[0-9]/ { busy = $2 + $3 + $4 + $7 + $8; total = 0
                       for (f = 2; f <= 9; f++) total += $f
                       printf "%d %d %d ", busy, $9, total }' /proc/stat
}
# How busy CPUs 0 and 1 were between two samples, "c0/c1" in percent; the
# hypervisor's steal, when any, in brackets.
cpu_busy() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); split(b, y, " "); out = ""
        for (i = 1; i + 2 <= n && i < 7; i += 3) {
            t = y[i + 2] - x[i + 2]; if (t <= 0) t = 1
            busy = 100 * (y[i] - x[i]) / t; steal = 100 * (y[i + 1] - x[i + 1]) / t
            out = out (out == "" ? "" : "/") sprintf("%.0f", busy) (steal >= 1 ? sprintf("(st%.0f)", steal) : "")
        }
        print out }'
}
parse_wrk() {
    local f=$1 rps p50 p99 errs non2xx
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$f")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$f")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$f")")
    errs=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$f")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$f")
    echo "$rps $p50 $p99 $(( ${errs:-0} + ${non2xx:-0} ))"
}
# run_ahead OUT [CONNS], run_static OUT [CONNS]: one wrk run each; CPU_BUSY
# gets the CPUs' busy percentages during it.
run_ahead() {
    local before; before=$(cpu_sample)
    "${CLIENT_CPU[@]}" wrk -t1 -c"${2:-$CONNS}" -d"$DURATION" --latency -s "$ROOT/bench/prefixes.lua" \
        "$AHEAD" -- "$PREFIXES" /v1/complete "10${MATCHING:+&$MATCHING}" >"$1"
    CPU_BUSY=$(cpu_busy "$before" "$(cpu_sample)")
}
run_static() {
    local before; before=$(cpu_sample)
    "${CLIENT_CPU[@]}" wrk -t1 -c"${2:-$CONNS}" -d"$DURATION" --latency -s "$ROOT/bench/prefixes.lua" \
        "$STATIC_BASE" -- "$PREFIXES" /median.json 10 >"$1"
    CPU_BUSY=$(cpu_busy "$before" "$(cpu_sample)")
}
# The mean latency in microseconds of CONNS requests always in flight at rps.
floor_us() { awk -v c="$1" -v r="$2" 'BEGIN { printf "%.0f", 1e6 * c / r }'; }

# ahead while the snapshot is replaced and reloaded every SWAP_MS (swap_while
# sets SWAPS and NOT_SWAPPED).
run_hotswap() {
    local before; before=$(cpu_sample)
    run_ahead "$1" &
    local wrk_pid=$!
    sleep 0.2
    swap_while "$wrk_pid"
    wait "$wrk_pid"
    CPU_BUSY=$(cpu_busy "$before" "$(cpu_sample)")
}

# The three runs alternate within each repetition, so that the machine's
# drift touches them alike; the ratios are of medians. "floor" is the
# Little's-law mean latency at the run's rate; "cpu%" the busy share of
# CPUs 0/1 (wrk/server when pinned).
row() { printf '%-8s %4s %10s %8s %8s %8s %9s %6s %s\n' "$@"; }
# record RUN REP CONNS: the last parsed run, for the results file.
record() { echo "$1 $2 $3 $rps $p50 $p99 $errs" >> "$WORK/runs.txt"; }
row run rep "req/s" "p50 us" "p99 us" "floor us" "cpu%" errors ""
declare -a A_RPS S_RPS H_RPS A_P50 A_P99 S_P50 S_P99 L_A_P50 L_A_P99 L_S_P50 L_S_P99
for rep in $(seq "$REPS"); do
    run_ahead "$WORK/ahead-$rep.txt"
    read -r rps p50 p99 errs < <(parse_wrk "$WORK/ahead-$rep.txt")
    A_RPS+=("$rps"); A_P50+=("$p50"); A_P99+=("$p99"); record ahead "$rep" "$CONNS"
    row ahead "$rep" "$rps" "$p50" "$p99" "$(floor_us "$CONNS" "$rps")" "$CPU_BUSY" "$errs"
    run_static "$WORK/static-$rep.txt"
    read -r rps p50 p99 errs < <(parse_wrk "$WORK/static-$rep.txt")
    S_RPS+=("$rps"); S_P50+=("$p50"); S_P99+=("$p99"); record static "$rep" "$CONNS"
    row static "$rep" "$rps" "$p50" "$p99" "$(floor_us "$CONNS" "$rps")" "$CPU_BUSY" "$errs"
    run_hotswap "$WORK/hotswap-$rep.txt"
    read -r rps p50 p99 errs < <(parse_wrk "$WORK/hotswap-$rep.txt")
    H_RPS+=("$rps"); record hotswap "$rep" "$CONNS"
    row hotswap "$rep" "$rps" "$p50" "$p99" "$(floor_us "$CONNS" "$rps")" "$CPU_BUSY" "$errs" \
        "($SWAPS swaps, $NOT_SWAPPED not swapped, --verify $VERIFY)"
done
# Latency with little queueing: LOW_CONNS connections, same alternation.
for rep in $(seq "$REPS"); do
    run_ahead "$WORK/ahead-low-$rep.txt" "$LOW_CONNS"
    read -r rps p50 p99 errs < <(parse_wrk "$WORK/ahead-low-$rep.txt")
    L_A_P50+=("$p50"); L_A_P99+=("$p99"); record ahead "$rep" "$LOW_CONNS"
    row "ahead" "$rep" "$rps" "$p50" "$p99" "$(floor_us "$LOW_CONNS" "$rps")" "$CPU_BUSY" "$errs" "(-c$LOW_CONNS)"
    run_static "$WORK/static-low-$rep.txt" "$LOW_CONNS"
    read -r rps p50 p99 errs < <(parse_wrk "$WORK/static-low-$rep.txt")
    L_S_P50+=("$p50"); L_S_P99+=("$p99"); record static "$rep" "$LOW_CONNS"
    row "static" "$rep" "$rps" "$p50" "$p99" "$(floor_us "$LOW_CONNS" "$rps")" "$CPU_BUSY" "$errs" "(-c$LOW_CONNS)"
done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
a=$(median "${A_RPS[@]}") s=$(median "${S_RPS[@]}") h=$(median "${H_RPS[@]}")
echo
printf 'median   ahead  %s req/s  p50 %s us  p99 %s us\n' "$a" "$(median "${A_P50[@]}")" "$(median "${A_P99[@]}")"
printf 'median   static %s req/s  p50 %s us  p99 %s us  (%s-byte file)\n' "$s" "$(median "${S_P50[@]}")" "$(median "${S_P99[@]}")" "$MEDIAN_BYTES"
printf 'floor    %s us mean latency for %s connections at the ahead median rate (Little'"'"'s law)\n' "$(floor_us "$CONNS" "$a")" "$CONNS"
printf 'median   ahead  -c%s  p50 %s us  p99 %s us\n' "$LOW_CONNS" "$(median "${L_A_P50[@]}")" "$(median "${L_A_P99[@]}")"
printf 'median   static -c%s  p50 %s us  p99 %s us\n' "$LOW_CONNS" "$(median "${L_S_P50[@]}")" "$(median "${L_S_P99[@]}")"
# Also the median of the ratios within each repetition (runs seconds apart),
# which the machine's drift between repetitions does not move.
declare -a PAIRED_R PAIRED_H
for i in "${!A_RPS[@]}"; do
    PAIRED_R+=("$(awk -v a="${A_RPS[$i]}" -v s="${S_RPS[$i]}" 'BEGIN { printf "%.3f", a / s }')")
    PAIRED_H+=("$(awk -v a="${A_RPS[$i]}" -v h="${H_RPS[$i]}" 'BEGIN { printf "%.1f", 100 * (1 - h / a) }')")
done
awk -v a="$a" -v s="$s" -v h="$h" -v pr="$(median "${PAIRED_R[@]}")" -v ph="$(median "${PAIRED_H[@]}")" 'BEGIN {
    printf "ratio    ahead/static = %.3f of medians, %.3f median of per-repetition ratios (target >= 0.9)\n", a / s, pr
    printf "hotswap  %.1f%% throughput lost with a swap every '"$SWAP_MS"' ms, %.1f%% median per repetition (target < 10%%)\n", 100 * (1 - h / a), ph }'
echo "per repetition: ratio ${PAIRED_R[*]}; hot-swap loss % ${PAIRED_H[*]}"

# Every run, for bench/plot.py.
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
mkdir -p "$RESULTS_DIR"
results=$RESULTS_DIR/server.json
[ "${SHUFFLE:-0}" != 1 ] || results=$RESULTS_DIR/server-shuffled.json
python3 - "$results" "$WORK/runs.txt" "$MEDIAN_BYTES" "$DURATION" "$SERVER_THREADS" "$PIN" "$SWAP_MS" \
    "${SNAPSHOT_MEMORY:-copy}" <<'EOF'
import json, os, platform, sys, time
path, runs, median_bytes, duration, threads, pin, swap_ms, memory = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
keys = ("server", "rep", "connections", "rps", "p50_us", "p99_us", "errors")
rows = [dict(zip(keys, [f[0]] + [int(x) for x in f[1:]])) for f in (l.split() for l in open(runs))]
doc = {"date": time.strftime("%Y-%m-%d"),
       "machine": f"{os.cpu_count()} CPUs, {cpu}, {platform.system()} {platform.release()}",
       "dataset": "npm-downloads", "static_file_bytes": int(median_bytes), "duration": duration,
       "server_threads": int(threads), "pinned": pin == "1", "swap_ms": int(swap_ms),
       "snapshot_memory": memory}
lines = [f' "{k}": {json.dumps(v)}' for k, v in doc.items()]
lines.append(' "runs": [\n' + ",\n".join("  " + json.dumps(r) for r in rows) + "\n ]")
with open(path, "w") as f:
    f.write("{\n" + ",\n".join(lines) + "\n}\n")
print(f"results: {path}")
EOF
