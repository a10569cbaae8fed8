#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_prefixes.py: the keystroke prefix file for the lookup and server benchmarks.

Samples N entries (default 20,000) of a text<TAB>count dataset with probability
proportional to count, with a fixed seed, and writes every prefix of each
sampled text of length 1 to 12 characters (code points), one per line: what a
user types into a search box, keystroke by keystroke, weighted by popularity.

    python3 bench/make_prefixes.py DATASET[.gz] OUT [--samples N] [--seed S] [--contexts]

With --contexts, the dataset's lines are text<TAB>count<TAB>V1,V2,...: only
lines with contexts are sampled, each in one of its values (picked with the
same generator), and every prefix is written as PREFIX<TAB>V, which
ahead-bench-lookup looks up within V.

The same dataset, N and seed give the same file on any machine: sampling uses
Python's random.Random (Mersenne Twister, stable across versions for
random() with an integer seed) over a cumulative-count table, not choices().
"""
import argparse
import bisect
import gzip
import random
import sys


def read_dataset(path, contexts):
    opener = gzip.open if path.endswith(".gz") else open
    texts, values, cumulative, total = [], [], [], 0
    with opener(path, "rt", encoding="utf-8", newline="\n") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2 or not fields[0] or not fields[1].isdigit() or int(fields[1]) == 0:
                continue
            if contexts and len(fields) < 3:
                continue
            total += int(fields[1])
            texts.append(fields[0])
            values.append([v.strip(" ") for v in fields[2].split(",")] if contexts else None)
            cumulative.append(total)
    return texts, values, cumulative, total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("out")
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--max-chars", type=int, default=12)
    ap.add_argument("--contexts", action="store_true")
    args = ap.parse_args()

    texts, values, cumulative, total = read_dataset(args.dataset, args.contexts)
    if not texts:
        sys.exit("make_prefixes.py: no usable lines in " + args.dataset)
    rng = random.Random(args.seed)
    lines = 0
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        for _ in range(args.samples):
            # An integer in [0, total) drawn from 53-bit floats is exact enough
            # for weights; bisect maps it to the entry that owns that count.
            pick = min(int(rng.random() * total), total - 1)
            at = bisect.bisect_right(cumulative, pick)
            text = texts[at]
            within = "\t" + values[at][int(rng.random() * len(values[at]))] if args.contexts else ""
            for n in range(1, min(len(text), args.max_chars) + 1):
                out.write(text[:n] + within + "\n")
                lines += 1
    print(f"make_prefixes.py: {args.samples} samples -> {lines} prefixes in {args.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
