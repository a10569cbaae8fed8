#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""plot.py: the benchmarks' figures as SVG plots for docs/benchmarks.md.

Reads what the benchmark scripts write to bench/results/ and draws:

  latency.svg        lookup latency by percentile, exact, defaults and
                     misspelled prefixes, per dataset (run_lookup.sh)
  http.svg           HTTP requests per second of ahead-serve against the
                     static-file ceiling and under hot swaps, and latency
                     with little queueing (bench_server.sh)
  build-scaling.svg  build time, sort time and peak memory against the
                     number of completions (build_scaling.sh)
  sections.svg       the snapshot's bytes per completion by section
                     (run_lookup.sh's snapshot statistics)

  python3 bench/plot.py [--results DIR] [--out DIR]    (default bench/results, docs/img)
  python3 bench/plot.py --check      draws into a temporary folder and fails
                                     unless the committed docs/img/*.svg are
                                     exactly what the committed results give

The output is reproducible (fixed SVG ids, no dates, text kept as text), so
--check catches both a broken script and plots that no longer match their
figures. Needs matplotlib (Debian: python3-matplotlib).
"""
import argparse
import filecmp
import json
import os
import statistics
import sys
import tempfile

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import FuncFormatter  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = ("npm-downloads", "es-ngrams", "subtlex-us")
SETTINGS = (("exact", "exact (typos=0, match=prefix)", "#1b7837"),
            ("defaults", "defaults (typos=auto, match=words)", "#2166ac"),
            ("misspelled", "misspelled prefixes, defaults", "#b2182b"))
# Sections of `ahead-query --stats`, grouped as docs/benchmarks.md explains them.
SECTION_GROUPS = (("keys", ("keys", "key_index"), "#4393c3"),
                  ("scores", ("scores", "classes"), "#92c5de"),
                  ("trie nodes", ("nodes",), "#2166ac"),
                  ("display texts", ("display",), "#d1e5f0"),
                  ("hot nodes", ("hot_texts", "hot_paths", "hot_slots"), "#fddbc7"),
                  ("word starts", ("word_nodes", "word_entries"), "#f4a582"),
                  ("lookahead masks", ("look", "word_look"), "#d6604d"),
                  ("gram table", ("gram_slots", "gram_blocks"), "#b2182b"),
                  ("fills", ("fills",), "#67001f"),
                  ("Korean initials", ("choseong",), "#762a83"),
                  ("contexts", ("contexts",), "#5aae61"))


def load(results, name):
    path = os.path.join(results, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def median_run(runs, field="p99_ns"):
    """The run whose figure is the median of the runs' (the lower median)."""
    ordered = sorted(runs, key=lambda r: r[field])
    return ordered[(len(ordered) - 1) // 2]


def ns_label(v, _pos=None):
    if v >= 1e6:
        return f"{v / 1e6:g} ms"
    if v >= 1e3:
        return f"{v / 1e3:g} us"
    return f"{v:g} ns"


def new_figure(cols, width=4.2, height=3.6):
    fig, axes = plt.subplots(1, cols, figsize=(width * cols, height), squeeze=False)
    return fig, axes[0]


FORMAT = "svg"  # --format png: for a look at the plots without a browser


def save(fig, out, name):
    fig.tight_layout()
    finish(fig, out, name)
    return name


def finish(fig, out, name):
    path = os.path.join(out, name if FORMAT == "svg" else name.replace(".svg", "." + FORMAT))
    fig.savefig(path, **({"metadata": {"Date": None}} if FORMAT == "svg" else {"dpi": 90}))
    plt.close(fig)
    if FORMAT == "svg":  # text is kept as text: a browser without DejaVu falls back to its sans-serif
        with open(path, encoding="utf-8") as f:
            svg = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg.replace("'DejaVu Sans'", "'DejaVu Sans', sans-serif"))


def plot_latency(results, out):
    docs = [(d, load(results, f"lookup-{d}.json")) for d in DATASETS]
    docs = [(d, doc) for d, doc in docs if doc]
    if not docs:
        return None
    shuffled = {d: load(results, f"lookup-{d}-shuffled.json") for d, _ in docs}
    fig, axes = new_figure(len(docs))
    # x: the percentile on a scale where each 9 gets the same room (1 / (1 - q)).
    ticks = (0.5, 0.9, 0.99, 0.999, 0.9999)
    for ax, (name, doc) in zip(axes, docs):
        for key, label, color in SETTINGS:
            for d, style, suffix in ((doc, "-", ""), (shuffled[name], ":", ", shuffled")):
                if not d or key not in d["settings"]:
                    continue
                run = median_run(d["settings"][key])
                q = [p[0] for p in run["quantiles_ns"] if p[0] < 1]
                ns = [p[1] for p in run["quantiles_ns"] if p[0] < 1]
                ax.plot([1 / (1 - x) for x in q], ns, style, color=color, lw=1.6,
                        label=(label + suffix) if name == docs[0][0] else None)
                ax.plot([1 / (1 - q[-1])], [run["max_ns"]], "^", color=color, ms=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([1 / (1 - t) for t in ticks])
        ax.set_xticklabels([f"p{100 * t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(ns_label))
        ax.grid(True, which="major", alpha=0.3)
        n = doc["stats"]["entries"]
        ax.set_title(f"{name} ({n:,} completions)", fontsize=10)
        ax.set_xlabel("percentile of lookups (triangle: the slowest)")
    axes[0].set_ylabel("latency in process, k = 10")
    fig.legend(loc="lower center", ncol=3, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"ahead-bench-lookup, median run of {len(docs[0][1]['settings']['defaults'])} "
                 f"({docs[0][1]['date']}, {docs[0][1]['machine']})", fontsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    finish(fig, out, "latency.svg")
    return "latency.svg"


def plot_http(results, out):
    docs = [(label, load(results, name)) for label, name in
            (("keystroke order", "server.json"), ("shuffled", "server-shuffled.json"))]
    docs = [(label, d) for label, d in docs if d]
    if not docs:
        return None
    fig, (left, right) = new_figure(2, width=4.8)
    servers = (("ahead", "ahead-serve, defaults", "#2166ac"),
               ("static", "h2o, one static file", "#999999"),
               ("hotswap", "ahead-serve, a swap every {swap_ms} ms", "#92c5de"))
    conns = max(r["connections"] for r in docs[0][1]["runs"])
    width = 0.8 / len(servers)
    for i, (label, doc) in enumerate(docs):
        medians = {}
        for j, (server, name, color) in enumerate(servers):
            rps = [r["rps"] for r in doc["runs"] if r["server"] == server and r["connections"] == conns]
            if not rps:
                continue
            medians[server] = statistics.median(rps)
            x = i + (j - 1) * width
            left.bar(x, medians[server], width * 0.9, color=color,
                     label=name.format(swap_ms=doc["swap_ms"]) if i == 0 else None)
            left.plot([x] * len(rps), rps, ".", color="black", ms=3)
        if "ahead" in medians and "static" in medians:
            left.text(i - width, medians["ahead"] * 1.06, f"{medians['ahead'] / medians['static']:.2f}x\nthe ceiling",
                      ha="center", fontsize=7)
    left.set_xticks(range(len(docs)))
    left.set_xticklabels([label for label, _ in docs])
    left.set_ylabel(f"requests per second, {conns} connections")
    left.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v / 1000:g}k"))
    left.set_ylim(0, left.get_ylim()[1] * 1.25)
    left.legend(fontsize=7, loc="upper right", frameon=False)
    left.set_title("throughput (dots: each run)", fontsize=10)
    # Latency with little queueing: the fewest connections measured.
    low = min(r["connections"] for r in docs[0][1]["runs"])
    labels, x = [], 0
    for label, doc in docs:
        for server, name, color in servers[:2]:
            rows = [r for r in doc["runs"] if r["server"] == server and r["connections"] == low]
            if not rows:
                continue
            p50 = statistics.median(r["p50_us"] for r in rows)
            p99 = statistics.median(r["p99_us"] for r in rows)
            right.bar(x, p99, 0.7, color=color, alpha=0.45)
            right.bar(x, p50, 0.7, color=color)
            labels.append(f"{server}\n{label}")
            x += 1
    right.set_xticks(range(len(labels)))
    right.set_xticklabels(labels, fontsize=7)
    right.set_ylabel(f"latency, us, {low} connections")
    right.set_title("p50 (dark) and p99 (light), medians of runs", fontsize=10)
    doc = docs[0][1]
    fig.suptitle(f"bench_server.sh on {doc['dataset']}, wrk {doc['duration']} runs "
                 f"({doc['date']}, {doc['machine']})", fontsize=9)
    return save(fig, out, "http.svg")


def plot_build_scaling(results, out):
    doc = load(results, "build-scaling.json")
    if not doc:
        return None
    fig, (left, right) = new_figure(2)
    colors = {"npm-downloads": "#2166ac", "es-ngrams": "#b2182b", "subtlex-us": "#1b7837"}
    for name in dict.fromkeys(b["dataset"] for b in doc["builds"]):
        rows = sorted((b for b in doc["builds"] if b["dataset"] == name), key=lambda b: b["completions"])
        n = [b["completions"] for b in rows]
        color = colors.get(name, "black")
        left.plot(n, [b["seconds"] for b in rows], "o-", color=color, ms=4, label=f"{name}: ahead-build")
        left.plot(n, [b["sort_seconds"] for b in rows], "x:", color=color, ms=4, label=f"{name}: LC_ALL=C sort")
        right.plot(n, [b["peak_rss_kb"] / 1024 for b in rows], "o-", color=color, ms=4, label=name)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("completions (random samples and whole sets)")
        ax.grid(True, which="major", alpha=0.3)
    left.set_ylabel("seconds")
    left.set_title("build time, against sorting the input", fontsize=10)
    left.legend(fontsize=6, frameon=False)
    right.set_ylabel("MB")
    right.set_title("build's peak resident memory", fontsize=10)
    right.legend(fontsize=7, frameon=False)
    fig.suptitle(f"build_scaling.sh ({doc['date']}, {doc['machine']})", fontsize=9)
    return save(fig, out, "build-scaling.svg")


def plot_sections(results, out):
    docs = [(d, load(results, f"lookup-{d}.json")) for d in DATASETS]
    docs = [(d, doc) for d, doc in docs if doc]
    if not docs:
        return None
    known = {s for _, names, _ in SECTION_GROUPS for s in names}
    fig, axes = new_figure(1, width=8.4, height=max(0.8 * len(docs) + 1.2, 2.4))
    ax = axes[0]
    for y, (name, doc) in enumerate(docs):
        st = doc["stats"]
        unknown = set(st["sections"]) - known
        if unknown:
            sys.exit(f"plot.py: sections {sorted(unknown)} have no group in SECTION_GROUPS")
        left = 0.0
        for group, names, color in SECTION_GROUPS:
            if not any(s in d["stats"]["sections"] for _, d in docs for s in names):
                continue  # a section none of the snapshots has stays out of the legend
            width = sum(st["sections"].get(s, 0) for s in names) / st["entries"]
            ax.barh(y, width, left=left, color=color, label=group if y == 0 else None)
            left += width
        header = (st["file_bytes"] - sum(st["sections"].values())) / st["entries"]
        ax.barh(y, header, left=left, color="#dddddd", label="header, padding" if y == 0 else None)
        ax.text(left + header + 0.3, y, f"{st['file_bytes'] / st['entries']:.1f} B", va="center", fontsize=8)
    ax.set_yticks(range(len(docs)))
    ax.set_yticklabels([f"{d}\n{doc['stats']['entries']:,}" for d, doc in docs], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("bytes per completion")
    ax.set_xlim(0, ax.get_xlim()[1] * 1.08)
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"the snapshot by section, defaults ({docs[0][1]['date']})", fontsize=10)
    return save(fig, out, "sections.svg")


PLOTS = (plot_latency, plot_http, plot_build_scaling, plot_sections)


def draw(results, out):
    matplotlib.rcParams.update({"svg.hashsalt": "ahead", "svg.fonttype": "none",
                                "font.family": "DejaVu Sans"})
    os.makedirs(out, exist_ok=True)
    drawn = [name for name in (p(results, out) for p in PLOTS) if name]
    for name in drawn:
        print(f"plot.py: {os.path.join(out, name)}")
    return drawn


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "img"))
    ap.add_argument("--format", choices=("svg", "png"), default="svg")
    ap.add_argument("--check", action="store_true",
                    help="draw into a temporary folder and compare with --out")
    args = ap.parse_args()
    global FORMAT
    FORMAT = args.format
    if not args.check:
        draw(args.results, args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        drawn = draw(args.results, tmp)
        if len(drawn) != len(PLOTS):
            print(f"plot.py: only {drawn} drawn: a results file is missing from {args.results}")
            return 1
        stale = [n for n in drawn if not os.path.exists(os.path.join(args.out, n))
                 or not filecmp.cmp(os.path.join(tmp, n), os.path.join(args.out, n), shallow=False)]
        if stale:
            print(f"plot.py: {', '.join(stale)} in {args.out} differ from what {args.results} gives: "
                  "run python3 bench/plot.py and commit the result")
            return 1
    print(f"plot.py: the {len(drawn)} plots in {args.out} match {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
