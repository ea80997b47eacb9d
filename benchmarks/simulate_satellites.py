"""Benchmark: time and peak memory of ``simulate(..., satellites=True)``, and the
satellite statistics of the universe it makes.

Each (size, satellites on/off) pair runs in a fresh Python subprocess, so the peak
resident set size (``ru_maxrss``) belongs to that run alone; the child times the
``simulate`` call only (imports excluded). The box grows with the size so that the
number density of centrals stays that of the default universe (1e5 in 205 Mpc/h,
TNG300-like): ``box = 205 (n / 1e5)^(1/3)`` Mpc/h.

The design target: 1e5 hosts with satellites in under 60 s and 2 GiB on 2 cores.
The child of the largest run with satellites also measures the satellite statistics:
satellite fraction per stellar-mass bin, mean N_sat per host-mass bin against the
truth's exact mean, quenched fraction (sSFR < -11) of satellites per host-mass bin,
and conformity (f_Q of satellites of quenched versus star-forming centrals).
``--preset`` names the galaxy truth (default ``classic``, the universe of the figures in
the documents).

Usage::

    .venv/bin/python benchmarks/simulate_satellites.py            # 1e4, 1e5, 1e6
    .venv/bin/python benchmarks/simulate_satellites.py --quick    # 1e4 only
    .venv/bin/python benchmarks/simulate_satellites.py --sizes 1e4,1e5
    .venv/bin/python benchmarks/simulate_satellites.py --preset tng_hard  # default universe
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from _docs import DOCS, markdown_table, rewrite_block
from _preset import NOT_RERUN, add_preset_option, preset_flag
from _universe import box_for
from child import run_child_json
from simulate import git_commit, machine_info, parse_sizes

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
TARGET_HOSTS, TARGET_SECONDS, TARGET_MIB = 100_000, 60.0, 2048.0
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "simulate_satellites.json"
#: The documents of the two generated blocks: timings beside simulate's, statistics
#: with the satellite truth they describe.
DOCUMENT = DOCS / "universe.md"
STATISTICS_DOCUMENT = DOCS / "satellites.md"
TIMING_BLOCK = "simulate_satellites"
STATISTICS_BLOCK = "satellite_statistics"
SMASS_EDGES = (8.75, 9.25, 9.75, 10.25, 10.75, 11.25, 13.0)
HOST_EDGES = (11.0, 11.5, 12.0, 12.5, 13.0, 13.5, 14.0, 15.5)
QUENCHED = -11.0  # sSFR threshold (log10 1/yr)


# --------------------------------------------------------------------------- child


def satellite_statistics(catalog) -> dict[str, Any]:
    """The universe's satellite statistics (see the module docstring), JSON-able.

    Measured with galhalo's own estimators (``galhalo.evaluate.satellite_statistics``:
    the same numbers ``galhalo clustering`` reports), plus the truth's exact mean and
    variance of N_sat over the same hosts.
    """
    import numpy as np

    from galhalo.evaluate.satellite_statistics import (
        conformity,
        occupation,
        quenched_fractions,
        satellite_fraction,
    )
    from galhalo.sim.truth import TruthModel

    table = catalog.table
    central = table["is_central"].to_numpy()
    centrals = table[central]
    model = TruthModel.from_dict(catalog.meta.truth).satellite_model
    mean = model.satellite_count_mean(centrals)
    variance = model.satellite_count_variance(centrals)
    occupied = occupation(table, HOST_EDGES)
    host_bin = np.searchsorted(HOST_EDGES, centrals["M_h"].to_numpy(), side="right") - 1
    truth_mean, truth_variance = [], []
    for low in occupied["M_min"]:
        here = host_bin == HOST_EDGES.index(low)
        truth_mean.append(float(mean[here].mean()))
        # law of total variance over the bin's hosts
        truth_variance.append(float(variance[here].mean() + mean[here].var()))
    occupied["truth_mean"], occupied["truth_variance"] = truth_mean, truth_variance
    by = {"by": "sSFR", "cut": QUENCHED}

    def records(frame) -> list[dict[str, Any]]:
        """Rows as dicts, NaN (a statistic not measurable in a bin) as None (JSON null)."""
        return frame.astype(object).where(frame.notna(), None).to_dict("records")

    smass = table["smass"].to_numpy()
    near_10 = table[central | (np.abs(smass - 10.0) < 0.25)]
    massive = table[central | (smass >= 10.5)]
    satellites = table[~central]
    return {
        "satellites": int((~central).sum()), "centrals": int(central.sum()),
        "satellite_fraction": float((~central).mean()),
        "quenched_fraction_satellites": float((satellites["sSFR"] < QUENCHED).mean()),
        "quenched_fraction_centrals": float((centrals["sSFR"] < QUENCHED).mean()),
        "median_r_host": float(satellites["r_host"].median()),
        "expected_missing_satellites": catalog.meta.extra["expected_missing_satellites"],
        "fraction": records(satellite_fraction(table, SMASS_EDGES)),
        "occupation": records(occupied),
        "quenched": records(quenched_fractions(table, HOST_EDGES, **by)),
        "quenched_smass_10": records(quenched_fractions(near_10, HOST_EDGES, **by)),
        "quenched_massive": records(quenched_fractions(
            massive, (HOST_EDGES[0], HOST_EDGES[-1]), **by)),
        "conformity": records(conformity(table, HOST_EDGES, **by)),
    }


def run_child(n_hosts: int, satellites: bool, statistics: bool, *,
              preset: str) -> dict[str, Any]:
    """One measurement in this (fresh) process: ``simulate`` at the scaled box, galaxy
    truth ``preset``."""
    import resource

    start = time.perf_counter()
    from galhalo.sim.universe import simulate

    imported = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    stages: dict[str, float] = {}

    def progress(message: str) -> None:
        stages.setdefault(message.split(":")[0], time.perf_counter())

    catalog = simulate(n_hosts, box=box_for(n_hosts), seed=42, satellites=satellites,
                       progress=progress, preset=preset)
    done = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "n_hosts": n_hosts, "satellites": satellites, "box": box_for(n_hosts),
        "rows": len(catalog.table), "import_seconds": imported - start,
        "simulate_seconds": done - imported,
        # The satellite stage alone: from the "satellites" progress message to "done".
        "satellite_seconds": (stages["done"] - stages["satellites"]
                              if "satellites" in stages else 0.0),
        "simulate_cpu_seconds": (after.ru_utime - before.ru_utime)
        + (after.ru_stime - before.ru_stime),
        "peak_rss_mib": after.ru_maxrss / 1024,
        "n_satellites": catalog.meta.extra.get("n_satellites", 0),
        "subhalos_drawn": catalog.meta.extra.get("subhalos_drawn", 0),
    }
    if statistics and satellites:
        result["statistics"] = satellite_statistics(catalog)
    return result


# --------------------------------------------------------------------------- parent


def measure(n_hosts: int, satellites: bool, statistics: bool,
            timeout: float | None, *, preset: str) -> dict[str, Any]:
    """:func:`run_child` in a fresh interpreter (``preset`` passed on as ``--preset``)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(n_hosts),
               "--child-satellites", str(int(satellites)),
               "--child-statistics", str(int(statistics)), "--preset", preset]
    return {"n_hosts": n_hosts, "satellites": satellites,
            **run_child_json(command, timeout)}


def timing_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["hosts", "box Mpc/h", "satellites", "sub-halos drawn", "s without",
              "s with", "ratio", "satellite stage s", "peak MiB without", "peak MiB with"]
    cells = []
    for row in rows:
        off, on = row["without"], row["with"]
        if "error" in off or "error" in on:
            error = (on if "error" in on else off)["error"].splitlines()[-1]
            cells.append([f"{row['n_hosts']:,}", "failed: " + error, *[""] * 8])
            continue
        cells.append([
            f"{row['n_hosts']:,}", f"{on['box']:.0f}", f"{on['n_satellites']:,}",
            f"{on['subhalos_drawn']:,}", f"{off['simulate_seconds']:.1f}",
            f"{on['simulate_seconds']:.1f}",
            f"{on['simulate_seconds'] / off['simulate_seconds']:.2f}",
            f"{on['satellite_seconds']:.1f}",
            f"{off['peak_rss_mib']:,.0f}", f"{on['peak_rss_mib']:,.0f}"])
    return header, cells


def _value(value: float, error: float | None = None, digits: int = 3) -> str:
    """``0.512 ± 0.010`` (no error: the value alone; NaN: a dash)."""
    if value is None or value != value:
        return "–"
    if error is None or error != error:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ± {error:.{digits}f}"


def statistics_text(stats: dict[str, Any], n_hosts: int) -> str:
    """Summary line and three Markdown tables for the statistics block."""
    massive = stats["quenched_massive"][0]
    combined = [row for row in stats["conformity"] if row["scope"] == "combined"]
    lines = [f"Universe of {n_hosts:,} hosts (box {box_for(n_hosts):.0f} Mpc/h, seed 42): "
             f"{stats['satellites']:,} satellites, satellite fraction "
             f"{stats['satellite_fraction']:.3f}; quenched (sSFR < -11): satellites "
             f"{stats['quenched_fraction_satellites']:.3f}, centrals "
             f"{stats['quenched_fraction_centrals']:.3f}; satellites with smass >= 10.5: "
             f"{_value(massive['fq_satellites'], massive['fq_satellites_error'])}; median "
             f"r_host {stats['median_r_host']:.2f} R_vir; conformity at fixed host mass "
             f"(f_Q of satellites of quenched minus star-forming centrals): "
             + (_value(combined[0]["difference"], combined[0]["difference_error"])
                if combined else "–")
             + f"; expected satellites lost with centrals below the cut: "
             f"{stats['expected_missing_satellites']:.1f}.", ""]
    lines.append(markdown_table(
        ["smass bin", "galaxies", "satellite fraction"],
        [[f"{b['smass_min']:.2f}–{b['smass_max']:.2f}", f"{b['n_galaxies']:,}",
          _value(b["f_sat"], b["f_sat_error"])] for b in stats["fraction"]]))
    lines.append("")
    lines.append(markdown_table(
        ["M_h bin", "hosts", "<N_sat>", "truth <N_sat>", "var / mean", "truth var / mean"],
        [[f"{b['M_min']:.1f}–{b['M_max']:.1f}", f"{b['n_hosts']:,}",
          _value(b["mean"], b["mean_error"]), _value(b["truth_mean"]),
          _value(b["ratio"], b["ratio_error"], 2),
          _value(b["truth_variance"] / b["truth_mean"], None, 2)]
         for b in stats["occupation"]]))
    lines.append("")
    near_10 = {round(b["M_min"], 1): b for b in stats["quenched_smass_10"]}
    conform = {round(b["M_min"], 1): b for b in stats["conformity"] if b["scope"] == "bin"}
    rows = []
    for b in stats["quenched"]:
        key = round(b["M_min"], 1)
        ten, conf = near_10.get(key), conform.get(key)
        rows.append([f"{b['M_min']:.1f}–{b['M_max']:.1f}",
                     _value(b["fq_satellites"], b["fq_satellites_error"]),
                     _value(ten["fq_satellites"], ten["fq_satellites_error"]) if ten else "–",
                     _value(b["fq_centrals"], b["fq_centrals_error"]),
                     _value(conf["fq_quenched_centrals"]) if conf else "–",
                     _value(conf["fq_starforming_centrals"]) if conf else "–"])
    lines.append(markdown_table(
        ["M_h bin", "f_Q satellites", "f_Q satellites, smass 9.75–10.25", "f_Q centrals",
         "f_Q sat. of quenched centrals", "f_Q sat. of star-forming centrals"], rows))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES),
                        help="comma-separated host counts (default 1e4,1e5,1e6)")
    parser.add_argument("--quick", action="store_true", help="1e4 hosts only")
    add_preset_option(parser, NOT_RERUN)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON output (default benchmarks/results/simulate_satellites.json)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds after which one child run is abandoned")
    parser.add_argument("--no-docs", action="store_true",
                        help="do not rewrite the blocks in docs/universe.md")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-satellites", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--child-statistics", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(run_child(args.child, bool(args.child_satellites),
                                   bool(args.child_statistics), preset=args.preset)))
        return 0
    sizes = [10_000] if args.quick else args.sizes
    from galhalo.files import write_json

    largest = max(sizes)
    rows = []
    for n_hosts in sizes:
        row: dict[str, Any] = {"n_hosts": n_hosts}
        for satellites in (False, True):
            print(f"simulate {n_hosts:,} hosts, satellites={satellites} ...", file=sys.stderr,
                  flush=True)
            row["with" if satellites else "without"] = measure(
                n_hosts, satellites, satellites and n_hosts == largest, args.timeout,
                preset=args.preset)
        rows.append(row)
    header, cells = timing_table(rows)
    print(markdown_table(header, cells))
    stats = rows[-1]["with"].get("statistics")
    if stats is not None:
        print(statistics_text(stats, largest))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {"benchmark": "simulate_satellites", "machine": machine_info(),
                          "preset": args.preset,
                          "target": {"n_hosts": TARGET_HOSTS, "seconds": TARGET_SECONDS,
                                     "peak_mib": TARGET_MIB},
                          "rows": rows, "statistics": stats})
    print(f"wrote {args.out}", file=sys.stderr)
    if not args.no_docs:
        command = "python benchmarks/simulate_satellites.py" + (
            " --quick" if args.quick else "" if tuple(sizes) == DEFAULT_SIZES
            else f" --sizes {','.join(str(s) for s in sizes)}") + preset_flag(
            args.preset, NOT_RERUN)
        note = (f"\nCommit {git_commit()}; seconds are wall time of the `simulate` call on a "
                f"shared 2-core machine (expect +-30 % noise between the two runs of a "
                f"size; the satellite stage is timed within the run with satellites). "
                f"Target: {TARGET_HOSTS:,} hosts with satellites in {TARGET_SECONDS:.0f} s "
                f"and {TARGET_MIB / 1024:.0f} GiB.")
        rewrite_block(DOCUMENT, TIMING_BLOCK, markdown_table(header, cells) + note,
                      command=command)
        if stats is not None:
            rewrite_block(STATISTICS_DOCUMENT, STATISTICS_BLOCK, statistics_text(stats, largest),
                          command=command)
    failed = any("error" in row[key] for row in rows for key in ("with", "without"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
