"""Benchmark: galhalo's vectorised SMOGN against the reference ``smogn`` package.

Data: halo features (M_h, C_h, S_h, z_h, Delta3_h) and one galaxy target (default sSFR)
of the synthetic universe (``galhalo.simulate``, seed 42, galaxy truth ``--preset``,
default ``classic``: the universe the documented figures were measured on), or of
``--catalog``. A table of n rows is a seeded subsample of that pool without replacement;
a size above the pool is drawn with replacement and every column jittered by
N(0, (0.01 sd)^2) so that rows stay distinct.

Every run happens in a fresh subprocess (timing of the SMOGN call alone, imports
excluded, and the child's peak RSS): ours in this interpreter, the reference in the
``--reference-python`` interpreter (a venv with ``numpy==2.3.5 smogn pandas``: the
package needs numpy < 2.4), seeded with ``numpy.random.seed`` and ``random.seed``.
Both get the same table and the same settings: k = 7, pert = 0.04, threshold 0.8,
"balance", automatic relevance (box plot, 1.5).

Compared, per bin of our split (rows ordered by target, runs of rare / common):
synthetic rows (the reference's synthetic rows are its output rows that are not input
rows, put in the bin nearest their target value), original rows kept, and a two-sample
Kolmogorov-Smirnov test of the target of (a) the synthetic rows, (b) all output rows of
the bin, ours vs reference, with the 1 % critical value of D for those sample sizes.

Usage::

    .venv/bin/python benchmarks/smogn.py                       # 1e3..1e4 both, 1e5, 1e6 ours
    .venv/bin/python benchmarks/smogn.py --quick               # small smoke run
    .venv/bin/python benchmarks/smogn.py --target color --repeat 3
    .venv/bin/python benchmarks/smogn.py --preset tng_hard     # galhalo's default universe
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _preset import NOT_RERUN, add_preset_option
from child import load_pool, run_child_json
from simulate import machine_info, parse_sizes

FEATURES = ("M_h", "C_h", "S_h", "z_h", "Delta3_h")
SETTINGS = {"k": 7, "pert": 0.04, "threshold": 0.8, "mode": "balance"}
DEFAULT_SIZES = (1_000, 2_000, 5_000, 10_000)
DEFAULT_OURS_ONLY = (100_000, 1_000_000)
DEFAULT_REFERENCE = Path("/tmp/smogn-ref/bin/python")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "smogn.json"
#: Targets of issue #6.
TARGET_RATIO_ROWS, TARGET_RATIO = 10_000, 100.0
TARGET_LARGE_ROWS, TARGET_LARGE_SECONDS = 1_000_000, 60.0
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

# The reference child: argv = data.npy, columns (comma-separated), target, out.npy, seed.
REFERENCE_CHILD = r"""
import json, random, sys, time
import numpy as np, pandas as pd
import smogn
def peak_rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
data_path, columns, target, out_path, seed, k, pert, threshold, mode = sys.argv[1:]
table = pd.DataFrame(np.load(data_path, allow_pickle=False), columns=columns.split(","))
np.random.seed(int(seed)); random.seed(int(seed))
start = time.perf_counter()
out = smogn.smoter(data=table, y=target, k=int(k), pert=float(pert),
                   rel_thres=float(threshold), samp_method=mode)
seconds = time.perf_counter() - start
np.save(out_path, out[table.columns].to_numpy(dtype=np.float64), allow_pickle=False)
print(json.dumps({"seconds": seconds, "rows_out": len(out),
                  "peak_rss_mib": peak_rss_mib(),
                  "numpy": np.__version__, "smogn": getattr(smogn, "__version__", "0.1.2")}))
"""


# --------------------------------------------------------------------------- children


def peak_rss_mib() -> float:
    """Peak resident set size of this process (VmHWM), MiB.

    Not ``ru_maxrss``: on Linux that survives ``exec`` and so would include the pages of
    the parent process at the time it started this child.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(data_path: str, columns: str, target: str, out_path: str, seed: int) -> dict:
    """One timed run of :func:`galhalo.augment.smogn.augment` in this (fresh) process."""
    import pandas as pd

    from galhalo.augment.smogn import augment

    table = pd.DataFrame(np.load(data_path, allow_pickle=False), columns=columns.split(","))
    start = time.perf_counter()
    result = augment(table, target, seed=seed, **SETTINGS)
    seconds = time.perf_counter() - start
    np.savez(out_path, table=result.table.to_numpy(dtype=np.float64),
             synthetic=result.synthetic, bin=result.bin, source=result.source,
             neighbour=result.neighbour,
             bins=result.bins[["rows", "kept", "synthetic", "interpolated", "noise"]].to_numpy(),
             rare=result.bins["rare"].to_numpy(), lower=result.bins["lower"].to_numpy(),
             upper=result.bins["upper"].to_numpy())
    return {"seconds": seconds, "rows_out": len(result.table),
            "peak_rss_mib": peak_rss_mib()}


# --------------------------------------------------------------------------- data


def draw_table(pool: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` rows of ``pool``: a subsample, or (n > pool) a jittered bootstrap."""
    rng = np.random.default_rng([seed, n])
    if n <= len(pool):
        return pool[np.sort(rng.choice(len(pool), n, replace=False))]
    rows = pool[rng.integers(len(pool), size=n)]
    return rows + rng.normal(size=rows.shape) * (0.01 * pool.std(axis=0))


# --------------------------------------------------------------------------- comparison


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> dict[str, float | None]:
    """KS statistic D, p-value and the 1 % critical value 1.628 sqrt((n+m)/(n m))."""
    from scipy.stats import ks_2samp

    if len(a) == 0 or len(b) == 0:
        return {"D": None, "p": None, "D_crit_1pct": None}
    test = ks_2samp(a, b)
    critical = 1.628 * math.sqrt((len(a) + len(b)) / (len(a) * len(b)))
    return {"D": float(test.statistic), "p": float(test.pvalue), "D_crit_1pct": critical}


def _row_keys(rows: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def package_target_rule(data: np.ndarray, source: np.ndarray,
                        neighbour: np.ndarray) -> np.ndarray:
    """The target the ``smogn`` package gives an interpolated row of seed s, neighbour j.

    Its weights a, b are |y - cell| / range with ``cell`` the synthetic row's own,
    not yet written, target cell (zero in a fresh array), i.e. a = |y_s|, b = |y_j| up
    to a common factor: y = (b y_s + a y_j) / (a + b), or y_s + y_j / 2 when a == b.
    Used only to show which part of a difference comes from that rule.
    """
    y_seed, y_other = data[source, -1], data[neighbour, -1]
    a, b = np.abs(y_seed), np.abs(y_other)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(a == b, y_seed + y_other / 2, (b * y_seed + a * y_other) / (a + b))


def compare(data: np.ndarray, ours_path: Path, reference_path: Path) -> dict[str, Any]:
    """Per-bin counts and KS tests of the target, ours vs the reference's output.

    ``ks_synthetic_package_rule`` repeats the synthetic-row test after giving our
    interpolated rows the package's target (:func:`package_target_rule`), features
    unchanged: if that removes a difference, the difference is the package's rule.
    """
    ours = np.load(ours_path, allow_pickle=False)
    reference = np.load(reference_path, allow_pickle=False)
    table, synthetic, out_bin = ours["table"], ours["synthetic"], ours["bin"]
    lower, upper, rare = ours["lower"], ours["upper"], ours["rare"]
    reference_synthetic = ~np.isin(_row_keys(reference), _row_keys(data))
    # A reference row belongs to the bin whose target range is nearest its target.
    cuts = 0.5 * (upper[:-1] + lower[1:])
    reference_bin = np.searchsorted(cuts, reference[:, -1])
    bins = []
    for b in range(len(lower)):
        mine, theirs = out_bin == b, reference_bin == b
        y_ours, y_ref = table[mine, -1], reference[theirs, -1]
        s_ours, s_ref = table[mine & synthetic, -1], reference[theirs & reference_synthetic, -1]
        made = np.flatnonzero(mine & synthetic)
        partner = ours["neighbour"][made]
        s_rule = s_ours.copy()
        s_rule[partner >= 0] = package_target_rule(data, ours["source"][made][partner >= 0],
                                                   partner[partner >= 0])
        row = {
            "bin": b, "rare": bool(rare[b]), "lower": float(lower[b]), "upper": float(upper[b]),
            "rows_in": int(ours["bins"][b, 0]),
            "synthetic": {"ours": len(s_ours), "reference": len(s_ref)},
            "kept": {"ours": int((mine & ~synthetic).sum()),
                     "reference": int((theirs & ~reference_synthetic).sum())},
            "ours_interpolated": int(ours["bins"][b, 3]), "ours_noise": int(ours["bins"][b, 4]),
            "ks_synthetic": ks_two_sample(s_ours, s_ref),
            "ks_synthetic_package_rule": ks_two_sample(s_rule, s_ref),
            "ks_all_rows": ks_two_sample(y_ours, y_ref),
        }
        row["quantiles_synthetic"] = {
            who: np.quantile(values, QUANTILES).tolist() if len(values) else None
            for who, values in (("ours", s_ours), ("reference", s_ref))}
        bins.append(row)
    return {"rows_out": {"ours": len(table), "reference": len(reference)},
            "ks_whole_table": ks_two_sample(table[:, -1], reference[:, -1]),
            "quantiles_whole_table": {"ours": np.quantile(table[:, -1], QUANTILES).tolist(),
                                      "reference": np.quantile(reference[:, -1],
                                                               QUANTILES).tolist()},
            "bins": bins}


# --------------------------------------------------------------------------- runs


def measure(kind: str, data: np.ndarray, columns: list[str], target: str, seed: int,
            workdir: Path, reference_python: Path, timeout: float | None) -> dict[str, Any]:
    """One run of ``kind`` ("ours" / "reference") in a subprocess; its JSON + output path."""
    n = len(data)
    data_path = workdir / f"data_{n}.npy"
    if not data_path.exists():
        np.save(data_path, data, allow_pickle=False)
    if kind == "ours":
        out_path = workdir / f"ours_{n}_{seed}.npz"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", str(data_path),
                   ",".join(columns), target, str(out_path), str(seed)]
    else:
        out_path = workdir / f"reference_{n}_{seed}.npy"
        # -I: isolated, so that `import smogn` cannot pick up this script from the cwd.
        command = [str(reference_python), "-I", "-c", REFERENCE_CHILD, str(data_path),
                   ",".join(columns), target, str(out_path), str(seed),
                   *(str(SETTINGS[key]) for key in ("k", "pert", "threshold", "mode"))]
    result = run_child_json(command, timeout)
    result["output"] = str(out_path)
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median seconds / peak RSS over the successful runs (every run kept)."""
    good = [run for run in runs if "error" not in run]
    if not good:
        return {"error": runs[-1]["error"], "runs": runs}
    return {"seconds": statistics.median(run["seconds"] for run in good),
            "peak_rss_mib": statistics.median(run["peak_rss_mib"] for run in good),
            "rows_out": good[0]["rows_out"], "load_before": good[0]["load_before"],
            "load_after": good[-1]["load_after"], "runs": runs}


def print_results(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(110, len(title)))
    console.print(title, style="bold", highlight=False)
    timing = Table(title="time of the SMOGN call (median over runs)")
    for header in ("rows", "ours s", "reference s", "ratio", "ours rows out", "ref rows out",
                   "ours peak MiB", "load before/after"):
        timing.add_column(header, justify="right")
    for row in rows:
        ours, ref = row["ours"], row.get("reference") or {}
        ratio = f"{row['ratio']:.0f}x" if row.get("ratio") else "–"
        ref_s = (f"{ref['seconds']:.2f}" if "seconds" in ref
                 else ref.get("error", "–").splitlines()[-1][:40])
        timing.add_row(f"{row['n']:,}", f"{ours.get('seconds', math.nan):.3f}", ref_s, ratio,
                       f"{ours.get('rows_out', 0):,}",
                       f"{ref.get('rows_out', 0):,}" if ref else "–",
                       f"{ours.get('peak_rss_mib', math.nan):,.0f}",
                       f"{ours.get('load_before', math.nan):.2f}/"
                       f"{ours.get('load_after', math.nan):.2f}")
    console.print(timing)
    stats = Table(title="per bin, ours | reference: synthetic rows, kept rows; KS D (1% crit) "
                        "of the target of synthetic rows and of all rows of the bin; last: "
                        "synthetic rows again, ours given the package's target rule")
    for header in ("rows", "bin", "rare", "rows in", "synthetic", "kept", "interp/noise (ours)",
                   "KS synthetic", "KS all rows", "KS synth., pkg rule"):
        stats.add_column(header, justify="right")
    for row in rows:
        for b in (row.get("comparison") or {}).get("bins", []):
            ks_s, ks_a, ks_p = (b["ks_synthetic"], b["ks_all_rows"],
                                b["ks_synthetic_package_rule"])
            stats.add_row(
                f"{row['n']:,}", str(b["bin"]), "yes" if b["rare"] else "no", f"{b['rows_in']:,}",
                f"{b['synthetic']['ours']:,} | {b['synthetic']['reference']:,}",
                f"{b['kept']['ours']:,} | {b['kept']['reference']:,}",
                f"{b['ours_interpolated']:,}/{b['ours_noise']:,}",
                "–" if ks_s["D"] is None else f"{ks_s['D']:.3f} ({ks_s['D_crit_1pct']:.3f})",
                "–" if ks_a["D"] is None else f"{ks_a['D']:.3f} ({ks_a['D_crit_1pct']:.3f})",
                "–" if ks_p["D"] is None else f"{ks_p['D']:.3f}")
    console.print(stats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES),
                        help="rows run by both implementations (default 1e3,2e3,5e3,1e4)")
    parser.add_argument("--ours-only", type=parse_sizes, default=list(DEFAULT_OURS_ONLY),
                        help="rows run by ours alone (default 1e5,1e6)")
    parser.add_argument("--target", default="sSFR", help="target column (default sSFR)")
    parser.add_argument("--catalog", type=Path, help="catalog to draw rows from (default: "
                        "simulate --n-halos rows of the --preset universe)")
    parser.add_argument("--n-halos", type=int, default=100_000,
                        help="rows of the simulated pool (default 1e5)")
    add_preset_option(parser, NOT_RERUN)
    parser.add_argument("--reference-python", type=Path, default=DEFAULT_REFERENCE,
                        help="interpreter of a venv with the smogn package "
                             f"(default {DEFAULT_REFERENCE})")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds after which one reference run is abandoned")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (median)")
    parser.add_argument("--seed", type=int, default=0, help="SMOGN seed of both (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: sizes 1e3,2e3 for both, 2e4 ours, pool of 1e4")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        data_path, columns, target, out_path, seed = args.child
        print(json.dumps(run_ours(data_path, columns, target, out_path, int(seed))))
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.quick:
        args.sizes, args.ours_only, args.n_halos = [1_000, 2_000], [20_000], 10_000

    from galhalo.files import write_json

    reference_ok = args.reference_python.exists()
    if not reference_ok:
        print(f"reference interpreter {args.reference_python} not found: skipping the smogn "
              "package (create it with: python3.11 -m venv /tmp/smogn-ref && "
              "/tmp/smogn-ref/bin/pip install numpy==2.3.5 smogn pandas)", file=sys.stderr)
    print("preparing data ...", file=sys.stderr, flush=True)
    pool, origin = load_pool(args.catalog, args.n_halos, (*FEATURES, args.target),
                             preset=args.preset)
    columns = [*FEATURES, args.target]
    rows = []
    with tempfile.TemporaryDirectory(prefix="galhalo-smogn-") as tmp:
        workdir = Path(tmp)
        for n in [*args.sizes, *args.ours_only]:
            data = draw_table(pool, n, args.seed)
            row: dict[str, Any] = {"n": n}
            kinds = ["ours"] + (["reference"] if reference_ok and n in args.sizes else [])
            for kind in kinds:
                runs = []
                for attempt in range(args.repeat):
                    print(f"{kind} n={n:,} (run {attempt + 1}/{args.repeat}) ...",
                          file=sys.stderr, flush=True)
                    runs.append(measure(kind, data, columns, args.target, args.seed, workdir,
                                        args.reference_python, args.timeout))
                row[kind] = summarise(runs)
            ours, ref = row["ours"], row.get("reference")
            if ref and "seconds" in ref and "seconds" in ours:
                row["ratio"] = ref["seconds"] / ours["seconds"]
                row["comparison"] = compare(data, Path(ours["runs"][-1]["output"]),
                                            Path(ref["runs"][-1]["output"]))
            rows.append(row)
    for row in rows:  # temporary paths are gone
        for kind in ("ours", "reference"):
            for run in (row.get(kind) or {}).get("runs", []):
                run.pop("output", None)

    by_n = {row["n"]: row for row in rows}
    targets = {
        "ratio_at_1e4": {"wanted": TARGET_RATIO,
                         "measured": by_n.get(TARGET_RATIO_ROWS, {}).get("ratio")},
        "seconds_at_1e6": {"wanted": TARGET_LARGE_SECONDS, "measured": by_n.get(
            TARGET_LARGE_ROWS, {}).get("ours", {}).get("seconds")},
    }
    title = (f"SMOGN on {args.target} | {', '.join(FEATURES)} (k=7, pert=0.04, threshold 0.8, "
             f"balance): galhalo vs smogn package; targets >= {TARGET_RATIO:.0f}x at 1e4, "
             f"1e6 rows < {TARGET_LARGE_SECONDS:.0f} s")
    print_results(rows, title)
    for name, value in targets.items():
        print(f"{name}: wanted {value['wanted']}, measured {value['measured']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {
        "benchmark": "smogn", "machine": machine_info(), "data": origin,
        "preset": None if args.catalog is not None else args.preset,
        "options": {"target": args.target, "features": list(FEATURES), "seed": args.seed,
                    "sizes": args.sizes, "ours_only": args.ours_only, "repeat": args.repeat,
                    "settings": SETTINGS, "reference_python": str(args.reference_python),
                    "reference_available": reference_ok},
        "targets": targets, "rows": rows,
    })
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all("error" not in row["ours"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
