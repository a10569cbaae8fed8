#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_korean.py: a Korean dataset and its keystroke files for bench/korean.sh.

    python3 bench/make_korean.py OUT_DIR [--dic /usr/share/hunspell/ko.dic]

Writes OUT_DIR/korean.tsv: every word of Debian's hunspell-ko made only of
Hangul syllables (1 to 6; the dictionary stores them as conjoining jamo,
recomposed to NFC here) with a count. hunspell-ko has no frequencies and no
Korean list with counts was found on this machine's registries, so counts
are Zipf-shaped (1,000,000 / rank) over a fixed-seed shuffle: the shape of a
real log, not its order. Then, from 20,000 words sampled by count:

    korean.typed      what a 2-set input method shows after every key
                      (ㅎ, 하, 한, 한ㄱ, 한구, 한국; 달 + ㄱ shows 닭)
    korean.initials   initial-consonant queries: the leading consonants of
                      each word's first 2..n syllables (ㅎㄱ for 한국)
"""
import argparse
import bisect
import random
import sys
import unicodedata

SBASE, NCOUNT, TCOUNT = 0xAC00, 588, 28
COMPAT_LEADING = [0x3131, 0x3132, 0x3134, 0x3137, 0x3138, 0x3139, 0x3141, 0x3142, 0x3143, 0x3145,
                  0x3146, 0x3147, 0x3148, 0x3149, 0x314A, 0x314B, 0x314C, 0x314D, 0x314E]
# Compound vowels and trailing consonants: their two keys (vowel / trailing indexes).
VOWEL_KEYS = {9: (8, 0), 10: (8, 1), 11: (8, 20), 14: (13, 4), 15: (13, 5), 16: (13, 20), 19: (18, 20)}
TRAILING_KEYS = {3: (1, 19), 5: (4, 22), 6: (4, 27), 9: (8, 1), 10: (8, 16), 11: (8, 17),
                 12: (8, 19), 13: (8, 25), 14: (8, 26), 15: (8, 27), 18: (17, 19)}
TRAILING_AS_LEADING = {1: 0, 2: 1, 4: 2, 7: 3, 8: 5, 16: 6, 17: 7, 19: 9, 20: 10, 21: 11, 22: 12,
                       23: 14, 24: 15, 25: 16, 26: 17, 27: 18}
LEADING_AS_TRAILING = {v: k for k, v in TRAILING_AS_LEADING.items()}


def syllable(l, v, t):
    return chr(COMPAT_LEADING[l]) if v is None else chr(SBASE + (l * 21 + v) * TCOUNT + t)


def typed_states(word):
    """What the input method shows after each key of word (syllables only)."""
    done, cur, out = "", None, []  # cur: [l, v, t]
    for ch in word:
        s = ord(ch) - SBASE
        l, v, t = s // NCOUNT, s % NCOUNT // TCOUNT, s % TCOUNT
        keys = [("l", l)] + [("v", x) for x in VOWEL_KEYS.get(v, (v,))]
        keys += [("t", x) for x in (TRAILING_KEYS.get(t, (t,)) if t else ())]
        for kind, x in keys:
            if kind == "l":
                as_t = LEADING_AS_TRAILING.get(x)
                compound = cur and cur[2] and as_t and \
                    next((c for c, p in TRAILING_KEYS.items() if p == (cur[2], as_t)), None)
                if cur and cur[1] is not None and cur[2] == 0 and as_t:
                    cur[2] = as_t
                elif compound:
                    cur[2] = compound
                else:
                    if cur:
                        done += syllable(*cur)
                    cur = [x, None, 0]
            elif kind == "v":
                if cur[2]:  # the last trailing key leads the new syllable
                    pair = TRAILING_KEYS.get(cur[2])
                    last, rest = (pair[1], pair[0]) if pair else (cur[2], 0)
                    done += syllable(cur[0], cur[1], rest)
                    cur = [TRAILING_AS_LEADING[last], x, 0]
                elif cur[1] is not None:
                    cur[1] = next(c for c, p in VOWEL_KEYS.items() if p == (cur[1], x))
                else:
                    cur[1] = x
            else:
                cur[2] = next(c for c, p in TRAILING_KEYS.items() if p == (cur[2], x)) if cur[2] else x
            out.append(done + syllable(*cur))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--dic", default="/usr/share/hunspell/ko.dic")
    ap.add_argument("--samples", type=int, default=20000)
    args = ap.parse_args()
    words, seen = [], set()
    with open(args.dic, encoding="utf-8") as f:
        next(f)
        for line in f:
            w = unicodedata.normalize("NFC", line.split("/")[0].strip())
            if w and w not in seen and len(w) <= 6 and all(SBASE <= ord(c) < SBASE + 11172 for c in w):
                seen.add(w)
                words.append(w)
    rng = random.Random(20261205)
    rng.shuffle(words)
    counts = [max(1, 1000000 // (r + 1)) for r in range(len(words))]
    with open(f"{args.out}/korean.tsv", "w", encoding="utf-8") as f:
        for w, c in zip(words, counts):
            f.write(f"{w}\t{c}\n")
    cumulative, total = [], 0
    for c in counts:
        total += c
        cumulative.append(total)
    typed = initials = 0
    with open(f"{args.out}/korean.typed", "w", encoding="utf-8") as t, \
            open(f"{args.out}/korean.initials", "w", encoding="utf-8") as i:
        for _ in range(args.samples):
            w = words[bisect.bisect_right(cumulative, min(int(rng.random() * total), total - 1))]
            for state in typed_states(w):
                t.write(state + "\n")
                typed += 1
            cons = "".join(chr(COMPAT_LEADING[(ord(c) - SBASE) // NCOUNT]) for c in w)
            for n in range(2, len(cons) + 1):
                i.write(cons[:n] + "\n")
                initials += 1
    print(f"make_korean.py: {len(words)} words; {typed} typed states, {initials} initials queries",
          file=sys.stderr)


if __name__ == "__main__":
    main()
