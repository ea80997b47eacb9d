"""Benchmark: how close the synthetic universe is to TNG300-1 centrals.

Simulates the universe of galaxy truth ``--preset`` (default ``classic``: the universe the
documented figures were measured on; ``tng_hard`` is galhalo's default), or reads a
catalog file, and compares it with the TNG300 statistics of REFERENCES.md ("TNG300
centrals: statistics to calibrate the synthetic universe against"):

(a) marginal percentiles 1/16/50/84/99, mean and sd of every halo and galaxy column;
(b) Spearman correlations, whole sample and at fixed mass 11.2 < M_h < 11.5;
(c) per halo-mass bin: share, median smass and its sd, quenched fraction
    (sSFR < -11), median colour, median radius;
(d) overall quenched (sSFR < -11) and red (g - i > 0.9) fractions.

Every table is printed as ours | TNG300 | difference (ours - TNG300).

Usage::

    .venv/bin/python benchmarks/calibration.py                       # 1e5 halos, seed 42
    .venv/bin/python benchmarks/calibration.py --catalog my.parquet
    .venv/bin/python benchmarks/calibration.py --preset tng_hard     # galhalo's default
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _preset import NOT_RERUN, add_preset_option
from scipy.stats import spearmanr

# Copied from /work/shared/REFERENCES.md, section "TNG300 centrals: statistics to
# calibrate the synthetic universe against" (104,716 TNG300-1 centrals, z = 0).
TNG300: dict[str, Any] = {
    # (a) column: (p1, p16, p50, p84, p99, mean, sd)
    "marginals": {
        "M_h": (10.88, 11.17, 11.45, 11.97, 13.11, 11.56, 0.46),
        "C_h": (0.69, 0.92, 1.02, 1.11, 1.34, 1.01, 0.12),
        "S_h": (0.008, 0.023, 0.043, 0.074, 0.134, 0.049, 0.028),
        "z_h": (0.25, 0.76, 1.31, 1.84, 3.25, 1.34, 0.60),
        "Delta3_h": (0.43, 1.07, 2.08, 4.64, 15.9, 3.02, 3.08),
        "smass": (8.76, 8.94, 9.51, 10.32, 11.26, 9.61, 0.64),
        "color": (0.13, 0.44, 0.67, 1.01, 1.17, 0.69, 0.26),
        "sSFR": (-14.6, -11.9, -9.95, -9.59, -9.17, -10.52, 1.44),
        "radius": (0.27, 0.39, 0.51, 0.66, 1.04, 0.53, 0.15),
    },
    # (b) Spearman rank correlations over the whole sample
    "spearman": {
        ("M_h", "smass"): 0.93, ("C_h", "z_h"): 0.59, ("color", "sSFR"): -0.86,
        ("smass", "color"): 0.51, ("smass", "sSFR"): -0.50, ("M_h", "radius"): 0.33,
        ("C_h", "S_h"): -0.29,
    },
    # ... and at fixed mass (galaxy assembly bias)
    "fixed_mass_range": (11.2, 11.5),
    "spearman_fixed_mass": {
        ("smass", "z_h"): 0.36, ("sSFR", "z_h"): -0.38, ("radius", "S_h"): 0.23,
    },
    # (c) M_h bin: (share, median smass, sd smass, f_quenched, median color, median radius)
    "mass_bins": {
        (10.5, 11.0): (0.03, 8.83, 0.13, 0.20, 0.72, 0.50),
        (11.0, 11.5): (0.52, 9.14, 0.29, 0.03, 0.61, 0.48),
        (11.5, 12.0): (0.30, 9.93, 0.29, 0.14, 0.66, 0.50),
        (12.0, 12.5): (0.10, 10.52, 0.20, 0.76, 1.11, 0.61),
        (12.5, 13.0): (0.03, 10.93, 0.17, 0.97, 1.13, 0.81),
        (13.0, 14.0): (0.012, 11.38, 0.24, 0.96, 1.13, 1.08),
        (14.0, 15.0): (0.001, 11.98, 0.12, 0.98, 1.12, 1.41),
    },
    # (d) overall fractions
    "fractions": {"quenched": 0.19, "red": 0.22},
}

MARGINAL_STATS = ("p1", "p16", "p50", "p84", "p99", "mean", "sd")
MARGINAL_COLUMNS = ("M_h", "C_h", "S_h", "z_h", "Delta3_h", "smass", "color", "sSFR", "radius")
BIN_STATS = ("share", "smass", "sd", "f_quenched", "color", "radius")
QUENCHED_SSFR = -11.0  # sSFR below this: quenched
RED_COLOR = 0.9  # g - i above this: red
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "calibration.json"


# --------------------------------------------------------------------------- statistics


def marginals(df: pd.DataFrame, columns: Sequence[str] = MARGINAL_COLUMNS) -> pd.DataFrame:
    """Percentiles 1/16/50/84/99, mean and sd (ddof=1) of each column; index = column."""
    rows = {}
    for name in columns:
        values = df[name].to_numpy(dtype=float)
        rows[name] = [*np.percentile(values, [1, 16, 50, 84, 99]), values.mean(),
                      values.std(ddof=1)]
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(MARGINAL_STATS))


def spearman(df: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> pd.Series:
    """Spearman rank correlation of each column pair; index ``"a–b"``."""
    values = {f"{a}–{b}": spearmanr(df[a], df[b]).statistic for a, b in pairs}
    return pd.Series(values, dtype=float)


def fixed_mass(df: pd.DataFrame, low: float, high: float) -> pd.DataFrame:
    """Rows with ``low < M_h < high`` (both ends open, as in REFERENCES.md)."""
    return df[(df["M_h"] > low) & (df["M_h"] < high)]


def mass_bin_table(df: pd.DataFrame, bins: Sequence[tuple[float, float]]) -> pd.DataFrame:
    """Per halo-mass bin ``[low, high)``: share of all rows, median smass, its sd,
    quenched fraction (sSFR < -11), median colour, median radius, and the count ``n``.

    Index ``"low–high"``; statistics of an empty bin are NaN.
    """
    rows = {}
    for low, high in bins:
        members = df[(df["M_h"] >= low) & (df["M_h"] < high)]
        rows[f"{low:g}–{high:g}"] = {
            "share": len(members) / len(df),
            "smass": members["smass"].median(),
            "sd": members["smass"].std(ddof=1),
            "f_quenched": (members["sSFR"] < QUENCHED_SSFR).mean(),
            "color": members["color"].median(),
            "radius": members["radius"].median(),
            "n": len(members),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def fractions(df: pd.DataFrame) -> pd.Series:
    """Overall quenched (sSFR < -11) and red (g - i > 0.9) fractions."""
    return pd.Series({"quenched": (df["sSFR"] < QUENCHED_SSFR).mean(),
                      "red": (df["color"] > RED_COLOR).mean()})


def compare(ours: pd.Series, tng: pd.Series) -> pd.DataFrame:
    """Columns ours | TNG300 | diff (ours - TNG300), aligned on the index."""
    return pd.DataFrame({"ours": ours, "TNG300": tng, "diff": ours - tng})


def compare_tables(ours: pd.DataFrame, tng: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{"ours", "TNG300", "diff"}`` tables with the TNG300 table's rows and columns."""
    ours = ours.loc[tng.index, tng.columns]
    return {"ours": ours, "TNG300": tng, "diff": ours - tng}


def tng_marginals() -> pd.DataFrame:
    """The TNG300 marginal table as a DataFrame shaped like :func:`marginals`."""
    return pd.DataFrame.from_dict(TNG300["marginals"], orient="index",
                                  columns=list(MARGINAL_STATS))


def tng_mass_bins() -> pd.DataFrame:
    """The TNG300 per-mass-bin table shaped like :func:`mass_bin_table` (without ``n``)."""
    rows = {f"{low:g}–{high:g}": values for (low, high), values in TNG300["mass_bins"].items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(BIN_STATS))


def tng_spearman(key: str) -> pd.Series:
    """TNG300 Spearman correlations (``key`` = "spearman" or "spearman_fixed_mass")."""
    return pd.Series({f"{a}–{b}": value for (a, b), value in TNG300[key].items()}, dtype=float)


def calibrate(df: pd.DataFrame) -> dict[str, Any]:
    """Every comparison (a)–(d) for catalog table ``df``, as DataFrames."""
    low, high = TNG300["fixed_mass_range"]
    ours_bins = mass_bin_table(df, list(TNG300["mass_bins"]))
    tng_marg = tng_marginals()
    marg = compare_tables(marginals(df, list(tng_marg.index)), tng_marg)
    return {
        "marginals": marg,
        # size of each marginal discrepancy in units of the TNG300 sd of that column
        "marginals_worst_in_sd": (marg["diff"].abs().div(tng_marg["sd"], axis=0)).max(axis=1),
        "spearman": compare(spearman(df, list(TNG300["spearman"])), tng_spearman("spearman")),
        "spearman_fixed_mass": compare(
            spearman(fixed_mass(df, low, high), list(TNG300["spearman_fixed_mass"])),
            tng_spearman("spearman_fixed_mass")),
        "n_fixed_mass": len(fixed_mass(df, low, high)),
        "mass_bins": compare_tables(ours_bins, tng_mass_bins()),
        "mass_bin_counts": ours_bins["n"],
        "fractions": compare(fractions(df), pd.Series(TNG300["fractions"], dtype=float)),
    }


# --------------------------------------------------------------------------- output


def _fmt(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}g}" if abs(value) >= 100 else f"{value:.{digits}f}"


def _signed(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:+.{digits}f}"


def triple_rows(tables: dict[str, pd.DataFrame], digits: int = 3,
                extra: pd.Series | None = None) -> tuple[list[str], list[list[str]]]:
    """Rows ``name / ours``, ``name / TNG300``, ``name / diff`` for each index entry."""
    headers = ["", "", *tables["ours"].columns]
    if extra is not None:
        headers.append(str(extra.name))
    rows = []
    for name in tables["ours"].index:
        for which in ("ours", "TNG300", "diff"):
            values = tables[which].loc[name]
            fmt = _signed if which == "diff" else _fmt
            row = [name if which == "ours" else "", which,
                   *(fmt(float(v), digits) for v in values)]
            if extra is not None:
                row.append(f"{extra[name]:.2f}" if which == "diff" else "")
            rows.append(row)
    return headers, rows


def comparison_rows(table: pd.DataFrame, digits: int = 3) -> tuple[list[str], list[list[str]]]:
    """Rows ``name | ours | TNG300 | diff`` of a :func:`compare` table."""
    rows = [[name, _fmt(float(r["ours"]), digits), _fmt(float(r["TNG300"]), digits),
             _signed(float(r["diff"]), digits)] for name, r in table.iterrows()]
    return ["", "ours", "TNG300", "diff"], rows


def print_table(title: str, headers: list[str], rows: list[list[str]],
                group: int = 1) -> None:
    """Print one table (rich if installed, else plain); a rule every ``group`` rows."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        print(f"\n{title}")
        labels = [not header for header in headers]  # label columns: left-aligned

        def line(cells: list[str]) -> str:
            return "  ".join(c.ljust(w) if left else c.rjust(w)
                             for c, w, left in zip(cells, widths, labels, strict=True))

        print(line(headers))
        for row in rows:
            print(line(row))
        return
    console = Console(width=max(100, len(title)))
    console.print(f"\n{title}", style="bold", highlight=False)
    table = Table()
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i < 2 and group > 1 else "right")
    for i, row in enumerate(rows):
        table.add_row(*row, end_section=group > 1 and (i + 1) % group == 0)
    console.print(table)


def report(results: dict[str, Any], label: str) -> None:
    """Print all tables of :func:`calibrate`."""
    worst = results["marginals_worst_in_sd"].rename("|Δ|max/sd")
    print_table(f"(a) marginals — {label} | TNG300 | diff (last column: largest |diff| "
                "in TNG300 sd)", *triple_rows(results["marginals"], extra=worst), group=3)
    print_table("(b) Spearman correlations, whole sample",
                *comparison_rows(results["spearman"]))
    low, high = TNG300["fixed_mass_range"]
    print_table(f"(b) Spearman correlations at fixed mass {low} < M_h < {high} "
                f"({results['n_fixed_mass']:,} rows)",
                *comparison_rows(results["spearman_fixed_mass"]))
    headers, rows = triple_rows(results["mass_bins"])
    counts = results["mass_bin_counts"]
    headers.append("n")
    for i, row in enumerate(rows):
        row.append(f"{counts.iloc[i // 3]:,}" if i % 3 == 0 else "")
    print_table("(c) per halo-mass bin: share, median smass, sd smass, quenched fraction "
                "(sSFR < -11), median color, median radius", headers, rows, group=3)
    print_table("(d) overall fractions: quenched (sSFR < -11), red (g - i > 0.9)",
                *comparison_rows(results["fractions"]))


def _clean(value: Any) -> Any:
    """NaN -> None (strict JSON), numpy scalars -> Python."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and math.isnan(value) else value


def to_json(results: dict[str, Any]) -> dict[str, Any]:
    """The results as nested plain dicts: ``{row: {column: {ours, TNG300, diff}}}``."""
    def nested(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
        return {row: {col: {which: _clean(tables[which].loc[row, col]) for which in tables}
                      for col in tables["ours"].columns} for row in tables["ours"].index}

    def flat(table: pd.DataFrame) -> dict[str, Any]:
        return {row: {col: _clean(table.loc[row, col]) for col in table.columns}
                for row in table.index}

    return {
        "marginals": nested(results["marginals"]),
        "marginals_worst_in_sd": {k: _clean(v)
                                  for k, v in results["marginals_worst_in_sd"].items()},
        "spearman": flat(results["spearman"]),
        "spearman_fixed_mass": flat(results["spearman_fixed_mass"]),
        "n_fixed_mass": int(results["n_fixed_mass"]),
        "mass_bins": nested(results["mass_bins"]),
        "mass_bin_counts": {k: int(v) for k, v in results["mass_bin_counts"].items()},
        "fractions": flat(results["fractions"]),
    }


def load(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The catalog table to compare, and a description of where it came from."""
    from galhalo.columns import GALAXY, HALO

    if args.catalog is not None:
        from galhalo.catalog import read_catalog

        catalog = read_catalog(args.catalog, required=(*HALO, *GALAXY))
        source = {"catalog": str(args.catalog), "seed": catalog.meta.seed,
                  "source": catalog.meta.source}
    else:
        from galhalo.sim.universe import simulate

        start = time.perf_counter()
        catalog = simulate(args.n_halos, seed=args.seed, preset=args.preset)
        source = {"simulate": {"n_halos": args.n_halos, "seed": args.seed, "box": 205.0,
                               "preset": args.preset},
                  "simulate_seconds": round(time.perf_counter() - start, 2),
                  "halos_drawn": catalog.meta.extra.get("halos_drawn")}
    source["rows"] = len(catalog.table)
    return catalog.table, source


def main(argv: list[str] | None = None) -> int:
    """Command line: simulate (or read), compare with TNG300, print, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-halos", type=lambda s: int(float(s)), default=100_000,
                        help="halos to simulate (default 1e5)")
    parser.add_argument("--seed", type=int, default=42, help="simulation seed (default 42)")
    add_preset_option(parser, NOT_RERUN)
    parser.add_argument("--catalog", type=Path, default=None,
                        help="use this catalog file instead of simulating")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON output (default benchmarks/results/calibration.json)")
    args = parser.parse_args(argv)
    if args.n_halos < 1:
        parser.error("--n-halos must be >= 1")

    from galhalo.files import write_json

    df, source = load(args)
    label = "ours" if args.catalog is None else str(args.catalog)
    results = calibrate(df)
    print(f"catalog: {source}")
    report(results, label)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {"benchmark": "calibration", "source": source,
                          "preset": None if args.catalog is not None else args.preset,
                          "thresholds": {"quenched_sSFR_below": QUENCHED_SSFR,
                                         "red_color_above": RED_COLOR},
                          **to_json(results)})
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
