"""Benchmark: HiVAl's ray-cast geometry against the exact (Qhull) cells in 3, 4 and 5
dimensions, before and after the certified ray lengths of issue 17.

1. Cells: on N points (uniform in the cube, and a skewed correlated cloud like the
   galaxy targets), the level-0 volumes and first partners of the default ray-cast rule
   against ``exact_geometry``: median relative volume error, Spearman rank correlation
   of the volumes, fraction of cells with the same first partner, seconds. "before" is
   the base commit's default (cells clipped to a local ball, 64 rays), run from its
   source (``git archive``) in a child process; "after" this checkout's default and,
   for comparison, 64 and 256 rays.
2. Merge sequence: the hierarchies of the same points in 3-D and 4-D, ray-cast (before,
   after) and exact, compared level by level with the adjusted Rand index (ARI) of the
   memberships against the exact hierarchy, averaged over levels 1-6. Yardstick: the
   exact rule against itself on the points jittered by 1e-3 of each column's range
   (three jitter draws: their mean and smallest value).
3. Time of the whole hierarchy of ``--timing-size`` skewed 4-D points, before and after.

Writes ``benchmarks/results/hival_geometry.json`` and the blocks ``hival-geometry-cells``,
``hival-geometry-merges`` and ``hival-geometry-time`` of docs/hival.md.

    .venv/bin/python benchmarks/hival_geometry.py                # 300 / 400 points
    .venv/bin/python benchmarks/hival_geometry.py --cells 200 --merges 200 --timing-size 2000
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
from child import run_child_json
from nnclass import BASE_COMMIT, ROOT, base_source
from simulate import machine_info

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "hival_geometry.json"
LEVELS = range(1, 7)
JITTERS = (1, 2, 3)


def points(kind: str, n: int, dimension: int, seed: int) -> np.ndarray:
    """``n`` points in ``dimension``-D: "uniform" in the unit cube, or "skewed" (a
    correlated Gaussian with an exponentiated first column, like stellar mass)."""
    rng = np.random.default_rng([seed, n, dimension])
    if kind == "uniform":
        return rng.random((n, dimension))
    x = rng.normal(size=(n, dimension)) @ (0.5 * np.triu(np.ones((dimension, dimension))))
    x[:, 0] = np.exp(x[:, 0])
    return x


def unit(x: np.ndarray) -> np.ndarray:
    return (x - x.min(axis=0)) / (x.max(axis=0) - x.min(axis=0))


def run_child(task: dict[str, Any]) -> dict[str, Any]:
    """In the galhalo on this process's path: the default ray-cast geometry of the
    points in ``task["path"]`` (unit cube), or their default hierarchy's labels."""
    from galhalo.models.hival import hival, raycast_geometry

    x = np.load(task["path"], allow_pickle=False)
    start = time.perf_counter()
    if task["what"] == "cells":
        geometry = raycast_geometry(x)
        return {"volumes": geometry.volumes.tolist(),
                "first": geometry.partners[:, 0].tolist(),
                "seconds": time.perf_counter() - start}
    hierarchy = hival(x)
    return {"labels": hierarchy.labels.tolist() if task["what"] == "labels" else None,
            "counts": hierarchy.counts, "seconds": time.perf_counter() - start}


def in_child(source: Path, path: Path, what: str, timeout: float) -> dict[str, Any]:
    command = ["env", f"PYTHONPATH={source}", sys.executable, str(Path(__file__).resolve()),
               "--child", json.dumps({"path": str(path), "what": what})]
    return run_child_json(command, timeout)


def cell_scores(volumes: np.ndarray, first: np.ndarray, exact) -> dict[str, float]:
    from scipy import stats

    return {"median_volume_error": float(np.median(np.abs(volumes / exact.volumes - 1))),
            "rank_correlation": float(stats.spearmanr(volumes, exact.volumes)[0]),
            "same_first_partner": float(np.mean(first == exact.partners[:, 0]))}


def cells(before_src: Path, tmp: Path, n: int, seed: int, timeout: float) -> list[dict]:
    from galhalo.models.hival import default_directions, exact_geometry, raycast_geometry

    rows = []
    for dimension in (3, 4, 5):
        for kind in ("uniform", "skewed"):
            x = unit(points(kind, n, dimension, seed))
            start = time.perf_counter()
            exact = exact_geometry(x)
            row: dict[str, Any] = {"dimension": dimension, "kind": kind, "n": n,
                                   "exact_seconds": time.perf_counter() - start}
            path = tmp / "cells.npy"
            np.save(path, x, allow_pickle=False)
            before = in_child(before_src, path, "cells", timeout)
            if "error" in before:
                row["before"] = before
            else:
                row["before"] = {**cell_scores(np.array(before["volumes"]),
                                               np.array(before["first"]), exact),
                                 "directions": 64, "seconds": before["seconds"]}
            for name, rays in (("after", None), ("after_64", 64), ("after_256", 256)):
                start = time.perf_counter()
                geometry = raycast_geometry(x, directions=rays)
                row[name] = {**cell_scores(geometry.volumes, geometry.partners[:, 0], exact),
                             "directions": rays or default_directions(dimension),
                             "seconds": time.perf_counter() - start}
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items()}), file=sys.stderr, flush=True)
    return rows


def mean_ari(reference: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import adjusted_rand_score

    levels = [level for level in LEVELS if level < min(len(reference), len(labels))]
    return float(np.mean([adjusted_rand_score(reference[level], labels[level])
                          for level in levels]))


def merges(before_src: Path, tmp: Path, n: int, seed: int, timeout: float) -> list[dict]:
    from galhalo.models.hival import hival

    rows = []
    for dimension in (3, 4):
        for kind in ("uniform", "skewed"):
            x = points(kind, n, dimension, seed)
            exact = hival(x, method="exact").labels
            span = x.max(axis=0) - x.min(axis=0)
            jitter = [mean_ari(exact, hival(x + np.random.default_rng(j).normal(size=x.shape)
                                            * 1e-3 * span, method="exact").labels)
                      for j in JITTERS]
            path = tmp / "merges.npy"
            np.save(path, x, allow_pickle=False)
            before = in_child(before_src, path, "labels", timeout)
            row = {"dimension": dimension, "kind": kind, "n": n,
                   "exact_jittered_mean": float(np.mean(jitter)),
                   "exact_jittered_min": float(np.min(jitter)),
                   "before": (mean_ari(exact, np.array(before["labels"]))
                              if "error" not in before else None),
                   "after": mean_ari(exact, hival(x).labels)}
            row["after_meets_criterion"] = row["after"] >= row["exact_jittered_min"]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def timing(before_src: Path, tmp: Path, n: int, seed: int, timeout: float) -> dict:
    path = tmp / "timing.npy"
    np.save(path, points("skewed", n, 4, seed), allow_pickle=False)
    return {"n": n, "dimension": 4,
            **{name: in_child(source, path, "counts", timeout)
               for name, source in (("before", before_src), ("after", ROOT / "src"))}}


def document(result: dict[str, Any], command: str) -> dict[str, str]:
    """The three docs/hival.md blocks."""
    def score(run: dict) -> list[str]:
        if "error" in run:
            return ["failed", "", "", ""]
        return [f"{run['median_volume_error']:.1%}", f"{run['rank_correlation']:.3f}",
                f"{run['same_first_partner']:.2f}", f"{run['seconds']:.2f}"]

    rows = []
    for row in result["cells"]:
        for name, label in (("before", "before (ball, 64 rays)"),
                            ("after_64", "certified, 64 rays"),
                            ("after", f"certified, {row['after']['directions']} rays "
                                      "(default)"),
                            ("after_256", "certified, 256 rays")):
            if name == "after" and row["after"]["directions"] == 64:
                continue
            rows.append([f"{row['dimension']}-D {row['kind']}", label, *score(row[name])])
        rows.append([f"{row['dimension']}-D {row['kind']}", "exact (Qhull)", "0", "1", "1",
                     f"{row['exact_seconds']:.2f}"])
    n = result["cells"][0]["n"] if result["cells"] else 0
    cells_text = (f"`{command}`: level-0 cells of {n} points against the exact cells\n\n"
                  + markdown_table(["points", "rule", "median volume error",
                                    "rank correlation", "same first partner", "seconds"],
                                   rows))
    rows = [[f"{row['dimension']}-D {row['kind']}", f"{row['before']:.3f}"
             if row["before"] is not None else "failed", f"{row['after']:.3f}",
             f"{row['exact_jittered_mean']:.3f} / {row['exact_jittered_min']:.3f}",
             "yes" if row["after_meets_criterion"] else "no"]
            for row in result["merges"]]
    n = result["merges"][0]["n"] if result["merges"] else 0
    merges_text = (f"`{command}`: {n} points, mean ARI against the exact hierarchy over "
                   f"levels {LEVELS.start}-{LEVELS.stop - 1}\n\n"
                   + markdown_table(["points", "ray-cast before", "ray-cast after (default)",
                                     "exact, 0.1 % jitter (mean / min of 3)",
                                     "after ≥ jitter min"], rows))
    t = result["timing"]

    def fmt(run: dict) -> str:
        return f"{run['seconds']:.1f}" if "seconds" in run else "failed"

    time_text = (f"`{command}`: whole hierarchy of {t['n']:,} skewed 4-D points, "
                 f"before {fmt(t['before'])} s, after {fmt(t['after'])} s (1-minute load "
                 f"average {t['after'].get('load_before', float('nan')):.1f} on 2 cores).\n")
    return {"hival-geometry-cells": cells_text, "hival-geometry-merges": merges_text,
            "hival-geometry-time": time_text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=300, help="points of the cell test")
    parser.add_argument("--merges", type=int, default=400,
                        help="points of the merge-sequence test")
    parser.add_argument("--timing-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base", default=BASE_COMMIT, help="commit of the 'before' rule")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/hival.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0
    result: dict[str, Any] = {"benchmark": "hival_geometry", "machine": machine_info(),
                              "options": {"cells": args.cells, "merges": args.merges,
                                          "timing_size": args.timing_size,
                                          "seed": args.seed, "base": args.base}}
    with tempfile.TemporaryDirectory(prefix="galhalo-hival-geometry-") as tmp:
        before_src = base_source(Path(tmp), args.base)
        result["cells"] = cells(before_src, Path(tmp), args.cells, args.seed, args.timeout)
        result["merges"] = merges(before_src, Path(tmp), args.merges, args.seed,
                                  args.timeout)
        result["timing"] = timing(before_src, Path(tmp), args.timing_size, args.seed,
                                  args.timeout)
    from galhalo.files import write_json

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    command = " ".join(["python benchmarks/hival_geometry.py",
                        *(sys.argv[1:] if argv is None else argv)])
    if not args.no_docs:
        for name, text in document(result, command).items():
            rewrite_block(DOCS / "hival.md", name, text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
