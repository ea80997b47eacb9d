"""Benchmark: time and peak memory of ``galhalo.sim.universe.simulate``.

Each catalog size runs in a fresh Python subprocess, so the peak resident set size
(``ru_maxrss`` of that process alone) belongs to that run only. The child times the
``simulate(...)`` call by itself (imports excluded), then writes the catalog as Parquet
with ``galhalo.catalog.write_catalog`` into a temporary directory, and reports one JSON
document on its last stdout line.

There is no reference implementation of ``simulate``: the reference is the target of
the design, 1e5 halos in under 60 s on 2 cores ("vs target" = 60 s / measured).
``--preset`` names the galaxy truth (default: galhalo's, ``tng_hard``). Writes
``benchmarks/results/simulate.json`` and rewrites the block ``<!-- benchmark:simulate -->``
of ``benchmarks/README.md`` (``--no-docs``: leave it alone).

Usage::

    .venv/bin/python benchmarks/simulate.py                      # 1e4, 1e5, 1e6
    .venv/bin/python benchmarks/simulate.py --sizes 1e4,1e5 --repeat 3
    .venv/bin/python benchmarks/simulate.py --preset classic     # the universe until 2026-12-07
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _docs import rewrite_block
from _preset import DEFAULT_PRESET, add_preset_option
from child import run_child_json

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
#: The design target: this many halos ...
TARGET_HALOS = 100_000
#: ... in at most this many seconds of ``simulate`` on 2 cores.
TARGET_SECONDS = 60.0
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "simulate.json"
#: The document whose block ``simulate`` a run rewrites.
README = Path(__file__).resolve().parent / "README.md"


# --------------------------------------------------------------------------- child


def run_child(n_halos: int, *, preset: str) -> dict[str, Any]:
    """One measurement, in this (fresh) process: simulate ``n_halos`` (galaxy truth
    ``preset``), write Parquet.

    Returns:
        ``n_halos``, ``halos_drawn``, ``import_seconds``, ``simulate_seconds``,
        ``write_seconds``, ``total_seconds`` (simulate + write), ``simulate_cpu_seconds``
        (user + system CPU time of the ``simulate`` call, all threads), ``parquet_mib``,
        ``rss_after_simulate_mib`` and ``peak_rss_mib`` (peak RSS of this process).
    """
    import resource
    import tempfile

    start = time.perf_counter()
    from galhalo.catalog import write_catalog
    from galhalo.sim.universe import simulate

    imported = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    catalog = simulate(n_halos, preset=preset)
    simulated = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_SELF)
    rss_after_simulate = after.ru_maxrss
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with tempfile.TemporaryDirectory(prefix="galhalo-bench-") as tmp:
        path = write_catalog(catalog, Path(tmp) / "catalog.parquet")
        written = time.perf_counter()
        parquet_bytes = path.stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "n_halos": n_halos,
        "rows": len(catalog.table),
        "halos_drawn": int(catalog.meta.extra["halos_drawn"]),
        "import_seconds": imported - start,
        "simulate_seconds": simulated - imported,
        "write_seconds": written - simulated,
        "total_seconds": written - imported,
        "simulate_cpu_seconds": cpu,
        "parquet_mib": parquet_bytes / 2**20,
        "rss_after_simulate_mib": rss_after_simulate / 1024,
        "peak_rss_mib": peak / 1024,
    }


# --------------------------------------------------------------------------- parent


def parse_sizes(text: str) -> list[int]:
    """``"1e4,1e5"`` -> ``[10000, 100000]``; each size must be a positive integer."""
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        value = float(part)
        if value < 1 or value != int(value):
            raise argparse.ArgumentTypeError(f"size {part!r} is not a positive integer")
        sizes.append(int(value))
    if not sizes:
        raise argparse.ArgumentTypeError("no sizes given")
    return sizes


def measure(n_halos: int, timeout: float | None, *, preset: str) -> dict[str, Any]:
    """Run :func:`run_child` for ``n_halos`` (galaxy truth ``preset``, passed on as
    ``--preset``) in a fresh interpreter; its JSON result.

    Adds ``process_seconds`` (wall time of the whole child, interpreter start included)
    and the 1-minute load average before and after (``load_before``, ``load_after``).
    A failed child gives ``{"n_halos": ..., "error": ...}`` instead of raising.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(n_halos),
               "--preset", preset]
    return {"n_halos": n_halos, **run_child_json(command, timeout)}


def summarise(n_halos: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every numeric measurement over the successful ``runs`` of one size."""
    good = [run for run in runs if "error" not in run]
    row: dict[str, Any] = {"n_halos": n_halos, "repeats": len(good), "runs": runs}
    if not good:
        row["error"] = runs[-1]["error"]
        return row
    for key in ("rows", "halos_drawn", "import_seconds", "simulate_seconds", "write_seconds",
                "total_seconds", "simulate_cpu_seconds", "process_seconds", "parquet_mib",
                "rss_after_simulate_mib", "peak_rss_mib", "load_before", "load_after"):
        row[key] = statistics.median(run[key] for run in good)
    row["halos_per_second"] = n_halos / row["simulate_seconds"]
    row["vs_target"] = (TARGET_SECONDS / row["simulate_seconds"]
                        if n_halos == TARGET_HALOS else None)
    return row


def git_commit() -> str | None:
    """The checked-out commit of the repository (``+dirty`` if src/ has edits), or None."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def machine_info() -> dict[str, Any]:
    """CPU count, Python, numpy, platform and the thread settings that affect timing."""
    import numpy as np

    import galhalo

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    threads = {name: os.environ[name] for name in
               ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
               if name in os.environ}
    return {
        "cpu_count": os.cpu_count(), "usable_cpus": usable,
        "python": platform.python_version(), "numpy": np.__version__,
        "galhalo": galhalo.__version__, "commit": git_commit(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "thread_env": threads,
    }


TITLE = (f"galhalo.simulate (box 205 Mpc/h, seed 42) — no reference implementation: "
         f"the reference is the target {TARGET_HALOS:,} halos in {TARGET_SECONDS:.0f} s")
HEADERS = ("n_halos", "halos drawn", "simulate s", "total s", "peak RSS MiB", "halos/s",
           "vs target")


def table_rows(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The printed cells of every row (``error`` rows show the error in the 2nd cell)."""
    cells = []
    for row in rows:
        if "error" in row:
            cells.append((f"{row['n_halos']:,}", "failed: " + row["error"].splitlines()[-1],
                          *[""] * (len(HEADERS) - 2)))
            continue
        target = "–" if row["vs_target"] is None else f"{row['vs_target']:.2f}x"
        cells.append((
            f"{row['n_halos']:,}", f"{row['halos_drawn']:,.0f}",
            f"{row['simulate_seconds']:.2f}", f"{row['total_seconds']:.2f}",
            f"{row['peak_rss_mib']:,.0f}", f"{row['halos_per_second']:,.0f}", target,
        ))
    return cells


def load_note(rows: list[dict[str, Any]]) -> str:
    """One line per size: CPU seconds of ``simulate`` and the machine load around it."""
    return "\n".join(
        f"n_halos={row['n_halos']:,}: simulate used {row['simulate_cpu_seconds']:.1f} CPU s "
        f"in {row['simulate_seconds']:.1f} s wall; 1-min load average "
        f"{row['load_before']:.2f} before, {row['load_after']:.2f} after"
        for row in rows if "error" not in row)


def plain_table(rows: list[dict[str, Any]]) -> str:
    """The results as plain text: the title, the aligned table and :func:`load_note`."""
    cells = table_rows(rows)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]
    lines = [TITLE, "  ".join(h.rjust(w) for h, w in zip(HEADERS, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
              for row in cells]
    return "\n".join([*lines, load_note(rows)])


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print the results with rich if it is installed, else as plain text."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(plain_table(rows))
        return
    console = Console(width=max(100, len(TITLE)))
    console.print(TITLE, style="bold", highlight=False)
    table = Table()
    for header in HEADERS:
        table.add_column(header, justify="right")
    for row in table_rows(rows):
        table.add_row(*row)
    console.print(table)
    console.print(load_note(rows), highlight=False)


def docs_block(result: dict[str, Any]) -> str:
    """The block ``simulate`` of benchmarks/README.md: the plain table of ``result`` (the
    JSON this script writes) and where and when it was measured."""
    machine = result["machine"]
    return (f"```\n{plain_table(result['rows'])}\n```\n\n"
            f"Galaxy truth `{result['preset']}`; {machine['cpu_count']} cores "
            f"({machine['processor']}, Python {machine['python']}, numpy "
            f"{machine['numpy']}); commit {machine['commit']}, {result['date']}. Other jobs "
            f"may share the cores: the load averages above say how busy they were.")


def command_line(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The command that reproduces this run (options that differ from their default;
    output switches left out)."""
    parts = ["python benchmarks/simulate.py"]
    if args.sizes != parser.get_default("sizes"):
        parts.append("--sizes " + ",".join(f"{n:g}" for n in args.sizes))
    for option in ("repeat", "preset"):
        if getattr(args, option) != parser.get_default(option):
            parts.append(f"--{option} {getattr(args, option)}")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Command line: run every size in its own subprocess, print, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES),
                        help="comma-separated n_halos values (default 1e4,1e5,1e6)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per size; the median is reported (default 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON output (default benchmarks/results/simulate.json)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds after which one child run is abandoned (default none)")
    add_preset_option(parser, DEFAULT_PRESET)
    parser.add_argument("--no-docs", action="store_true",
                        help="do not rewrite the block in benchmarks/README.md")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        print(json.dumps(run_child(args.child, preset=args.preset)))
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")

    from galhalo.files import write_json

    rows = []
    for n_halos in args.sizes:
        runs = []
        for attempt in range(args.repeat):
            print(f"simulate n_halos={n_halos:,} (run {attempt + 1}/{args.repeat}) ...",
                  file=sys.stderr, flush=True)
            runs.append(measure(n_halos, args.timeout, preset=args.preset))
        rows.append(summarise(n_halos, runs))
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "simulate", "machine": machine_info(), "preset": args.preset,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "target": {"n_halos": TARGET_HALOS, "seconds": TARGET_SECONDS,
                   "note": "no reference implementation; the design target is the reference"},
        "options": {"sizes": args.sizes, "repeat": args.repeat, "box": 205.0, "seed": 42},
        "rows": rows,
    }
    write_json(args.out, result)
    print(f"wrote {args.out}", file=sys.stderr)
    if not args.no_docs:
        rewrite_block(README, "simulate", docs_block(result),
                      command=command_line(args, parser))
    return 0 if all("error" not in row for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
