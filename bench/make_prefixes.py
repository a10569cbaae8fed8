#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_prefixes.py: the keystroke prefix file for the lookup and server benchmarks.

Samples N entries (default 20,000) of a text<TAB>count dataset with probability
proportional to count, with a fixed seed, and writes every prefix of each
sampled text of length 1 to 12 characters (code points), one per line: what a
user types into a search box, keystroke by keystroke, weighted by popularity.

    python3 bench/make_prefixes.py DATASET[.gz] OUT [--samples N] [--seed S]

The same dataset, N and seed give the same file on any machine: sampling uses
Python's random.Random (Mersenne Twister, stable across versions for
random() with an integer seed) over a cumulative-count table, not choices().
"""
import argparse
import bisect
import gzip
import random
import sys


def read_dataset(path):
    opener = gzip.open if path.endswith(".gz") else open
    texts, cumulative, total = [], [], 0
    with opener(path, "rt", encoding="utf-8", newline="\n") as f:
        for line in f:
            text, _, count = line.rstrip("\n").rpartition("\t")
            if not text or not count.isdigit() or int(count) == 0:
                continue
            total += int(count)
            texts.append(text)
            cumulative.append(total)
    return texts, cumulative, total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("out")
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--max-chars", type=int, default=12)
    args = ap.parse_args()

    texts, cumulative, total = read_dataset(args.dataset)
    if not texts:
        sys.exit("make_prefixes.py: no usable lines in " + args.dataset)
    rng = random.Random(args.seed)
    lines = 0
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        for _ in range(args.samples):
            # An integer in [0, total) drawn from 53-bit floats is exact enough
            # for weights; bisect maps it to the entry that owns that count.
            pick = min(int(rng.random() * total), total - 1)
            text = texts[bisect.bisect_right(cumulative, pick)]
            for n in range(1, min(len(text), args.max_chars) + 1):
                out.write(text[:n] + "\n")
                lines += 1
    print(f"make_prefixes.py: {args.samples} samples -> {lines} prefixes in {args.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
