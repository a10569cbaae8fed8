#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Remakes the seed snapshots of tests/fuzz/corpus/fuzz_snapshot/ with this
# tree's ahead-build, after a change of the snapshot format (a seed of an old
# version is refused at open, so it would seed nothing):
#
#   bash tests/fuzz/seeds.sh [BUILD_DIR]     (default build/)
set -euo pipefail
cd "$(dirname "$0")/../.."
b=${1:-build}/ahead-build
out=tests/fuzz/corpus/fuzz_snapshot
sample=$(mktemp)
trap 'rm -f "$sample"' EXIT
head -12 data/sample.tsv > "$sample"
u=tests/fuzz/unicode-lines.tsv
"$b" --quiet "$sample" -o "$out/sample12"
"$b" --quiet -k 1 --bucket-size 1 "$sample" -o "$out/k1-bucket1"
"$b" --quiet --no-infix --hot-nodes 0 "$sample" -o "$out/noinfix-nohot"
"$b" --quiet --no-typo-index "$sample" -o "$out/notypo"
"$b" --quiet -k 3 --word-leaf 1 --hot-nodes 64 "$u" -o "$out/unicode-words"
"$b" --quiet -k 2 --bucket-size 4 "$u" -o "$out/unicode-k2"
# With contexts: the sample's first lines, each in one or two of three values.
awk -F'\t' 'NR <= 12 { print $1 "\t" $2 "\t" (NR % 3 == 0 ? "shoes" : NR % 3 == 1 ? "café,men" : "x y") }' \
    data/sample.tsv > "$sample"
"$b" --quiet -k 4 "$sample" -o "$out/contexts"
# Hangul: jamo keys and the initial-consonant section.
printf '한국\t9\n서울 특별시\t8\n닭고기\t7\n(달걀)\t6\n학교\t5\n' > "$sample"
"$b" --quiet -k 3 "$sample" -o "$out/korean"
ls -l "$out"
