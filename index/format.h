/* SPDX-License-Identifier: MIT */
/*
 * format.h: the snapshot file format, byte by byte. This is the format's one
 * home: no other file hard-codes an offset. A layout change bumps
 * AH_FORMAT_VERSION and this text in the same commit.
 *
 * All integers are little-endian. "varint" is LEB128: 7 bits per byte, low
 * group first, high bit set on every byte but the last, at most 10 bytes
 * (300 = 0xAC 0x02). A "packed array of width w" stores value i in bits
 * [i*w, i*w+w) of a little-endian bit stream (bit 0 is the low bit of byte 0).
 * Every section ends in AH_SECTION_PAD (16) zero bytes of padding, counted in
 * its length, so that a reader may load 9 bytes at any bit position inside.
 *
 * WHAT IS STORED, AND WHY
 * -----------------------
 * n completions, each a (key, display text, score). Two orders matter:
 *
 *   lex id   the position of the key in byte-wise sorted order. Every prefix
 *            is a contiguous lex range [lo, hi), so the keys are stored in
 *            this order, front-coded.
 *   rank     ranking order: score descending, ties by key ascending. A top-k
 *            is the k best-ranked keys of a lex range.
 *
 *   KEYS        front-coded keys in lex order, in buckets of B (bucket_size):
 *               a bucket's first key is whole, each next key stores only the
 *               length it shares with the previous one and the rest. The
 *               lengths come first, in their own arrays, so reading key i
 *               sums at most B-1 small integers and copies each byte once.
 *   KEY_INDEX   u32 offset into KEYS of each bucket, and one more: KEYS's used
 *               length. Bounds for every bucket.
 *   SCORES      the distinct scores, descending, as u64: real counts repeat a
 *               lot (npm-downloads: 3.7M names, 82k distinct counts).
 *   CLASSES     packed array, width class bits: for each lex id, the index of
 *               its score in SCORES, its "score class". Ranking by (class, lex
 *               id) ascending is ranking by (score desc, key asc), so one
 *               64-bit integer class << 32 | id orders completions exactly,
 *               and a result's score is one look-up in a small, hot table.
 *   NODES       the top of a compacted (path-compressed, byte-wise) trie over
 *               the keys: the root, and every node whose subtree holds more
 *               than K = topk completions. Each such "inner" node carries its
 *               top-K list (lex ids). A subtree of at most K completions needs
 *               no list (its answer is all of it) and no node: the reader
 *               scans its lex range in KEYS. Inner nodes are enumerable (child
 *               tables), and below them the sorted keys with their shared
 *               prefix lengths are the rest of the trie, walkable in order.
 *   DISPLAY     the display texts that differ from their key (case, accents,
 *               width kept); a text equal to its key is not stored twice.
 *   HOT_TEXTS   the texts of the answers of hot nodes (below), each once.
 *   HOT_PATHS / HOT_SLOTS
 *               a hash table from the prefixes that hot nodes answer to the
 *               nodes: the popular prefixes skip the trie descent.
 *   WORD_NODES / WORD_ENTRIES
 *               the word-start index, for matches in the middle of a text
 *               ("york" finds "new york"): a second compacted trie, over
 *               every suffix of every key that begins at a word start after
 *               the first (match.h defines word starts). Its leaves list
 *               lex ids, best-ranked first; the suffixes themselves are not
 *               stored, they are read from KEYS. Left out by --no-infix.
 *   LOOK / WORD_LOOK
 *               the typo index, part one: for every child of every inner
 *               node of either trie, which bytes follow its edge byte below
 *               it (one 32-bit class mask for the next byte, one for the
 *               next two). A typo search whose state has no edit left must
 *               continue exactly; the walk drops a child that cannot
 *               without reading the child.
 *   GRAM_SLOTS / GRAM_BLOCKS
 *               the typo index, part two: every prefix of 5 to 8 code
 *               points of every key and of every word-start suffix, filed
 *               under where the typed prefix must continue exactly: its
 *               first code point, a depth j (2..typo depth) and the two
 *               code points at j and j + 1, with the code points before j
 *               (the "head") as the record. Left out, with LOOK, by
 *               --no-typo-index. The typo depth is 5, or 4 where
 *               ahead-build's size budget gives that level up for smaller
 *               word-start leaves.
 *   CHOSEONG    only when some key holds Hangul: for initial-consonant
 *               search (ㅅㅇㅌ finds 서울 특별시), each such completion's
 *               runs of syllables as their leading consonants, one
 *               record per completion in ranking order, so that a scan
 *               for the k best can stop at the k-th match.
 *   FILLS       only when built (ahead-build --fills): for the most popular
 *               prefixes whose exact answer is short of K, what the later
 *               tiers of a default lookup add to it (typo and word-start
 *               matches, search.c), worked out by the builder with the
 *               lookup itself. A popular prefix then costs an exact lookup
 *               and a probe; the typo walk is left to the rarer ones.
 *   CONTEXTS    only when input lines named contexts (a third field): for
 *               each context value V, a whole snapshot of this format of
 *               the completions that belong to V, scored by their counts
 *               in V. A lookup in context V is a lookup in V's snapshot,
 *               so every matching rule holds within a context exactly as
 *               without one. This is the completion suggester's way in
 *               Elasticsearch (an entry per context and input) with each
 *               context's entries apart, so that one context's lookup
 *               reads only its own trie and top-k lists.
 *
 * Why this shape. Hsu & Ottaviano (WWW 2013) compare completion tries that
 * keep a max score per node and search with a heap (small, but a top-k costs
 * O(k log k) node visits, each a few cache misses) with an RMQ over scores in
 * lex order. Gog, Pibiri & Venturini (SIGIR 2020) store a front-coded
 * dictionary and make ids follow score order so that comparing ids compares
 * scores. We take the front-coded lex dictionary from the latter, get the
 * same cheap comparison from score classes (fewer bits than a rank: 17
 * instead of 22 on npm-downloads), and replace the heap/RMQ search by
 * precomputed top-K lists on the
 * few trie nodes big enough to need one: on npm-downloads (3.7M names) only
 * 14% of the trie's branching nodes hold more than 10 completions, so the
 * lists are small, and a lookup is one trie descent plus K key decodes, with
 * no search at all. Those K decodes are K random reads into a large
 * section; for the nodes people actually type through most (by summed
 * score) the answers are stored inline instead, a cache of a few percent of
 * the file built from the data itself. List entries and child ranges are stored relative to
 * their node's lex range, in the fewest whole bytes that hold that range, so
 * the many small nodes pay one byte per entry.
 *
 * Typo tolerance at an exact lookup's cost (the typo index). A typo pass
 * carries the edit distance down a trie (match.h); on npm-downloads 90% of
 * its work was states that had spent every edit within the first five
 * code points: two substitutions early make every three-letter prefix
 * under the typed first letter alive, and each one must then be checked
 * for the typed prefix's exact continuation, one node read at a time. Such
 * a state can only go on one way, so the question "which heads of j code
 * points are followed by Q[x], Q[x+1] (and Q[x+2])" is answered for all of
 * them at once by one probe of the gram table: a pass drops states that
 * run out of edits at depth j <= J (J = min(typo depth, n - d - 2)) and
 * asks the table instead, for each depth j and each position x of Q they
 * could continue from. The heads it returns are checked with the same
 * distance step, and each that passes is a prefix whose completions all
 * match. Deeper states that have run out of edits, and states with one
 * edit left that the table covers for the next few code points, are
 * dropped when their child's lookahead masks show that the bytes the
 * typed prefix needs next are not there. The prefix sets were measured
 * against a deletion index (SymSpell): a cut at 6 code points needs 22.7M
 * postings for npm-downloads' keys and word starts, at 7 code points
 * 43.5M; the gram table holds 6.9M heads.
 *
 * Typo-tolerant lookups walk the same trie: inner nodes are enumerable and
 * light ranges are read from KEYS in order, so the edit distance can be
 * carried down edges (match.h), and a node's list, whose first entry is
 * its subtree's best completion, bounds what a subtree can still offer.
 * The word-start index is the one structure matching adds. npm-downloads
 * has 8.4M word starts after the first in 3.7M names (2.3 per name), and
 * their suffixes, front-coded on their own, would take more room than all
 * the keys (39 MB against 32 MB), so the index stores only which key each
 * suffix belongs to (one packed lex id, 22 bits on npm) and finds the word
 * start again in the key when it needs the text. Leaves hold up to
 * leaf-size entries (64 by default) in rank order, so a leaf's best
 * entries come first and a scan stops as soon as the rest cannot rank.
 *
 * FILE LAYOUT
 * -----------
 *   [header: 128 bytes] [section table: AH_SECTION_COUNT x 24 bytes] [sections...]
 *
 * HEADER (offset 0)
 *   OFFSET SIZE DESCRIPTION
 *        0    8 magic "AHEADIDX"
 *        8    4 format version (AH_FORMAT_VERSION)
 *       12    4 header size in bytes (128)
 *       16    8 file size in bytes
 *       24    8 content id: ah_hash64 chained over every section's bytes in
 *               table order, seeded with topk and bucket_size. Equal content
 *               and parameters give an equal id; used as snapshot id and ETag.
 *       32    4 n: number of completions (at least 1)
 *       36    4 topk K: list length, 1..AH_MAX_TOPK
 *       40    4 bucket size B: keys per front-coded bucket, a power of two
 *               from 1 to 256 (so that a lex id splits into bucket and
 *               position with a shift, not a division)
 *       44    4 max text bytes: the builder's --max-bytes
 *       48    4 max key bytes: the longest key stored
 *       52    4 inner node count
 *       56    4 class bits: width of CLASSES entries, bits needed for
 *               (distinct scores - 1), at least 1
 *       60    4 root offset: offset of the root record in NODES
 *       64    8 total score: sum of all scores, saturating at 2^64-1
 *       72    4 section count: AH_SECTION_COUNT, plus one for each of the
 *               flags AH_FLAG_CONTEXTS, AH_FLAG_CHOSEONG and AH_FLAG_FILLS
 *               (their entries follow the others', in id order)
 *       76    4 crc32 of bytes [128, file size): section table and sections
 *       80    4 distinct scores: entries in SCORES (1..n)
 *       84    4 flags: bit 0 (AH_FLAG_WORDS): the word-start index was
 *               built (it may still be empty); bit 1 (AH_FLAG_TYPO): the
 *               typo index was built (records carry look fields); bit 2
 *               (AH_FLAG_CONTEXTS): the CONTEXTS section follows the
 *               others; bit 3 (AH_FLAG_CHOSEONG): the CHOSEONG section
 *               follows them (and CONTEXTS); bit 4 (AH_FLAG_FILLS): the
 *               FILLS section follows them all; other bits zero
 *       88    4 word-start entries: word starts after the first, over all
 *               keys; the length of WORD_ENTRIES (0 without the index)
 *       92    4 word-start inner nodes: records in WORD_NODES
 *       96    4 word-start root: offset of its root record in WORD_NODES
 *               (0 and meaningless when there are no entries)
 *      100    4 leaf size T: the most entries a leaf of the word-start trie
 *               holds, except a leaf of equal suffixes (1..65535)
 *      104    4 id bits: width of WORD_ENTRIES values, bits needed for n - 1,
 *               at least 1
 *      108    4 typo depth J: heads of depths 2..J are in GRAM_BLOCKS
 *               (2..AH_MAX_GRAM_DEPTH with AH_FLAG_TYPO, else 0)
 *      112    4 gram slots: the number of GRAM_SLOTS entries, a power of
 *               two (at least 1 with AH_FLAG_TYPO, else 0)
 *      116    8 reserved, zero
 *      124    4 crc32 of header bytes [0, 124)
 *
 * SECTION TABLE (offset 128), one 24-byte entry per section, in id order
 * (1..15, then 16, 17 and 18 when their flags say they are there):
 *        0    4 section id (1..AH_SECTION_COUNT, see enum below)
 *        4    4 crc32 of the section's bytes
 *        8    8 offset from the start of the file (8-byte aligned)
 *       16    8 length in bytes, padding included
 *   Sections do not overlap and lie inside the file.
 *
 * KEYS: buckets of B keys in lex order; bucket b holds c = min(B, n - bB)
 *   keys (lex ids bB .. bB+c-1) and starts at KEY_INDEX[b]:
 *     OFFSET SIZE   DESCRIPTION
 *          0 1      flags: bit 0 set: W = 2, else W = 1 (bytes per length);
 *                   bit 1 set: some key here has a display text; others zero
 *          1 c*W    S[j], j < c: bytes key j shares with key j-1 (S[0] = 0)
 *      1+c*W c*W    A[j]: bytes key j adds after those
 *     1+2c*W        if bit 1: ceil(c/8) bytes of bitmap (bit j%8 of byte j/8:
 *                   key j has a display text), then one u32 offset in DISPLAY
 *                   per set bit, in key order
 *          .. sum(A) the added bytes of keys 0..c-1, one after the other
 *   Key j is key j-1's first S[j] bytes followed by its own A[j] bytes;
 *   S[j] <= len(key j-1), 1 <= S[j] + A[j] <= max key bytes. Reading key j
 *   needs only the lengths before it, not the keys: the sum of A[0..j) finds
 *   its bytes, and walking back through S fills in what it shares. Lengths
 *   are little-endian when W = 2. The bucket ends where the next begins.
 *   (Example: "car", "cart", "cat" in one bucket: S = 0 3 2, A = 3 1 1,
 *   bytes "cartt".)
 *
 * KEY_INDEX: ceil(n / B) + 1 u32 values; value b is the offset in KEYS of
 *   bucket b's head; the last is the end of the last record. Increasing.
 *
 * SCORES: distinct scores u64, strictly decreasing; every one is used.
 *
 * CLASSES: packed array of n values of width class bits, each below the
 *   number of distinct scores: score(lex id i) = SCORES[CLASSES[i]].
 *
 * NODES: inner node records in post-order (children before parents); the
 *   root is at the header's root offset. A record at offset o for a node
 *   whose lex range is [lo, lo + count), reached by the edge byte c from its
 *   parent (the root has no edge):
 *     varint  E        edge label length after c (root: its whole label)
 *     E bytes          the label
 *     varint  count    completions in the subtree (> K, except the root)
 *     varint  m        children (0..256)
 *     u8      widths   bits 0-1: (bytes per range value) - 1 = Wr - 1;
 *                      bits 2-3: (bytes per child pointer) - 1 = Wp - 1;
 *                      bit 4: the node is hot (inline answers below);
 *                      bits 5-7 zero. Wr is the fewest bytes that hold count.
 *     m bytes          first byte of each child's edge, strictly increasing
 *     m x Wr bytes     each child's lo relative to the node's lo; increasing;
 *                      the first is 0, or 1 when the node's own path is a key
 *                      (that key sorts first); child j ends where j+1 starts,
 *                      the last at count
 *     m x Wp bytes     child pointer: 0 for a child of at most K completions
 *                      (no record; scan its keys), else o minus the child's
 *                      record offset (> 0: records only point backwards)
 *     u32     look     only with AH_FLAG_TYPO: the index in LOOK of child
 *                      0's entry; child j's is look + j
 *     u8      l        list length: min(K, count)
 *     l x Wr bytes     the node's top-l lex ids relative to lo, best first
 *                      (ascending by class, then lex id)
 *     if hot, l times: varint score class, varint offset in HOT_TEXTS of
 *                      the display text: the list's answers, ready to copy
 *   Hot nodes are those whose summed score (the chance that someone typing
 *   passes through them) is among the builder's --hot-nodes largest, and the
 *   root. The set is closed upwards (a parent sums at least its child), and
 *   hot records come after all others, so the descent through the popular
 *   top of the trie reads one compact region, and a popular prefix is
 *   answered without touching KEYS or CLASSES at all.
 *   The node's path (its key prefix) is its parent's path, c, and the label.
 *
 * DISPLAY: records of varint length, then that many bytes of UTF-8, at most
 *   max text bytes. Referenced only from KEYS.
 *
 * HOT_TEXTS: records of the same form: the display text of every completion
 *   that a hot node lists, each once (a popular completion is in the lists
 *   of many hot nodes, the ones along its path), most popular first.
 *   Referenced only from hot node records.
 *
 * HOT_PATHS: the path (key prefix) of every hot node, one after the other.
 *
 * HOT_SLOTS: a hash table from a typed key prefix straight to the hot node
 *   that answers it, so that popular prefixes skip the descent. A prefix of
 *   length L answers from node v when v's parent's path is shorter than L
 *   and v's path is at least L long; every such (prefix, hot node) pair has
 *   a slot. The table has a power-of-two number of 8-byte slots (none, or
 *   up to AH_HOT_MAX_SLOTS), at least one of them empty. The builder enters
 *   the prefixes of the 2,048 hottest nodes only, so the table stays in the
 *   CPU's caches and a prefix that misses it loses little:
 *        0    4 node record offset in NODES; 0xffffffff: empty slot
 *        4    4 bits 0-11: L (0..2048); bits 12-31: offset in HOT_PATHS of
 *               a path whose first L bytes are the prefix
 *   A prefix P is looked up from slot ah_hash64(0, P, L) & (slots - 1),
 *   probing linearly to the first empty slot; a slot matches when its L and
 *   bytes equal P's. A lookup that finds nothing descends the trie.
 *
 * WORD_ENTRIES: packed array of (word-start entries) values of width id
 *   bits: one lex id (< n) per word start after the first of each key. Its
 *   order is the word-start trie's: entries of a node's subtree are a
 *   contiguous range [lo, lo + count), children in edge byte order, and the
 *   entries of a leaf ordered by (score class, lex id), best first. A key
 *   with several word starts in one leaf is there once per word start.
 *
 * WORD_NODES: the inner nodes of a compacted trie over the suffixes
 *   key[i..] of every key at each word start i > 0, in post-order, records
 *   laid out as in NODES, with these differences:
 *     - count is the number of entries (word starts) in the subtree; child
 *       ranges are relative to the node's own range in WORD_ENTRIES;
 *     - the edge byte 0x00 (never in a key) is the child of the suffixes
 *       that end at the node's path, sorted first; it never has a record;
 *     - a child pointer of 0 is a leaf: up to T entries (any number under
 *       the 0x00 edge), in rank order; a child of more than T entries has
 *       a record. The builder also gives records to smaller children near
 *       the root (paths up to 4 bytes, leaves of up to 4), where a typo
 *       search reaches almost every node and a record prunes more cheaply
 *       than keys read one by one;
 *     - the list holds l = min(K, distinct keys in the subtree) entries:
 *       the best-ranked distinct keys, each as the position of one of its
 *       entries relative to the node's lo, best first;
 *     - bit 4 of widths (hot) is zero: there are no inline answers;
 *     - look indexes WORD_LOOK (the 0x00 edge has an entry, all zero).
 *   The node's path is a prefix of key[i..] for every entry (key, i) below
 *   it; the suffix's word start i is not stored, and a reader finds it
 *   again by matching the path against the key's word starts.
 *
 * LOOK (and WORD_LOOK): one 8-byte entry per child of every record of
 *   NODES (WORD_NODES), at the record's look index plus the child's
 *   position, every entry used once; in WORD_NODES the 0x00 edge has no
 *   entry, so there the entry of child j is at look + j - 1 when child 0
 *   is the 0x00 edge. For a child whose edge byte is at offset p of its
 *   keys (suffixes), over every key (suffix) below it:
 *        0    4 next: bit ah_look_class(b) set for each byte b at p + 1
 *        4    4 pair: bit ah_look_pair(b, c) set for each two bytes b, c
 *               at p + 1, p + 2
 *   ah_look_class: 'a'..'z' -> 0..25, '0'..'9' -> 26, ' ' -> 27, '-' -> 28,
 *   '.' and '_' -> 29, any other byte below 0x80 -> 30, 0x80 and up -> 31.
 *   ah_look_pair(b, c) = ((b * 0x9E3779B1 + c * 0x85EBCA77) mod 2^32) >> 27.
 *   (Example: below "react" at p = 3, keys "reactive" and "react-dom"
 *   give next = {t}, pair = {pair(t, i), pair(t, -)}.)
 *
 * GRAM_SLOTS: a hash table of 2^s 8-byte slots (the header's gram slots),
 *   at least one empty, from a block's key to the block:
 *        0    4 block offset in GRAM_BLOCKS; 0xffffffff: empty slot
 *        4    4 check: bits 32..63 of the key's hash
 *   The key of (j, P0, g1, g2) is the 16 bytes j, P0, g1, g2 as u32; its
 *   hash is ah_hash64(0, key, 16). A key is looked up from slot hash &
 *   (2^s - 1), probing linearly to the first empty slot; a slot whose check
 *   matches is confirmed against the block's own key.
 *
 * GRAM_BLOCKS: one block per distinct (j, P0, g1, g2) over every key and
 *   every word-start suffix (the string) of at least j + 2 code points,
 *   where P0 is its code point 0 and g1, g2 those at j and j + 1:
 *     varint  j, P0, g1, g2    the block's key (2 <= j <= typo depth)
 *     varint  G                groups, 1..
 *     G x {                    by g3 ascending:
 *       varint g3              0: the string ends after g2; else 1 + its
 *                              code point j + 2
 *       varint A               4 x M + 2 (when B > 0) + 1 (when W > 0)
 *       varint B               only with bit 1 of A
 *       varint W               only with bit 0 of A
 *       M bytes of records whose heads come from keys only, then B bytes
 *       of records from keys and word-start suffixes both, then W bytes
 *       of records from word-start suffixes only
 *     }
 *   So a pass over the keys reads M + B bytes, one over the word starts
 *   B + W, each from one place. A record is one distinct head (the
 *   string's code points 1..j-1) in its group, sorted by head bytes within
 *   each of the three runs:
 *        0    1 m4: bit ah_gram_bit(code point j + 3) for each string with one
 *        1    1 m5: the same for code point j + 4
 *        2  ... the head, UTF-8, exactly j - 1 code points
 *   ah_gram_bit(c) = (c * 0x9E3779B1 mod 2^32) >> 29.
 *   (Example, j = 2: "react" and "reach" give block (2, 'r', 'a', 'c') with
 *   groups g3 = 'h' + 1 and 't' + 1, each holding the record head "e".)
 *
 * CHOSEONG (section id AH_SEC_CHOSEONG, only with AH_FLAG_CHOSEONG): a
 *   run of a key is what follows a word start (match.h) that begins a
 *   Hangul syllable (a leading consonant jamo U+1100..U+1112 followed by a
 *   vowel jamo), syllable by syllable, ASCII spaces between them skipped,
 *   until anything else; its consonants are the syllables' leading
 *   consonants as indexes 0..18 (jamo - U+1100).
 *        0    4 R: bytes of records
 *        4    R records, one per key with at least one run, in ranking
 *               order (score class, then lex id):
 *                 varint  lex id
 *                 u8      bits 0-6: runs r (1..127); bit 7: the first run
 *                         starts at the key's position 0
 *                 r x {u8 length m (1..255), m consonant indexes}
 *         ..      zero bytes to a multiple of 4 (from the section's start)
 *         ..      AH_CHOSEONG_PAIRS + 1 u32: for each pair of consonants
 *                 (c1, c2), at c1 * 19 + c2, where its postings start in
 *                 the array below (in entries); the last is their count
 *         ..      the postings: u32 offsets of records (from the first
 *                 record), for each pair those whose runs have one that
 *                 begins with it (each once), in ranking order
 *   A query of m >= 2 consonants reads only the postings of its first two.
 *   A run longer than 255 syllables keeps its first 255, a key with more
 *   than 127 runs its first 127.
 *
 * FILLS (section id AH_SEC_FILLS, only with AH_FLAG_FILLS): a hash table
 *   from a key prefix P to its fill: the answers a lookup of P with
 *   typos=auto and match=words, k = K, adds after its exact prefix answer
 *   (search.c's later tiers), in answer order. Only prefixes that some key
 *   has, with fewer than K keys (so the exact answer is all of them, and
 *   the fill is what follows it for every k), are entered.
 *        0    4 S: slots, more than E (the builder makes E + E / 3 + 1)
 *        4    4 E: entries
 *        8  S*4 slots: the offset of an entry from the section's start;
 *               0xffffffff: empty
 *     then the E entries, each:
 *        0    4 lo: the lex id of the first key with prefix P
 *        4    1 L: P's length in bytes (1..255); P is key lo's first L bytes
 *        5    1 bits 0-1: the typo budget the fill was found with (match.h's
 *               auto budget for P's code points as typed); bit 2: word
 *               starts were searched; bit 3: the builder's walk stopped
 *               short (AH_LOOKUP_MAX_WORK, or a full frontier), so there
 *               is no fill and m is 0: lookups walk; other bits zero
 *        6    1 m: answers in the fill (0..K-1)
 *        7  ... m varints, id << 3 | typos << 1 | mid-phrase, in answer order
 *   P is looked up from slot ((ah_hash64(0, P, L) >> 32) * S) >> 32 (the
 *   hash's high half scaled to [0, S)), probing linearly (slot S - 1 wraps
 *   to slot 0) to the first empty slot; an entry matches when its L is P's
 *   length and its lo is the first key of P's range. A lookup uses the
 *   fill only when its own budget and word-start setting are the entry's,
 *   and only the fill's first k minus (exact answers) answers: the answer
 *   for a smaller k is the start of the answer for K. The builder enters
 *   the prefixes with the largest summed scores (the chance that someone
 *   typing passes through them; ties: the shorter, then the first in lex
 *   order) among those of 4 code points or more, in lex order (by lo, then
 *   L); E is how many it chose, so the choice can be made again to check
 *   it (ahead-query --verify).
 *
 * CONTEXTS (section id AH_SEC_CONTEXTS, only with AH_FLAG_CONTEXTS):
 *        0    4 m: context values, 1..AH_MAX_CONTEXTS
 *        4    4 zero
 *        8 m*24 one entry per value, strictly increasing by value bytes
 *               (memcmp order, a value before the longer ones it begins):
 *                 0 8 offset of the value's snapshot from the section's
 *                     start, 8-aligned
 *                 8 8 the snapshot's length, its header's file size
 *                16 4 offset of the value's bytes from the section's start
 *                20 4 the value's length, 1..AH_MAX_CONTEXT_BYTES
 *   then the values' bytes one after the other, zero bytes to a multiple of
 *   8, and the snapshots in entry order, each followed by zero bytes to a
 *   multiple of 8. Each snapshot is a whole file of this format, checksums
 *   included, with the whole's topk, bucket size, max text bytes and word
 *   flag, without AH_FLAG_CONTEXTS, and with the typo flag only when the
 *   whole has it (ahead-build gives it to contexts of AH_CONTEXT_TYPO_MIN
 *   completions or more: a small trie is walked whole in microseconds,
 *   and the gram table would cost it more than its keys); its completions are some of
 *   the whole's, with the same keys and display texts, and its scores are
 *   the context's (every one > 0, none above the whole's); verify checks
 *   each. A value is 1..64 bytes of UTF-8 with no
 *   control character or comma, compared as bytes.
 */
#ifndef AH_FORMAT_H
#define AH_FORMAT_H

#include <stdint.h>

#define AH_MAGIC              "AHEADIDX"
#define AH_MAGIC_LEN          8
#define AH_FORMAT_VERSION     3
#define AH_HEADER_SIZE        128
#define AH_SECTION_ENTRY_SIZE 24
#define AH_SECTION_PAD        16  /* zero bytes at the end of every section */
#define AH_MAX_TOPK           255 /* list length is one byte */
#define AH_MAX_BUCKET         256 /* keys per front-coded bucket */

/* Header field offsets (see the table above). */
#define AH_HDR_MAGIC         0
#define AH_HDR_VERSION       8
#define AH_HDR_HEADER_SIZE   12
#define AH_HDR_FILE_SIZE     16
#define AH_HDR_CONTENT_ID    24
#define AH_HDR_COUNT         32
#define AH_HDR_TOPK          36
#define AH_HDR_BUCKET        40
#define AH_HDR_MAX_TEXT      44
#define AH_HDR_MAX_KEY       48
#define AH_HDR_INNER_NODES   52
#define AH_HDR_CLASS_BITS    56
#define AH_HDR_ROOT          60
#define AH_HDR_TOTAL_SCORE   64
#define AH_HDR_SECTION_COUNT 72
#define AH_HDR_BODY_CRC      76
#define AH_HDR_SCORE_COUNT   80
#define AH_HDR_FLAGS         84
#define AH_HDR_WORD_ENTRIES  88
#define AH_HDR_WORD_NODES    92
#define AH_HDR_WORD_ROOT     96
#define AH_HDR_WORD_LEAF     100
#define AH_HDR_ID_BITS       104
#define AH_HDR_TYPO_DEPTH    108
#define AH_HDR_GRAM_SLOTS    112
#define AH_HDR_HEADER_CRC    124

/* Section table entry field offsets. */
#define AH_SEC_ID     0
#define AH_SEC_CRC    4
#define AH_SEC_OFFSET 8
#define AH_SEC_LENGTH 16

/* Node record: bits of the widths byte. */
#define AH_NODE_WR_MASK         0x03
#define AH_NODE_WP_SHIFT        2
#define AH_NODE_WP_MASK         0x0c
#define AH_NODE_INLINE          0x10
#define AH_NODE_WIDTHS_RESERVED 0xe0

/* Hot prefix table slots. */
#define AH_HOT_SLOT_SIZE  8
#define AH_HOT_SLOT_EMPTY 0xffffffffu
#define AH_HOT_LEN_BITS   12
#define AH_HOT_LEN_MASK   0xfffu
#define AH_HOT_MAX_PATHS  (1u << 20) /* HOT_PATHS bytes a slot can address */
#define AH_HOT_MAX_SLOTS  (1u << 16) /* slots a table may have */

/* Header flags. */
#define AH_FLAG_WORDS    0x1u  /* the word-start index was built */
#define AH_FLAG_TYPO     0x2u  /* the typo index was built */
#define AH_FLAG_CONTEXTS 0x4u  /* the CONTEXTS section is there */
#define AH_FLAG_CHOSEONG 0x8u  /* the CHOSEONG section is there */
#define AH_FLAG_FILLS    0x10u /* the FILLS section is there */
#define AH_FLAGS_DEFINED 0x1fu

/* Contexts. */
#define AH_CONTEXT_ENTRY_SIZE 24
#define AH_MAX_CONTEXTS       65536 /* values in one snapshot */
#define AH_MAX_CONTEXT_BYTES  64    /* bytes in one value */
#define AH_CHOSEONG_PAIRS     361   /* pairs of leading consonants, 19 x 19 */
#define AH_CONTEXT_TYPO_MIN   2048  /* smaller contexts' snapshots have no typo index */

/* Typo index. */
#define AH_LOOK_ENTRY_SIZE 8
#define AH_GRAM_SLOT_SIZE  8
#define AH_GRAM_SLOT_EMPTY 0xffffffffu
#define AH_GRAM_DEPTH      5  /* the typo depth ahead-build writes, or 4 (spend_room, writer.c) */
#define AH_MAX_GRAM_DEPTH  16 /* the deepest a reader accepts */
#define AH_GRAM_END        0  /* g3 of a group whose strings end after g2 */

/* Fills. */
#define AH_FILL_SLOT_EMPTY 0xffffffffu
#define AH_FILL_HEAD       8   /* S and E */
#define AH_FILL_ENTRY_HEAD 7   /* lo, L, budget bits, m */
#define AH_FILL_MAX_LEN    255 /* bytes of a prefix */
#define AH_FILL_MIN_CPS    4   /* the shortest prefix entered: where typos begin */
#define AH_FILL_BUDGET     0x3u
#define AH_FILL_WORDS      0x4u
#define AH_FILL_INCOMPLETE 0x8u
#define AH_FILL_FLAGS      0xfu

/* The first slot to probe for a prefix whose ah_hash64 is hash, in a table of s slots. */
static inline uint64_t ah_fill_slot(uint64_t hash, uint32_t s)
{
    return ((hash >> 32) * s) >> 32;
}

/* Word-start trie. */
#define AH_WORD_END_EDGE     0x00 /* the child of the suffixes that end at the node */
#define AH_DEFAULT_WORD_LEAF 64
#define AH_MAX_WORD_LEAF     65535

/* Key bucket flags. */
#define AH_BUCKET_WIDE        0x01
#define AH_BUCKET_HAS_DISPLAY 0x02
#define AH_BUCKET_RESERVED    0xfc

enum ah_section_id {
    AH_SEC_KEYS = 1,
    AH_SEC_KEY_INDEX = 2,
    AH_SEC_SCORES = 3,
    AH_SEC_CLASSES = 4,
    AH_SEC_NODES = 5,
    AH_SEC_DISPLAY = 6,
    AH_SEC_HOT_TEXTS = 7,
    AH_SEC_HOT_PATHS = 8,
    AH_SEC_HOT_SLOTS = 9,
    AH_SEC_WORD_NODES = 10,
    AH_SEC_WORD_ENTRIES = 11,
    AH_SEC_LOOK = 12,
    AH_SEC_WORD_LOOK = 13,
    AH_SEC_GRAM_SLOTS = 14,
    AH_SEC_GRAM_BLOCKS = 15,
    AH_SECTION_COUNT = 15, /* the sections every snapshot has */
    AH_SEC_CONTEXTS = 16,  /* with AH_FLAG_CONTEXTS */
    AH_SEC_CHOSEONG = 17,  /* with AH_FLAG_CHOSEONG */
    AH_SEC_FILLS = 18,     /* with AH_FLAG_FILLS */
    AH_SECTION_MAX = 18
};

#endif /* AH_FORMAT_H */
