#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test command of the README's quick start, and what CI runs: installs
# what is missing, checks formatting, then builds ahead twice (a normal
# build, and one with AddressSanitizer + UndefinedBehaviorSanitizer) and runs
# every Check suite and integration test in both with ctest; then every
# libFuzzer target for 10 seconds (tests/fuzz.sh, clang in build-fuzz/);
# last, the hostile-clients test, three replicas behind nginx with
# rollouts, a killed replica and rollouts killed at each step, and a 60 s soak (bench/hostile.sh,
# bench/deploy.sh, bench/soak.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/deps.sh test

echo "== clang-format"
git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

# ctest shows a passing test's output only in its log: say what was skipped.
run_ctest() {
    (cd "$1" && ctest --output-on-failure)
    grep -h ': skipped$' "$1/Testing/Temporary/LastTest.log" | sort -u | sed 's/^/note: /' || true
}

jobs=$(nproc)
echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
run_ctest build

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DAHEAD_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/server/lsan.supp
run_ctest build-asan

echo "== fuzz (10 s per target)"
FUZZ_JOBS=$jobs bash tests/fuzz.sh 10

# Reliability under hostile clients and over a minute of reloads, at the
# scale of a test; bench/RESULTS.md has the long runs.
echo "== hostile clients"
ALONE=10 MALFORMED=10000 MIN_RATIO=0 bash bench/hostile.sh build
echo "== three replicas behind nginx: rollouts, a replica killed, rollouts killed"
COMPARE=0 bash bench/deploy.sh 20 build
echo "== soak (60 s)"
GROWTH_PCT=5 bash bench/soak.sh 60 build
