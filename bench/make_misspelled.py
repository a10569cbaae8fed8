#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_misspelled.py: the misspelled prefix file for the typo benchmark.

Reads a keystroke prefix file (bench/make_prefixes.py) and writes every prefix
of 4 or more code points with random edits, as a hurried typist makes them:
one edit for 4 to 7 code points, two for 8 or more (the most the typo budget
forgives at those lengths). An edit is a substitution, an insertion, a
deletion or a transposition of two neighbours, never at position 0 (the
first letter is never a typo), at distinct positions. Letters put in are
drawn from the prefix file's own characters in proportion to their use, so
the typos look like the data. Prefixes shorter than 4 code points are left
out: no typo is forgiven there.

    python3 bench/make_misspelled.py PREFIXES OUT [--seed S]

The same input and seed give the same file on any machine (random.Random
with an integer seed; only random(), randrange() and choice() on lists).
"""
import argparse
import random
import sys


def edit(rng, text, letters, used):
    """One edit of text at a position >= 1 not in used; returns the new text and position."""
    ops = ["sub", "ins", "del", "swap"]
    for _ in range(32):
        op = ops[rng.randrange(4)]
        if op == "ins":
            at = 1 + rng.randrange(len(text))
        else:
            at = 1 + rng.randrange(len(text) - 1)
        if at in used or (op == "swap" and (at + 1 >= len(text) or at + 1 in used)):
            continue
        if op == "sub":
            c = text[at]
            while c == text[at]:
                c = letters[rng.randrange(len(letters))]
            return text[:at] + c + text[at + 1:], at
        if op == "ins":
            return text[:at] + letters[rng.randrange(len(letters))] + text[at:], at
        if op == "del":
            return text[:at] + text[at + 1:], at
        if text[at] != text[at + 1]:
            return text[:at] + text[at + 1] + text[at] + text[at + 2:], at
    return text, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefixes")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=20261202)
    args = ap.parse_args()

    with open(args.prefixes, encoding="utf-8", newline="\n") as f:
        prefixes = [line.rstrip("\n") for line in f]
    letters = [c for p in prefixes for c in p if not c.isspace()]
    if not letters:
        sys.exit("make_misspelled.py: no prefixes in " + args.prefixes)
    rng = random.Random(args.seed)
    written = 0
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        for p in prefixes:
            if len(p) < 4:
                continue
            edits = 1 if len(p) < 8 else 2
            used = set()
            for _ in range(edits):
                p, at = edit(rng, p, letters, used)
                if at is not None:
                    used.update((at - 1, at, at + 1))
            out.write(p + "\n")
            written += 1
    print(f"make_misspelled.py: {written} misspelled prefixes in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
