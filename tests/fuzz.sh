#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets with clang (build-fuzz/, CMake -DAHEAD_FUZZ=ON)
# and runs each for SECONDS from a copy of its seed corpus
# tests/fuzz/corpus/TARGET/, so the repository is never modified. Exits 1 on
# any finding (crash, sanitizer report, leak, timeout, out-of-memory) and
# prints the path of the input that caused it, kept for replaying:
#
#   tests/fuzz.sh SECONDS [TARGET...]     default: every target
#   build-fuzz/tests/TARGET CRASH_FILE    replays a finding
#
# The targets are those tests/CMakeLists.txt declares with ahead_fuzz(),
# listed by CMake in build-fuzz/fuzz_targets.txt: adding a target is one
# line there. One target runs at a time (the machine may have 2 cores).
# Environment: FUZZ_CORPUS_DIR=DIR keeps each target's corpus in DIR/TARGET
# across runs (seeded from the repository's on first use) instead of a
# temporary copy; FUZZ_JOBS sets the build's parallelism (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
    echo "usage: tests/fuzz.sh SECONDS [TARGET...]" >&2
    exit 2
fi
seconds=$1
shift

cmake -S . -B build-fuzz -DAHEAD_FUZZ=ON -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(grep -v '^$' build-fuzz/fuzz_targets.txt)
fi
cmake --build build-fuzz -j"${FUZZ_JOBS:-2}" --target "${targets[@]}" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/ahead-fuzz.XXXXXX")
failed=0
for t in "${targets[@]}"; do
    if [ -n "${FUZZ_CORPUS_DIR:-}" ]; then
        corpus=$FUZZ_CORPUS_DIR/$t
    else
        corpus=$work/$t/corpus
    fi
    if [ ! -d "$corpus" ]; then
        mkdir -p "$corpus"
        # A target without seeds yet starts from nothing, which libFuzzer allows.
        [ ! -d "tests/fuzz/corpus/$t" ] || cp -r "tests/fuzz/corpus/$t/." "$corpus/"
    fi
    mkdir -p "$work/$t/findings"
    log=$work/$t/log
    echo "== fuzz $t: $seconds s from $(find "$corpus" -type f | wc -l) inputs"
    status=0
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
        "build-fuzz/tests/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$t/findings/" "$corpus" >"$log" 2>&1 ||
        status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    findings=$(find "$work/$t/findings" -type f | wc -l)
    echo "fuzz: $t: ${runs:-?} executions in $seconds s, $findings finding(s), exit $status"
    sed -n 's/^stat::/    /p' "$log"
    if [ "$status" -ne 0 ] || [ "$findings" -gt 0 ]; then
        failed=1
        tail -n 40 "$log"
        echo "fuzz: $t FAILED; its log: $log"
        find "$work/$t/findings" -type f | sed 's/^/fuzz: crashing input: /'
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: findings kept in $work" >&2
    exit 1
fi
rm -rf "$work"
