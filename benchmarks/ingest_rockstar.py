"""Benchmark: rows per second and peak memory of ``galhalo.ingest.stream_rockstar``.

The parent writes Rockstar / Consistent-Trees ``hlist`` files in the full consistent-trees
layout (82 columns, float32 precision like the real files' ``%e`` fields, ~630 bytes
per line) into a temporary directory: by default 1e5 and 1e6 halos in a 250 Mpc/h box,
85 % hosts uniform in the box and 15 % sub-halos within their host's Rvir, the lines
shuffled (sub-halos before or after their hosts); each file is written by its own
subprocess and then streamed into Parquet in a fresh one, whose peak resident set size
(``VmHWM``: ``ru_maxrss`` would include the parent's peak, which Linux carries over at
``exec``) belongs to that run alone. The child times the ``stream_rockstar`` call
(imports excluded) and reports RSS after the imports.

What the numbers should show: the lines are streamed (one chunk of ``--chunk-rows``
lines parsed at a time), so peak memory is the interpreter + one chunk + the host
table of pass 1 (~100 bytes per host plus its KD-tree) — it grows with the number of
hosts, not with the size of the text. The table reports the growth per extra halo
between the two sizes next to the file's bytes per line. There is no reference
implementation to compare with.

Usage::

    .venv/bin/python benchmarks/ingest_rockstar.py            # 1e5 and 1e6 halos
    .venv/bin/python benchmarks/ingest_rockstar.py --quick    # 2e4 and 1e5, chunks of 1e4
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from child import run_child_json

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "ingest_rockstar.json"
BOX = 250.0
HOST_FRACTION = 0.85
#: The consistent-trees hlist columns (v1.01, as in the Bolshoi-Planck / MultiDark files).
COLUMNS = (
    "scale id desc_scale desc_id num_prog pid upid desc_pid phantom sam_Mvir Mvir Rvir rs "
    "vrms mmp? scale_of_last_MM vmax x y z vx vy vz Jx Jy Jz Spin Breadth_first_ID "
    "Depth_first_ID Tree_root_ID Orig_halo_ID Snap_idx Next_coprogenitor_depthfirst_ID "
    "Last_progenitor_depthfirst_ID Last_mainleaf_depthfirst_ID Tidal_Force Tidal_ID "
    "Rs_Klypin Mvir_all M200b M200c M500c M2500c Xoff Voff Spin_Bullock b_to_a c_to_a A[x] "
    "A[y] A[z] b_to_a(500c) c_to_a(500c) A[x](500c) A[y](500c) A[z](500c) T/|U| "
    "M_pe_Behroozi M_pe_Diemer Halfmass_Radius Macc Mpeak Vacc Vpeak Halfmass_Scale "
    "Acc_Rate_Inst Acc_Rate_100Myr Acc_Rate_1*Tdyn Acc_Rate_2*Tdyn Acc_Rate_Mpeak "
    "Acc_Log_Vmax_Inst Acc_Log_Vmax_1*Tdyn Mpeak_Scale Acc_Scale First_Acc_Scale "
    "First_Acc_Mvir First_Acc_Vmax Vmax@Mpeak Tidal_Force_Tdyn "
    "Log_(Vmax/Vmax_max(Tdyn;Tmpeak)) Time_to_future_merger Future_merger_MMP_ID").split()
INTEGER = {"id", "desc_id", "num_prog", "pid", "upid", "desc_pid", "phantom", "mmp?",
           "Breadth_first_ID", "Depth_first_ID", "Tree_root_ID", "Orig_halo_ID", "Snap_idx",
           "Next_coprogenitor_depthfirst_ID", "Last_progenitor_depthfirst_ID",
           "Last_mainleaf_depthfirst_ID", "Tidal_ID", "Future_merger_MMP_ID"}


# --------------------------------------------------------------------------- generation


def _halos(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The columns galhalo reads, for ``n`` halos (hosts first, then sub-halos)."""
    n_host = max(1, int(HOST_FRACTION * n))
    n_sub = n - n_host
    host_of = rng.integers(0, n_host, n_sub)
    log_m = np.concatenate([rng.uniform(10.5, 15.0, n_host), np.zeros(n_sub)])
    log_m[n_host:] = log_m[host_of] - rng.uniform(0.5, 3.0, n_sub)
    mvir = 10**log_m
    rvir = 1000 * (3 * mvir / (4 * np.pi * 200 * 0.3 * 2.775e11)) ** (1 / 3)  # kpc/h
    position = rng.uniform(0, BOX, (n, 3))
    direction = rng.normal(size=(n_sub, 3))
    direction /= np.linalg.norm(direction, axis=1)[:, None]
    offset = direction * (rvir[host_of] / 1000 * rng.uniform(0.05, 1.0, n_sub))[:, None]
    position[n_host:] = np.mod(position[host_of] + offset, BOX)
    vvir = np.sqrt(4.30091e-6 * mvir / rvir)
    ids = rng.permutation(n).astype(np.int64) + 1_000_000
    upid = np.full(n, -1, np.int64)
    upid[n_host:] = ids[host_of]
    velocity = rng.normal(0, 300, (n, 3))
    velocity[n_host:] = velocity[host_of] + rng.normal(0, 1, (n_sub, 3)) * vvir[host_of, None]
    return {"scale": np.ones(n), "id": ids, "pid": upid, "upid": upid, "Mvir": mvir,
            "Rvir": rvir, "vmax": vvir * rng.uniform(1.0, 1.6, n),
            "x": position[:, 0], "y": position[:, 1], "z": position[:, 2],
            "vx": velocity[:, 0], "vy": velocity[:, 1], "vz": velocity[:, 2],
            "Spin_Bullock": rng.lognormal(np.log(0.035), 0.5, n),
            "Halfmass_Scale": rng.uniform(0.2, 0.95, n), "Mpeak": mvir * rng.uniform(1, 3, n),
            "Vpeak": vvir * rng.uniform(1.0, 1.8, n), "Acc_Scale": rng.uniform(0.3, 1.0, n)}


def generate(path: Path, n: int, seed: int = 0) -> dict[str, Any]:
    """Write an hlist of ``n`` halos (lines in random order); sizes and time taken."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    known = _halos(n, rng)
    order = rng.permutation(n)
    arrays = []
    for name in COLUMNS:
        if name in known:
            values = known[name][order]
        elif name in INTEGER:
            values = rng.integers(-1, 10**9, n)
        else:
            values = rng.random(n)
        arrays.append(pa.array(values if values.dtype.kind == "i"
                               else values.astype(np.float32)))
    table = pa.Table.from_arrays(arrays, names=[str(i) for i in range(len(COLUMNS))])
    header = ["#" + " ".join(f"{name}({i})" for i, name in enumerate(COLUMNS)),
              "#a = 1.000000", "#Omega_M = 0.307115; Omega_L = 0.692885; h0 = 0.677700",
              f"#Full box size = {BOX:.6f} Mpc/h", "#Units: Masses in Msun / h",
              "#Units: Positions in Mpc / h (comoving)", "#Units: Velocities in km / s "
              "(physical, peculiar)", "#Units: Halo Distances, Lengths, and Radii in kpc / h "
              "(comoving)"]
    with open(path, "wb") as handle:
        handle.write(("\n".join(header) + "\n").encode())
        pacsv.write_csv(table, handle, pacsv.WriteOptions(
            include_header=False, delimiter=" ", quoting_style="none"))
    size = path.stat().st_size
    return {"halos": n, "file_mib": size / 2**20, "bytes_per_line": size / n,
            "generate_seconds": time.perf_counter() - start}


# --------------------------------------------------------------------------- child


def _status_mib(key: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, MiB (Linux /proc).

    ``VmHWM`` belongs to this process's own memory map: unlike ``ru_maxrss``, which
    Linux carries over from the parent at ``exec``, it cannot show the parent's peak.
    """
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(source: str, chunk_rows: int) -> dict[str, Any]:
    """One measurement in this (fresh) process: ``stream_rockstar(source, <tmp>)``."""
    import resource

    from galhalo.ingest import stream_rockstar

    rss_imported = _status_mib("VmRSS")
    out = Path(source).with_suffix(".parquet")
    stages: list[tuple[float, str]] = []
    start = time.perf_counter()
    result = stream_rockstar(source, out, chunk_rows=chunk_rows, satellites=True,
                             progress=lambda m: stages.append((time.perf_counter() - start, m)))
    done = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    pass2 = next(t for t, m in stages if m.startswith("pass 1 done"))
    delta3 = next(t for t, m in stages if m.startswith("Delta3_h"))
    counts = result.meta.extra["counts"]
    out.unlink()
    return {"rows": result.rows, "lines": counts["lines"], "hosts": counts["hosts"],
            "seconds": done - start, "pass1_seconds": pass2, "pass2_seconds": done - start - pass2,
            "delta3_seconds": pass2 - delta3,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "rss_after_import_mib": rss_imported, "peak_rss_mib": _status_mib("VmHWM")}


# --------------------------------------------------------------------------- parent


def summarise(runs: list[dict[str, Any]], files: dict[str, Any], chunk_rows: int
              ) -> dict[str, Any]:
    """Median of every numeric figure over the successful runs (all runs kept too)."""
    good = [run for run in runs if "error" not in run]
    row: dict[str, Any] = {**files, "chunk_rows": chunk_rows, "repeats": len(good),
                           "runs": runs}
    if not good:
        return {**row, "error": runs[-1]["error"]}
    for key, value in good[0].items():
        if isinstance(value, int | float):
            row[key] = statistics.median(run[key] for run in good)
    row["lines_per_second"] = row["lines"] / row["seconds"]
    return row


HEADERS = ("halos", "file MiB", "chunk rows", "seconds", "pass 1 s", "of which Delta3_h s",
           "pass 2 s", "lines/s", "MiB/s", "peak RSS MiB", "RSS after import")


def cells(row: dict[str, Any]) -> list[str]:
    return [f"{row['halos']:,}", f"{row['file_mib']:,.0f}", f"{row['chunk_rows']:,}",
            f"{row['seconds']:.1f}", f"{row['pass1_seconds']:.1f}",
            f"{row['delta3_seconds']:.1f}", f"{row['pass2_seconds']:.1f}",
            f"{row['lines_per_second']:,.0f}",
            f"{row['file_mib'] / row['seconds']:.1f}", f"{row['peak_rss_mib']:,.0f}",
            f"{row['rss_after_import_mib']:,.0f}"]


def print_table(rows: list[dict[str, Any]], growth: dict[str, float] | None) -> None:
    table = [cells(row) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(HEADERS)]
    print("galhalo.ingest.stream_rockstar on generated hlist files (no reference "
          "implementation)")
    print("  ".join(h.rjust(w) for h, w in zip(HEADERS, widths, strict=True)))
    for row in table:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    if growth:
        print(f"peak RSS grew {growth['peak_bytes_per_halo']:.0f} bytes per extra halo "
              f"(the file: {growth['file_bytes_per_halo']:.0f} bytes per line)")


def _growth(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    if len(rows) < 2 or any("error" in row for row in rows):
        return None
    small, large = rows[0], rows[-1]
    extra = large["halos"] - small["halos"]
    return {"peak_bytes_per_halo": (large["peak_rss_mib"] - small["peak_rss_mib"]) * 2**20 / extra,
            "file_bytes_per_halo": (large["file_mib"] - small["file_mib"]) * 2**20 / extra}


def write_docs(rows: list[dict[str, Any]], growth: dict[str, float] | None, command: str
               ) -> None:
    from _docs import DOCS, markdown_table, rewrite_block

    table = markdown_table(list(HEADERS), [cells(row) for row in rows])
    loads = [value for row in rows for run in row["runs"]
             for value in (run["load_before"], run["load_after"])]
    table += (f"\nOn {os.cpu_count()} cores shared with other jobs (1-minute load "
              f"{min(loads):.1f}–{max(loads):.1f} during the runs): the times are upper "
              "bounds.")
    if growth:
        table += (f" Peak memory grew by {growth['peak_bytes_per_halo']:.0f} bytes per extra "
                  f"halo, the file by {growth['file_bytes_per_halo']:.0f} bytes per line: the "
                  "text is streamed, the host table of pass 1 stays.\n")
    rewrite_block(DOCS / "ingest.md", "ingest_rockstar", table, command=command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--halos", type=float, nargs="+", default=None,
                        help="file sizes in halos (default 1e5 1e6; --quick 2e4 1e5)")
    parser.add_argument("--quick", action="store_true", help="small files, no docs update")
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="lines per chunk (default 100000; --quick 10000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/ingest.md")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs per file; the median of each figure is kept")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate is not None:  # in its own process: the parent stays small
        print(json.dumps(generate(Path(args.generate[0]), int(args.generate[1]))))
        return 0
    if args.child is not None:
        print(json.dumps(run_child(args.child[0], int(args.child[1]))))
        return 0

    from galhalo.files import write_json

    sizes = [int(n) for n in (args.halos or ([2e4, 1e5] if args.quick else [1e5, 1e6]))]
    args.chunk_rows = args.chunk_rows or (10_000 if args.quick else 100_000)
    directory = Path(tempfile.mkdtemp(prefix="galhalo-rockstar-"))
    rows = []
    try:
        for n in sizes:
            source = directory / f"hlist_{n}.list"
            print(f"generating {n:,} halos ...", file=sys.stderr, flush=True)
            files = run_child_json([sys.executable, str(Path(__file__).resolve()),
                                    "--generate", str(source), str(n)], None)
            if "error" in files:
                print(f"failed: {files['error']}")
                return 1
            print(f"streaming {files['file_mib']:.0f} MiB ...", file=sys.stderr, flush=True)
            command = [sys.executable, str(Path(__file__).resolve()), "--child", str(source),
                       str(args.chunk_rows)]
            runs = [run_child_json(command, args.timeout) for _ in range(args.repeat)]
            rows.append(summarise(runs, files, args.chunk_rows))
            source.unlink()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    failed = [row for row in rows if "error" in row]
    if failed:
        print(f"failed: {failed[0]['error']}")
        return 1
    growth = _growth(rows)
    print_table(rows, growth)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {"benchmark": "ingest_rockstar", "options": vars(args) | {
        "out": str(args.out), "sizes": sizes}, "box": BOX, "host_fraction": HOST_FRACTION,
        "columns": len(COLUMNS), "note": "no reference implementation; generated hlist "
        "files, hosts uniform in the box", "rows": rows, "growth": growth})
    print(f"wrote {args.out}", file=sys.stderr)
    if not (args.quick or args.no_docs):
        write_docs(rows, growth, "python benchmarks/ingest_rockstar.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
