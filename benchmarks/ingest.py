"""Benchmark: time and peak memory of ``galhalo.ingest.ingest_subfind`` on a TNG300-size catalog.

The parent writes a Subfind group catalog in the IllustrisTNG layout
(``fof_subhalo_tab_099.K.hdf5`` chunks, float32 fields as Arepo stores them) into a
temporary directory: by default 15 million subhalos and 5 million groups (TNG300-1 at
z = 0 has 14.5 million subhalos and 17.6 million groups, most of them tiny; fewer groups
keep the files at ~2.3 GB). Central stellar masses are drawn so that ~2.6 % of the
centrals pass log10 M* >= 8.75 (~100,000, the size of the TNG300 central sample).
Groups are uniform in the 205 Mpc/h box (no clustering: ~110 groups per 3 Mpc/h
sphere).

Each measurement runs in a fresh Python subprocess, so its peak resident set size
(``ru_maxrss``) belongs to that run alone. The child times the ``ingest_subfind`` call
by itself (imports excluded) and reports RSS after the imports and at the end.

There is no reference implementation to compare with; the reference is the design
goal: memory bounded by one chunk's field plus the per-group arrays (never the whole
catalog), so "peak / files" is reported.

Usage::

    .venv/bin/python benchmarks/ingest.py                      # 15e6 subhalos, 5e6 groups
    .venv/bin/python benchmarks/ingest.py --subhalos 1e6       # smaller (groups = subhalos/3)
    .venv/bin/python benchmarks/ingest.py --keep /tmp/tng300   # keep (or reuse) the files
    .venv/bin/python benchmarks/ingest.py --subhalos 1e6 --satellites  # + satellites=True

With ``--satellites`` each run is repeated with ``ingest_subfind(satellites=True)`` and
both rows go to the JSON and to the ``ingest-satellites`` block of docs/ingest.md. The
generated satellites are placed independently of their hosts' mass, so few of them
survive the sample cuts; the satellite reader's cost is the second pass over the chunks
(its reads are whole columns), which does not depend on how many are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _docs import markdown_table, rewrite_block
from child import run_child_json

DEFAULT_SUBHALOS = 15_000_000
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "ingest.json"
BOX = 205_000.0  # ckpc/h
#: Mean and sd of log10 M* (Msun/h) of centrals: P(>= 8.75) = 2.6 %.
LOG_MSTAR = (7.0, 0.9)
SNAPSHOT = 99


# --------------------------------------------------------------------------- generation


def _group_fields(rng: np.random.Generator, first: np.ndarray, nsubs: np.ndarray,
                  position: np.ndarray) -> dict[str, np.ndarray]:
    n = len(first)
    m200 = (10 ** rng.uniform(-1.5, 4.0, n)).astype(np.float32)
    m200[rng.random(n) < 0.1] = 0.0
    r200 = (3 * m200 * 1e10 / (4 * np.pi * 55_500)) ** (1 / 3)
    return {
        "GroupFirstSub": first.astype(np.int32),
        "GroupNsubs": nsubs.astype(np.int32),
        "GroupPos": position,
        "GroupVel": rng.normal(0, 300, (n, 3)).astype(np.float32),
        "GroupMass": (1.3 * m200 + 0.03).astype(np.float32),
        "Group_M_Crit200": m200,
        "Group_R_Crit200": r200.astype(np.float32),
        "Group_M_Mean200": (1.2 * m200).astype(np.float32),
        "Group_R_Mean200": (1.6 * r200).astype(np.float32),
        "Group_M_TopHat200": (1.1 * m200).astype(np.float32),
        "Group_R_TopHat200": (1.3 * r200).astype(np.float32),
    }


def _subhalo_fields(rng: np.random.Generator, group_number: np.ndarray, central: np.ndarray,
                    group_position: np.ndarray) -> dict[str, np.ndarray]:
    """Centrals sit at their group's position, satellites ~300 ckpc/h around it."""
    n = len(group_number)
    f4 = np.float32
    mass_type = np.zeros((n, 6), f4)
    mass_type[:, 1] = 10 ** rng.uniform(-2, 3, n)
    log_mstar = rng.normal(*LOG_MSTAR, n) - np.where(central, 0.0, 1.0)
    mass_type[:, 4] = 10 ** (log_mstar - 10)
    half = np.zeros((n, 6), f4)
    half[:, 4] = 10 ** rng.normal(0.5, 0.2, n)
    phot = rng.normal(-20, 1, (n, 8)).astype(f4)
    phot[:, 6] = phot[:, 4] - rng.normal(0.7, 0.25, n)
    offset = rng.normal(0, 300, (n, 3)) * ~central[:, None]
    return {
        "SubhaloGrNr": group_number.astype(np.int32),
        "SubhaloMass": mass_type.sum(axis=1),
        "SubhaloMassType": mass_type,
        "SubhaloPos": np.mod(group_position[group_number] + offset, BOX).astype(f4),
        "SubhaloVel": rng.normal(0, 300, (n, 3)).astype(f4),
        "SubhaloSpin": rng.normal(0, 1000, (n, 3)).astype(f4),
        "SubhaloVmax": (10 ** rng.uniform(1.5, 2.8, n)).astype(f4),
        "SubhaloHalfmassRadType": half,
        "SubhaloSFR": np.where(rng.random(n) < 0.2, 0, 10 ** rng.normal(-0.5, 1, n)).astype(f4),
        "SubhaloStellarPhotometrics": phot,
    }


def generate(directory: Path, n_subhalos: int, n_groups: int, n_chunks: int, seed: int = 0
             ) -> dict[str, Any]:
    """Write the catalog chunk by chunk; returns sizes and the time it took."""
    import h5py

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    # 80 % of the groups hold the subhalos; a subhalo's group is drawn, then sorted, so
    # that each group's subhalos are contiguous as in Subfind.
    hosts = np.sort(rng.choice(n_groups, int(0.8 * n_groups), replace=False))
    nsubs = np.zeros(n_groups, np.int64)
    nsubs[hosts] = 1  # every host has its central
    nsubs[hosts] += np.bincount(rng.integers(0, len(hosts), n_subhalos - len(hosts)),
                                minlength=len(hosts))
    ends = np.cumsum(nsubs)
    first = np.where(nsubs > 0, ends - nsubs, -1)
    position = rng.uniform(0, BOX, (n_groups, 3)).astype(np.float32)
    group_bounds = np.linspace(0, n_groups, n_chunks + 1).astype(np.int64)
    subhalo_bounds = np.linspace(0, n_subhalos, n_chunks + 1).astype(np.int64)
    header = {"BoxSize": BOX, "HubbleParam": 0.6774, "Omega0": 0.3089, "OmegaLambda": 0.6911,
              "Redshift": 0.0, "Time": 1.0}
    for k in range(n_chunks):
        g0, g1 = group_bounds[k], group_bounds[k + 1]
        s0, s1 = subhalo_bounds[k], subhalo_bounds[k + 1]
        group_number = np.searchsorted(ends, np.arange(s0, s1), side="right")
        central = first[group_number] == np.arange(s0, s1)
        with h5py.File(directory / f"fof_subhalo_tab_{SNAPSHOT:03d}.{k}.hdf5", "w") as h5:
            attrs = h5.create_group("Header").attrs
            for key, value in header.items():
                attrs[key] = value
            attrs["Ngroups_ThisFile"], attrs["Nsubgroups_ThisFile"] = g1 - g0, s1 - s0
            attrs["Ngroups_Total"], attrs["Nsubgroups_Total"] = n_groups, n_subhalos
            attrs["NumFiles"] = n_chunks
            for name, fields in (
                ("Group", _group_fields(rng, first[g0:g1], nsubs[g0:g1], position[g0:g1])),
                ("Subhalo", _subhalo_fields(rng, group_number, central, position)),
            ):
                group = h5.create_group(name)
                for key, values in fields.items():
                    group.create_dataset(key, data=values)
        print(f"  wrote chunk {k + 1}/{n_chunks}", file=sys.stderr, flush=True)
    size = sum(p.stat().st_size for p in directory.iterdir())
    return {"generate_seconds": time.perf_counter() - start, "files_mib": size / 2**20,
            "chunks": n_chunks, "centrals": int((nsubs > 0).sum())}


# --------------------------------------------------------------------------- child


def _rss_mib() -> float:
    """Current resident set size of this process (Linux /proc), MiB."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(directory: str, satellites: bool = False) -> dict[str, Any]:
    """One measurement in this (fresh) process: ``ingest_subfind(directory)``."""
    import resource

    start = time.perf_counter()
    from galhalo.ingest import ingest_subfind

    imported = time.perf_counter()
    rss_imported = _rss_mib()
    before = resource.getrusage(resource.RUSAGE_SELF)
    stages: list[tuple[float, str]] = []
    catalog = ingest_subfind(directory, satellites=satellites, progress=lambda m: stages.append(
        (time.perf_counter() - imported, m)))
    done = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_SELF)
    counts = catalog.meta.extra["counts"]
    delta3 = next(t for t, m in stages if m.startswith("Delta3_h"))
    return {
        "rows": len(catalog), "groups": counts["groups"], "subhalos": counts["subhalos"],
        "centrals": counts["centrals"], "satellites": counts.get("satellites", 0),
        "import_seconds": imported - start,
        "ingest_seconds": done - imported,
        "read_seconds": delta3,
        "delta3_and_rest_seconds": done - imported - delta3,
        "ingest_cpu_seconds": (after.ru_utime - before.ru_utime)
        + (after.ru_stime - before.ru_stime),
        "rss_after_import_mib": rss_imported,
        "peak_rss_mib": after.ru_maxrss / 1024,  # KiB on Linux
    }


# --------------------------------------------------------------------------- parent


def measure(directory: Path, timeout: float | None, satellites: bool = False
            ) -> dict[str, Any]:
    """:func:`run_child` in a fresh interpreter; its JSON (or ``{"error": ...}``)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(directory)]
    return run_child_json(command + ["--satellites"] * satellites, timeout)


def summarise(runs: list[dict[str, Any]], files: dict[str, Any]) -> dict[str, Any]:
    """Median of every numeric measurement over the successful runs."""
    good = [run for run in runs if "error" not in run]
    row: dict[str, Any] = {**files, "repeats": len(good), "runs": runs}
    if not good:
        row["error"] = runs[-1]["error"]
        return row
    for key, value in good[0].items():
        if isinstance(value, int | float):
            row[key] = statistics.median(run[key] for run in good)
    row["subhalos_per_second"] = row["subhalos"] / row["ingest_seconds"]
    row["peak_over_files"] = row["peak_rss_mib"] / files["files_mib"]
    return row


def machine_info() -> dict[str, Any]:
    import h5py

    import galhalo

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {"cpu_count": os.cpu_count(), "usable_cpus": usable,
            "python": platform.python_version(), "numpy": np.__version__,
            "h5py": h5py.__version__, "galhalo": galhalo.__version__,
            "platform": platform.platform()}


HEADERS = ("subhalos", "groups", "files MiB", "rows", "ingest s", "read s", "Delta3+ s",
           "peak RSS MiB", "RSS after import", "subhalos/s")


def print_table(row: dict[str, Any]) -> None:
    if "error" in row:
        print(f"failed: {row['error']}")
        return
    cells = (f"{row['subhalos']:,.0f}", f"{row['groups']:,.0f}", f"{row['files_mib']:,.0f}",
             f"{row['rows']:,.0f}", f"{row['ingest_seconds']:.1f}", f"{row['read_seconds']:.1f}",
             f"{row['delta3_and_rest_seconds']:.1f}", f"{row['peak_rss_mib']:,.0f}",
             f"{row['rss_after_import_mib']:,.0f}", f"{row['subhalos_per_second']:,.0f}")
    widths = [max(len(h), len(c)) for h, c in zip(HEADERS, cells, strict=True)]
    print("galhalo.ingest.ingest_subfind on a generated TNG-layout catalog "
          f"({row['chunks']} chunks; no reference implementation)")
    print("  ".join(h.rjust(w) for h, w in zip(HEADERS, widths, strict=True)))
    print("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    print(f"ingest used {row['ingest_cpu_seconds']:.1f} CPU s in {row['ingest_seconds']:.1f} s "
          f"wall; 1-min load {row['load_before']:.2f} before, {row['load_after']:.2f} after; "
          f"peak RSS = {row['peak_over_files']:.2f} x the files")


def write_satellite_block(row: dict[str, Any], satellite_row: dict[str, Any],
                          argv: list[str] | None) -> None:
    """The centrals-only and satellites rows as the ingest-satellites block of the docs."""
    cells = [[mode, f"{r['subhalos']:,.0f}", f"{r['rows']:,.0f}", f"{r['satellites']:,.0f}",
              f"{r['ingest_seconds']:.2f}", f"{r['read_seconds']:.2f}",
              f"{r['peak_rss_mib']:,.0f}"]
             for mode, r in (("centrals only", row), ("satellites=True", satellite_row))]
    table = markdown_table(["mode", "subhalos", "rows", "satellites", "ingest s", "reading s",
                            "peak RSS MiB"], cells)
    command = "python benchmarks/ingest.py " + " ".join(argv if argv is not None
                                                         else sys.argv[1:])
    note = (f"\nMedian of {row['repeats']} runs each, {row['chunks']} chunks, load "
            f"{row['load_before']:.1f} before the first run.\n")
    rewrite_block(Path(__file__).resolve().parent.parent / "docs" / "ingest.md",
                  "ingest-satellites", table + note, command=command)


def _count(text: str) -> int:
    value = float(text)
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subhalos", type=_count, default=DEFAULT_SUBHALOS,
                        help="subhalos in the generated catalog (default 15e6)")
    parser.add_argument("--groups", type=_count, default=None,
                        help="FoF groups (default: subhalos / 3)")
    parser.add_argument("--chunks", type=_count, default=16, help="files (default 16)")
    parser.add_argument("--repeat", type=_count, default=1, help="runs; the median is kept")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the catalog here and keep it (reused if it exists)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON output (default benchmarks/results/ingest.json)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run")
    parser.add_argument("--satellites", action="store_true",
                        help="also time satellites=True (and write docs/ingest.md's block)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(run_child(args.child, args.satellites)))
        return 0

    from galhalo.files import write_json

    n_groups = args.groups or max(1, args.subhalos // 3)
    if args.keep is not None and any(args.keep.glob("fof_subhalo_tab_*.hdf5")):
        directory, cleanup = args.keep, False
        size = sum(p.stat().st_size for p in directory.iterdir())
        files = {"generate_seconds": None, "files_mib": size / 2**20,
                 "chunks": len(list(directory.glob("fof_subhalo_tab_*.hdf5")))}
        print(f"reusing {directory}", file=sys.stderr)
    else:
        directory = args.keep or Path(tempfile.mkdtemp(prefix="galhalo-ingest-")) / "groups_099"
        cleanup = args.keep is None
        print(f"generating {args.subhalos:,} subhalos, {n_groups:,} groups in {directory} ...",
              file=sys.stderr, flush=True)
        files = generate(directory, args.subhalos, n_groups, args.chunks)
    try:
        runs, satellite_runs = [], []
        for attempt in range(args.repeat):
            print(f"ingest run {attempt + 1}/{args.repeat} ...", file=sys.stderr, flush=True)
            runs.append(measure(directory, args.timeout))
            if args.satellites:
                satellite_runs.append(measure(directory, args.timeout, satellites=True))
    finally:
        if cleanup:
            shutil.rmtree(directory.parent, ignore_errors=True)
    row = summarise(runs, files)
    print_table(row)
    satellite_row = summarise(satellite_runs, files) if args.satellites else None
    if satellite_row is not None:
        print("with satellites=True:")
        print_table(satellite_row)
        if "error" not in row and "error" not in satellite_row:
            write_satellite_block(row, satellite_row, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {
        "benchmark": "ingest_subfind", "machine": machine_info(),
        "options": {"subhalos": args.subhalos, "groups": n_groups, "chunks": files["chunks"],
                    "repeat": args.repeat, "box_ckpc_h": BOX, "log_mstar_centrals": LOG_MSTAR},
        "note": "no reference implementation; generated TNG-layout files, uniform groups",
        "result": row,
        **({"satellites": satellite_row} if satellite_row is not None else {}),
    })
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if "error" not in row else 1


if __name__ == "__main__":
    sys.exit(main())
