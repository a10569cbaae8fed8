#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# swap_cost.sh: the throughput a realistic swap rate costs at saturation
# (issue 15, section 4): one swap a minute for MINUTES minutes, and the
# cost of one swap in core-milliseconds of serving time per 100 MB of
# snapshot.
#
# One event loop pinned to CPU 1 serves npm-downloads (two snapshots of it
# with different ids, alternated by hard link + rename + POST
# /admin/reload, as a deployment does); wrk -t1 -c64 on CPU 0 replays the
# keystroke prefixes (bench/prefixes.lua) for the whole run. Every second
# the server's request counter is read from /metrics, so the run is a
# series of per-second rates. The first swap comes 30 s in, then one a
# minute. The baseline is the median rate over the seconds at least 3 s
# before and 10 s after any swap; a swap's cost is the requests missing
# against it from 2 s before to 10 s after. Printed: the baseline, each
# swap's reload time and missing requests, the share of the run's requests
# lost (target <= 1%), and the missing serving time per swap in
# core-milliseconds per 100 MB of snapshot (one core serves).
#
# Usage: bench/swap_cost.sh [MINUTES] [BUILD_DIR]
# Environment: DATA [../shared/data]; SERVER_OPTS [none: the defaults]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MINUTES=${1:-10}
BUILD=${2:-$ROOT/build}
DATA=${DATA:-$ROOT/../shared/data}
OUT=$ROOT/bench/out
SERVE=$BUILD/ahead-serve
read -r -a OPTS <<<"${SERVER_OPTS:-}"
[ -s "$DATA/npm-downloads.tsv.gz" ] || {
    echo "swap_cost.sh: $DATA/npm-downloads.tsv.gz not found: skipped" >&2
    exit 0
}
CLIENT_CPU=() SERVER_CPU=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    CLIENT_CPU=(taskset -c 0) SERVER_CPU=(taskset -c 1)
fi
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ahead-swapcost-XXXXXX)
SERVE_PID=''
cleanup() {
    [ -z "$SERVE_PID" ] || kill "$SERVE_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The npm snapshots and prefixes bench_server.sh uses, and ahead-serve on free ports.
# shellcheck source=bench/swap_common.sh
. "$ROOT/bench/swap_common.sh"
npm_inputs
start_ahead --threads 1 "${OPTS[@]}"
PORT=$AHEAD_PORT ADMIN=$ADMIN_PORT

SECONDS_RUN=$((MINUTES * 60))
# A 5 s warm-up, then the measured run.
"${CLIENT_CPU[@]}" wrk -t1 -c64 -d5s -s "$ROOT/bench/prefixes.lua" "http://127.0.0.1:$PORT" \
    -- "$OUT/prefixes-npm.txt" /v1/complete 10 >/dev/null
"${CLIENT_CPU[@]}" wrk -t1 -c64 -d"$((SECONDS_RUN + 2))s" --timeout 10s -s "$ROOT/bench/prefixes.lua" \
    "http://127.0.0.1:$PORT" -- "$OUT/prefixes-npm.txt" /v1/complete 10 >"$WORK/wrk.txt" &
WRK_PID=$!

# The sampler and the swapper, on the clients' CPU: a request a second and a swap a minute.
"${CLIENT_CPU[@]}" python3 - "$ADMIN" "$WORK" "$SECONDS_RUN" "$(stat -c %s "$WORK/a.snap")" "$SERVE_PID" <<'EOF'
import glob, json, os, re, statistics, sys, time, urllib.request

admin, work, seconds, size, pid = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                   int(sys.argv[4]), int(sys.argv[5]))
base = f"http://127.0.0.1:{admin}"

def reloader_ns():
    """CPU time (ns) of the server's reload thread, which does a swap's checking."""
    for task in glob.glob(f"/proc/{pid}/task/*"):
        if open(task + "/comm").read().strip() == "ahead-reload":
            return int(open(task + "/schedstat").read().split()[0])
    return 0

def served():
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    return sum(float(m.group(1)) for m in
               re.finditer(r'^ahead_requests_total\{[^}]*\} (\S+)$', text, re.M))

def swap(which):
    src = os.path.join(work, "b.snap" if which else "a.snap")
    tmp = os.path.join(work, "live", ".npm.snap.tmp")
    os.link(src, tmp)
    os.rename(tmp, os.path.join(work, "live", "npm.snap"))
    t0 = time.monotonic()
    req = urllib.request.Request(base + "/admin/reload", method="POST", data=b"")
    body = json.loads(urllib.request.urlopen(req, timeout=60).read())
    return time.monotonic() - t0, '"changed": true' in json.dumps(body)

start = time.monotonic()
counts, swaps, which = [served()], [], 0
for second in range(1, seconds + 1):
    if second % 60 == 30:
        which = 1 - which
        cpu0 = reloader_ns()
        took, changed = swap(which)
        swaps.append((second, took, changed, (reloader_ns() - cpu0) / 1e6))
    time.sleep(max(0, start + second - time.monotonic()))
    counts.append(served())
rates = [b - a for a, b in zip(counts, counts[1:])]  # rates[i]: during second i+1
near = set()
for s, *_ in swaps:
    near.update(range(s - 3, s + 11))
quiet = [r for i, r in enumerate(rates, 1) if i not in near]
baseline = statistics.median(quiet)
lost = 0.0
print(f"baseline {baseline:.0f} req/s (median of {len(quiet)} quiet seconds; "
      f"quiet seconds' p10-p90 {statistics.quantiles(quiet, n=10)[0]:.0f}-{statistics.quantiles(quiet, n=10)[-1]:.0f})")
for s, took, changed, cpu_ms in swaps:
    window = [rates[i - 1] for i in range(s - 2, s + 11) if 1 <= i <= len(rates)]
    missing = sum(baseline - r for r in window)
    lost += missing
    print(f"swap at {s:4d} s: reload {took * 1000:.0f} ms{'' if changed else ' (NOT CHANGED)'}, "
          f"reload thread CPU {cpu_ms:.1f} ms, {missing:+.0f} requests missing over the 13 s around it")
total = sum(rates)
print(f"run: {total:.0f} requests in {seconds} s; lost to {len(swaps)} swaps: {lost:.0f} "
      f"= {lost / (total + lost) * 100:.2f}% of the run (target <= 1%)")
per_swap_ms = lost / len(swaps) / baseline * 1000
print(f"one swap, from the missing requests: {per_swap_ms:.0f} core-ms of serving time for a "
      f"{size / 1e6:.1f} MB snapshot = {per_swap_ms * 100e6 / size:.0f} core-ms per 100 MB")
cpu = statistics.median(c for *_, c in swaps)
print(f"one swap, the reload thread's CPU (median): {cpu:.1f} ms = {cpu * 100e6 / size:.1f} core-ms "
      f"per 100 MB (on the serving core: the server is pinned to it)")
EOF
wait "$WRK_PID"
echo "wrk: $(grep -E '^Requests/sec|^PREFIXES' "$WORK/wrk.txt" | tr '\n' ' ')"
