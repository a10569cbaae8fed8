#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_docs.py: every relative link in the project's Markdown resolves.

For README.md, docs/*.md, bench/RESULTS.md and data/README.md: each link or
image ([text](target), outside code blocks and code spans) that is not a URL
must name a file or folder that exists, relative to the page; a #fragment
must be the anchor of a heading in the page it points to, made as GitHub
makes them (lower case, punctuation dropped, spaces to hyphens, -1, -2 for
repeats). Prints every broken link and exits 1 if there is one.

usage: check_docs.py SOURCE_DIR
"""
import os
import re
import sys

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text):
    """The text with fenced code blocks and code spans blanked out."""
    out, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("")
            continue
        out.append("" if fenced else re.sub(r"`[^`]*`", "``", line))
    return "\n".join(out)


def anchors(path):
    """The heading anchors of a Markdown file, as GitHub makes them."""
    seen, out, fenced = {}, set(), False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.lstrip().startswith("```"):
                fenced = not fenced
            m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def main(root):
    pages = ["README.md", "bench/RESULTS.md", "data/README.md"]
    pages += sorted(os.path.join("docs", p) for p in os.listdir(os.path.join(root, "docs")) if p.endswith(".md"))
    broken, count = [], 0
    for page in pages:
        path = os.path.join(root, page)
        with open(path, encoding="utf-8") as f:
            text = prose(f.read())
        for lineno, line in enumerate(text.split("\n"), 1):
            for m in LINK.finditer(line):
                target = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue  # a URL
                count += 1
                file_part, _, fragment = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                if not os.path.exists(dest):
                    broken.append(f"{page}:{lineno}: {target}: no such file")
                elif fragment and dest.endswith(".md") and fragment not in anchors(dest):
                    broken.append(f"{page}:{lineno}: {target}: no heading #{fragment} there")
    for b in broken:
        print(b)
    print(f"check_docs: {count} relative links in {len(pages)} pages, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
