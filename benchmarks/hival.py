"""Benchmark: HiVAl hierarchies of the 4-D galaxy targets: time, peak memory, class counts.

1. Speed: the whole hierarchy of N points (smass, color, sSFR, radius) for N = 1e4, 1e5
   and 1e6, each in a fresh subprocess (so the peak memory is that run's alone).
   Target: 1e5 points in under 60 s on 2 cores. Also the first iteration at 5e3 and
   2e4 points, where the published code needs ~21 s and ~114 s (REFERENCES.md).
2. Class counts: the sequence on the ~1e5-point TNG-like sample next to the published
   TNG300 one (104716 -> 58742 -> 32908 -> ...).
3. Reference: the exact rule (Qhull Voronoi diagram clipped to the box, exact face
   measures; ``method="exact"``) against the default ray-cast rule on TNG-like 2-D and
   3-D sets, in this process: time ratio, class counts, adjusted Rand index (ARI) of the
   memberships per level, oracle PCC, singletons. Yardstick: the exact rule against
   itself on the same points jittered by 1e-3 of each column's range.

Points come from the synthetic universe (``galhalo.simulate``, seed 42, galaxy truth
``--preset``, default ``classic``: the universe the documented figures were measured on)
or ``--catalog``; sizes beyond the pool are a smoothed bootstrap (Scott's bandwidth, i.e.
draws from the pool's Gaussian kernel density estimate).

Writes ``benchmarks/results/hival.json`` and, unless ``--quick`` or ``--no-docs``, the
blocks ``hival-counts``, ``hival-speed`` and ``hival-reference`` of docs/hival.md.

Usage::

    .venv/bin/python benchmarks/hival.py            # 1e4, 1e5, 1e6 + reference
    .venv/bin/python benchmarks/hival.py --sizes 1e4,1e5   # without the 1e6 run
    .venv/bin/python benchmarks/hival.py --quick    # smoke run: 1e4, small reference
    .venv/bin/python benchmarks/hival.py --preset tng_hard  # galhalo's default universe
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _docs import DOCS, markdown_table, rewrite_block
from _preset import NOT_RERUN, add_preset_option
from child import load_pool, run_child_json
from simulate import machine_info, parse_sizes

COLUMNS = ("smass", "color", "sSFR", "radius")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
PUBLISHED_SIZES = {5_000: 21.0, 20_000: 114.0}  # first iteration of the published code, s
PUBLISHED_COUNTS = [104716, 58742, 32908, 18489, 10430, 5915, 3439, 2046, 1286, 857]
PUBLISHED_FINAL = 288
TARGET_POINTS, TARGET_SECONDS = 100_000, 60.0
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "hival.json"


def peak_rss_mib() -> float:
    """Peak resident set size of this process (VmHWM, not inherited ru_maxrss), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- child


def run_child(data_path: str) -> dict[str, Any]:
    """The whole hierarchy of the points in ``data_path`` (.npy), in this fresh process."""
    from galhalo.models.hival import hival

    points = np.load(data_path, allow_pickle=False)
    stamps: list[float] = []
    cpu_start, start = time.process_time(), time.perf_counter()
    hierarchy = hival(points, COLUMNS, progress=lambda message: stamps.append(
        time.perf_counter()))
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    per_level = np.diff([start, *stamps]).tolist()
    return {"n": len(points), "seconds": seconds, "cpu_seconds": cpu,
            "first_iteration_seconds": per_level[0], "level_seconds": per_level,
            "counts": hierarchy.counts,
            "singletons": [int(np.sum(o == 1)) for o in hierarchy.occupancy],
            "oracle_pcc": hierarchy.oracle_pcc.tolist(),
            "level_pcc_0.9": hierarchy.coarsest_level(0.9),
            "oracle": hierarchy.oracle,
            "peak_rss_mib": peak_rss_mib()}


# --------------------------------------------------------------------------- data


def draw_points(pool: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` rows: a subsample of ``pool``, or (n > pool) a smoothed bootstrap with
    Scott's bandwidth n_pool^(-1/(D+4)) x the column standard deviations."""
    rng = np.random.default_rng([seed, n])
    if n <= len(pool):
        return pool[np.sort(rng.choice(len(pool), n, replace=False))]
    bandwidth = len(pool) ** (-1.0 / (pool.shape[1] + 4)) * pool.std(axis=0)
    rows = pool[rng.integers(len(pool), size=n)]
    return rows + rng.normal(size=rows.shape) * bandwidth


# --------------------------------------------------------------------------- measurements


def measure(points: np.ndarray, workdir: Path, timeout: float | None) -> dict[str, Any]:
    path = workdir / f"points_{len(points)}.npy"
    np.save(path, points, allow_pickle=False)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(path)]
    result = {"n": len(points), **run_child_json(command, timeout)}
    path.unlink()
    return result


def reference_comparison(pool: np.ndarray, n: int, dimensions: int, seed: int
                         ) -> dict[str, Any]:
    """Exact vs ray-cast rule (and exact vs exact on jittered points) on ``n`` points of
    the first ``dimensions`` columns."""
    from sklearn.metrics import adjusted_rand_score

    from galhalo.models.hival import hival

    points = draw_points(pool[:, :dimensions], n, seed)
    names = COLUMNS[:dimensions]
    runs, seconds = {}, {}
    span = points.max(axis=0) - points.min(axis=0)
    jittered = points + np.random.default_rng(seed).normal(size=points.shape) * 1e-3 * span
    for name, data, method in (("exact", points, "exact"), ("raycast", points, "raycast"),
                               ("exact_jittered", jittered, "exact")):
        start = time.perf_counter()
        runs[name] = hival(data, names, method=method, seed=seed)
        seconds[name] = time.perf_counter() - start
    exact = runs["exact"]
    result: dict[str, Any] = {"n": n, "dimensions": dimensions, "seconds": seconds,
                              "speedup": seconds["exact"] / seconds["raycast"]}
    for name, run in runs.items():
        levels = range(min(run.n_levels, exact.n_levels))
        result[name] = {
            "counts": run.counts,
            "singletons": [int(np.sum(o == 1)) for o in run.occupancy],
            "min_oracle_pcc": run.oracle_pcc.min(axis=1).round(4).tolist(),
            "ari_vs_exact": [float(adjusted_rand_score(exact.labels[level], run.labels[level]))
                             for level in levels]}
    return result


# --------------------------------------------------------------------------- output


def _at(reference: dict, name: str, key: str, level: int, spec: str) -> str:
    """One formatted value of a reference-comparison run ('' past its last level)."""
    values = reference[name][key]
    return format(values[level], spec) if level < len(values) else ""


def print_results(speed: list[dict], counts: list[int] | None, references: list[dict],
                  published: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    table = Table(title=f"HiVAl full hierarchy, 4-D ({', '.join(COLUMNS)}); target "
                        f"{TARGET_POINTS:,} points in {TARGET_SECONDS:.0f} s on 2 cores")
    for header in ("points", "levels", "wall s", "CPU s", "first iter s", "peak RSS MiB",
                   "load before/after", "vs target"):
        table.add_column(header, justify="right")
    for row in speed:
        if "error" in row:
            table.add_row(f"{row['n']:,}", "failed: " + row["error"].splitlines()[-1])
            continue
        target = (f"{TARGET_SECONDS / row['seconds']:.2f}x" if row["n"] == TARGET_POINTS
                  else "–")
        table.add_row(f"{row['n']:,}", str(len(row["counts"])), f"{row['seconds']:.1f}",
                      f"{row['cpu_seconds']:.1f}", f"{row['first_iteration_seconds']:.2f}",
                      f"{row['peak_rss_mib']:,.0f}",
                      f"{row['load_before']:.1f}/{row['load_after']:.1f}", target)
    console.print(table)
    if published:
        console.print("first iteration vs the published code: " + ", ".join(
            f"{row['n']:,} points {row['first_iteration_seconds']:.2f} s (published "
            f"{PUBLISHED_SIZES[row['n']]:.0f} s, {row['published_ratio']:.0f}x)"
            for row in published if "error" not in row), highlight=False)
    if counts:
        table = Table(title="class counts per level: TNG-like sample vs published TNG300")
        for header in ("level", "galhalo", "ratio", "published", "ratio"):
            table.add_column(header, justify="right")
        for level in range(max(len(PUBLISHED_COUNTS), min(len(counts), 16))):
            ours = counts[level] if level < len(counts) else None
            theirs = PUBLISHED_COUNTS[level] if level < len(PUBLISHED_COUNTS) else None
            ratio = (f"{ours / counts[level - 1]:.3f}" if ours and level else "")
            their_ratio = (f"{theirs / PUBLISHED_COUNTS[level - 1]:.3f}"
                           if theirs and level else "")
            table.add_row(str(level), f"{ours:,}" if ours else "", ratio,
                          f"{theirs:,}" if theirs else "", their_ratio)
        console.print(table)
        console.print(f"published: ... -> {PUBLISHED_FINAL} (fixed point: hull cells never "
                      f"merge); galhalo: ... -> {counts[-1]} after {len(counts) - 1} "
                      "iterations", highlight=False)
    for ref in references:
        table = Table(title=f"exact rule vs ray-cast, {ref['n']:,} points in "
                            f"{ref['dimensions']}-D: exact {ref['seconds']['exact']:.1f} s, "
                            f"ray-cast {ref['seconds']['raycast']:.1f} s "
                            f"({ref['speedup']:.0f}x)")
        table.add_column("level", justify="right")
        for name in ("exact", "raycast", "exact_jittered"):
            table.add_column(f"{name} classes", justify="right")
        for name in ("raycast", "exact_jittered"):
            table.add_column(f"ARI {name}", justify="right")
        table.add_column("min PCC exact/raycast", justify="right")
        for level in range(1, min(10, len(ref["exact"]["counts"]))):
            table.add_row(str(level), *(_at(ref, n, "counts", level, "d") for n in
                                        ("exact", "raycast", "exact_jittered")),
                          *(_at(ref, n, "ari_vs_exact", level, ".3f") for n in
                            ("raycast", "exact_jittered")),
                          _at(ref, "exact", "min_oracle_pcc", level, ".3f") + "/"
                          + _at(ref, "raycast", "min_oracle_pcc", level, ".3f"))
        console.print(table)


# --------------------------------------------------------------------------- docs


def counts_block(row: dict[str, Any], command: str) -> str:
    """Class counts per level next to the published TNG300 sequence."""
    counts = row["counts"]
    shown = list(range(min(len(counts), 10)))

    def ratios(sequence: list[int]) -> list[str]:
        return [""] + [f"{sequence[i] / sequence[i - 1]:.3f}" if i < len(sequence) else ""
                       for i in shown[1:]]

    rows = [["galhalo", *(f"{counts[i]}" for i in shown),
             f"{counts[-1]} (level {len(counts) - 1})"],
            ["ratio", *ratios(counts), ""],
            ["TNG300 (published)", *(f"{PUBLISHED_COUNTS[i]}" for i in shown),
             f"{PUBLISHED_FINAL}"],
            ["ratio", *ratios(PUBLISHED_COUNTS), ""]]
    level = row["level_pcc_0.9"]
    nearest = int(np.argmin(np.abs(np.array(counts) - PUBLISHED_COUNTS[-1])))
    pcc = ", ".join(f"{value:.3f}" for value in row["oracle_pcc"][level])
    return (f"`{command}`: {row['n']:,} galaxies, columns {', '.join(COLUMNS)}\n\n"
            + markdown_table(["level", *map(str, shown), "last"], rows)
            + f"\nThe level nearest the published classifier's {PUBLISHED_COUNTS[-1]} classes"
            f" is {nearest} ({counts[nearest]} classes); the coarsest level whose oracle PCC"
            f" ({row.get('oracle', 'member')} rule) is ≥ 0.9 for all four targets is {level}"
            f" ({counts[level]} classes; {pcc}).\n")


def speed_block(speed: list[dict], published: list[dict], command: str) -> str:
    """Whole-hierarchy time and memory per size, and the published comparison."""
    rows = [[f"{row['n']:,}", str(len(row["counts"])), f"{row['seconds']:.1f}",
             f"{row['cpu_seconds']:.1f}", f"{row['first_iteration_seconds']:.2f}",
             f"{row['peak_rss_mib']:,.0f}", f"{row['load_before']:.1f}"]
            for row in speed if "error" not in row]
    text = (f"`{command}`\n\n" + markdown_table(
        ["points", "levels", "wall s", "CPU s", "first iteration, wall s", "peak RSS MiB",
         "load before"], rows))
    target = [row for row in speed if row["n"] == TARGET_POINTS and "error" not in row]
    if target:
        text += (f"\nTarget {TARGET_POINTS:,} points in {TARGET_SECONDS:.0f} s: "
                 f"{target[0]['seconds']:.1f} s here.")
    for row in published:
        if "error" not in row:
            text += (f" First iteration at {row['n']:,} points: "
                     f"{row['first_iteration_seconds']:.2f} s (published code "
                     f"{PUBLISHED_SIZES[row['n']]:.0f} s, {row['published_ratio']:.0f}x).")
    return text + "\n"


def reference_block(references: list[dict], command: str) -> str:
    """Exact vs ray-cast hierarchies of TNG-like points, level by level."""
    text = f"`{command}`\n"
    for ref in references:
        rows = [[str(level), *(_at(ref, name, "counts", level, "d") for name in
                               ("exact", "raycast", "exact_jittered")),
                 *(_at(ref, name, "ari_vs_exact", level, ".3f") for name in
                   ("raycast", "exact_jittered")),
                 _at(ref, "exact", "min_oracle_pcc", level, ".3f") + " / "
                 + _at(ref, "raycast", "min_oracle_pcc", level, ".3f")]
                for level in range(1, min(8, len(ref["exact"]["counts"])), 2)]
        text += (f"\n{ref['n']:,} points in {ref['dimensions']}-D: exact "
                 f"{ref['seconds']['exact']:.1f} s, ray-cast {ref['seconds']['raycast']:.1f} s"
                 "\n\n" + markdown_table(
                     ["level", "classes exact", "raycast", "exact (jittered)", "ARI raycast",
                      "ARI exact (jittered)", "min oracle PCC exact / raycast"], rows))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES),
                        help="points per full hierarchy (default 1e4,1e5,1e6)")
    parser.add_argument("--reference-sizes", type=parse_sizes, default=[2000],
                        help="points of the exact-vs-raycast comparison (default 2e3)")
    parser.add_argument("--catalog", type=Path, help="catalog to draw points from "
                        "(default: simulate --n-halos rows of the --preset universe)")
    parser.add_argument("--n-halos", type=int, default=100_000,
                        help="rows of the simulated pool (default 1e5)")
    add_preset_option(parser, NOT_RERUN)
    parser.add_argument("--seed", type=int, default=0, help="subsampling seed (default 0)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds after which one child run is abandoned")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1e4 points, pool of 1e4, reference on 400 points")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/hival.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        print(json.dumps(run_child(args.child)))
        return 0
    published_sizes = list(PUBLISHED_SIZES)
    if args.quick:
        args.sizes, args.n_halos, args.reference_sizes = [10_000], 10_000, [400]
        published_sizes = [5_000]

    from galhalo.files import write_json

    print("preparing data ...", file=sys.stderr, flush=True)
    pool, origin = load_pool(args.catalog, args.n_halos, COLUMNS, preset=args.preset)
    speed, published = [], []
    with tempfile.TemporaryDirectory(prefix="galhalo-hival-") as tmp:
        for n in args.sizes:
            print(f"hival n={n:,} ...", file=sys.stderr, flush=True)
            speed.append(measure(draw_points(pool, n, args.seed), Path(tmp), args.timeout))
        for n in published_sizes:
            print(f"hival n={n:,} (published comparison) ...", file=sys.stderr, flush=True)
            row = measure(draw_points(pool, n, args.seed), Path(tmp), args.timeout)
            if "error" not in row:
                row["published_ratio"] = PUBLISHED_SIZES[n] / row["first_iteration_seconds"]
            published.append(row)
    tng_like = [row for row in speed if "error" not in row and row["n"] <= len(pool)]
    counts = max(tng_like, key=lambda row: row["n"])["counts"] if tng_like else None
    references = []
    for n in args.reference_sizes:
        for dimensions in (2, 3):
            print(f"reference n={n:,} {dimensions}-D ...", file=sys.stderr, flush=True)
            references.append(reference_comparison(pool, n, dimensions, args.seed))
    print_results(speed, counts, references, published)
    by_n = {row["n"]: row for row in speed}
    target = by_n.get(TARGET_POINTS, {})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {
        "benchmark": "hival", "machine": machine_info(), "data": origin,
        "preset": None if args.catalog is not None else args.preset,
        "options": {"sizes": args.sizes, "reference_sizes": args.reference_sizes,
                    "seed": args.seed, "columns": list(COLUMNS), "quick": args.quick},
        "target": {"points": TARGET_POINTS, "seconds": TARGET_SECONDS,
                   "measured_seconds": target.get("seconds"),
                   "measured_cpu_seconds": target.get("cpu_seconds")},
        "published": {"counts": PUBLISHED_COUNTS, "final": PUBLISHED_FINAL,
                      "first_iteration_seconds": {str(k): v for k, v in
                                                  PUBLISHED_SIZES.items()}},
        "speed": speed, "published_comparison": published, "counts": counts,
        "reference": references,
    })
    command = " ".join(["python benchmarks/hival.py", *(sys.argv[1:] if argv is None
                                                         else argv)])
    if not (args.quick or args.no_docs):
        tng = [row for row in tng_like if row["counts"] == counts]
        if tng:
            rewrite_block(DOCS / "hival.md", "hival-counts", counts_block(tng[0], command))
        rewrite_block(DOCS / "hival.md", "hival-speed", speed_block(speed, published, command))
        rewrite_block(DOCS / "hival.md", "hival-reference", reference_block(references,
                                                                            command))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all("error" not in row for row in speed + published) else 1


if __name__ == "__main__":
    sys.exit(main())
