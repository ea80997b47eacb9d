"""Benchmark: xi(r) pair counting in the 205 Mpc/h box, Corrfunc vs halotools ``tpcf``.

For each point count (default 1e5 and 1e6) and each point set (``uniform``: a Poisson
sample; ``clustered``: a Thomas-like process, N/10 parents per box with about 10
children each, multinomial occupation, offset by a 2 Mpc/h Gaussian), the parent writes
the positions to a ``.npy`` file and times, each in a fresh subprocess:

- ``corrfunc``: ``Corrfunc.theory.xi`` (periodic box, analytic randoms) - the pair count
  underneath ``galhalo.clustering.xi``;
- ``galhalo``: ``galhalo.clustering.xi`` with 27 jackknife copies (count plus
  jackknife, what ``galhalo clustering`` runs per population), up to ``--jackknife-max``
  points;
- ``halotools``: ``halotools.mock_observables.tpcf`` (natural estimator, analytic
  randoms, ``period`` = box) run by the interpreter of a separate virtualenv
  (``--halotools-python``, default ``/tmp/halotools-venv/bin/python``; halotools is not
  a galhalo dependency). If that interpreter or package is missing the rows say so.

All use the same threads (``--threads``, default 2) and the same 15 log bins from 1.25
to 40 Mpc/h. "ratio" is halotools seconds / Corrfunc seconds (> 1: Corrfunc faster);
"CPU ratio" the same in CPU seconds (less sensitive to other jobs on the machine; it
includes each library's import, about a second, so it understates small runs); the
largest relative difference of 1 + xi = DD / RR between the two checks that they count
the same pairs. A halotools run cut by
``--timeout`` gives a lower bound on the ratio. Timings exclude imports and reading the
points. The JSON is rewritten after every row (``"complete": false`` until the end).
On a machine shared with other jobs, OpenMP threads that spin while waiting (the GNU
default) slow Corrfunc down badly; ``OMP_WAIT_POLICY=PASSIVE`` avoids that (recorded
in the JSON).

Usage::

    .venv/bin/python benchmarks/clustering.py                 # 1e5 and 1e6 points
    .venv/bin/python benchmarks/clustering.py --quick         # 1e4 and 1e5, smoke run
    .venv/bin/python benchmarks/clustering.py --timeout 1200 --jackknife-max 1e6
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from child import run_child_json

BOX = 205.0
EDGES = 1.25 * 2.0 ** (np.arange(16) / 3.0)  # 1.25 ... 40 Mpc/h (galhalo's default bins)
DEFAULT_SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
KINDS = ("uniform", "clustered")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "clustering.json"
DEFAULT_HALOTOOLS = Path("/tmp/halotools-venv/bin/python")
SEED = 42


# --------------------------------------------------------------------------- points


def make_points(kind: str, n: int, seed: int = SEED) -> np.ndarray:
    """``n`` positions (n, 3) in [0, BOX): uniform, or a Thomas process (``clustered``)."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        points = rng.uniform(0.0, BOX, (n, 3))
    elif kind == "clustered":
        parents = rng.uniform(0.0, BOX, (max(n // 10, 1), 3))
        parent = rng.integers(0, len(parents), n)  # multinomial: about Poisson(10) each
        points = np.mod(parents[parent] + rng.normal(0.0, 2.0, (n, 3)), BOX)
    else:
        raise ValueError(f"unknown point set {kind!r}; use one of {', '.join(KINDS)}")
    points[points >= BOX] = 0.0
    return points


# --------------------------------------------------------------------------- children


def child(method: str, path: str, threads: int) -> dict[str, Any]:
    """One timing in this (fresh) process: wall seconds of the call alone (the method's
    library is imported before the clock starts), CPU seconds of this process and its
    finished children (halotools' worker processes) counted from just *before* that
    import (so they include it, about a second), and xi per bin."""
    import resource

    points = np.load(path, allow_pickle=False)
    x, y, z = (np.ascontiguousarray(points[:, i]) for i in range(3))
    cpu_before = sum(u.ru_utime + u.ru_stime for u in (
        resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))
    start = time.perf_counter()
    if method == "corrfunc":
        from Corrfunc.theory import xi as corrfunc_xi

        start = time.perf_counter()
        values = corrfunc_xi(BOX, threads, EDGES, x, y, z)["xi"]
    elif method == "galhalo":
        from galhalo.clustering import xi

        start = time.perf_counter()
        values = xi(points, BOX, EDGES, jackknife=3, nthreads=threads).value
    elif method == "halotools":
        from halotools.mock_observables import tpcf

        start = time.perf_counter()
        values = tpcf(points, EDGES, period=BOX, num_threads=threads, estimator="Natural")
    else:
        raise ValueError(f"unknown method {method!r}")
    seconds = time.perf_counter() - start
    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in used) - cpu_before
    return {"seconds": seconds, "cpu_seconds": cpu, "xi": np.asarray(values, dtype=float).tolist(),
            "peak_rss_mib": used[0].ru_maxrss / 1024}


def halotools_status(python: Path) -> str | None:
    """None if ``python`` can import halotools, else why not (one line)."""
    if not python.exists():
        return (f"halotools skipped: no interpreter at {python} (create a separate venv "
                f"there and `pip install halotools`, or pass --halotools-python)")
    done = subprocess.run([str(python), "-c", "import halotools; print(halotools.__version__)"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"halotools skipped: {python} cannot import halotools ({tail})"
    return None


def halotools_version(python: Path) -> str | None:
    done = subprocess.run([str(python), "-c", "import halotools; print(halotools.__version__)"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def measure(method: str, python: Path, path: Path, threads: int,
            timeout: float | None) -> dict[str, Any]:
    """Time ``method`` on the points in ``path`` in a fresh ``python`` process."""
    command = [str(python), str(Path(__file__).resolve()), "--child", method,
               "--points", str(path), "--threads", str(threads)]
    result = run_child_json(command, timeout)
    if timeout is not None and result.get("error", "").startswith("timed out"):
        result["timeout_seconds"] = timeout
    return result


# --------------------------------------------------------------------------- parent


def run(sizes: list[int], threads: int, halotools: Path, timeout: float | None,
        jackknife_max: int, save=lambda rows: None,
        ) -> tuple[list[dict[str, Any]], str | None]:
    """Every (size, point set) row; ``save(rows)`` is called after each row."""
    skip = halotools_status(halotools)
    if skip:
        print(skip, file=sys.stderr)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="galhalo-bench-clustering-") as tmp:
        for n in sizes:
            for kind in KINDS:
                path = Path(tmp) / f"{kind}_{n}.npy"
                np.save(path, make_points(kind, n), allow_pickle=False)
                row: dict[str, Any] = {"n_points": n, "points": kind}
                for method in ("corrfunc", "galhalo", "halotools"):
                    if method == "halotools" and skip:
                        row[method] = {"skipped": skip}
                        continue
                    if method == "galhalo" and n > jackknife_max:
                        row[method] = {"skipped": f"above --jackknife-max {jackknife_max:,}"}
                        continue
                    python = halotools if method == "halotools" else Path(sys.executable)
                    print(f"{method}: {n:,} {kind} points ...", file=sys.stderr, flush=True)
                    row[method] = measure(method, python, path, threads, timeout)
                row.update(summarise(row))
                rows.append(row)
                save(rows)
    return rows, skip


def summarise(row: dict[str, Any]) -> dict[str, Any]:
    """ratio halotools / Corrfunc, jackknife overhead, and xi agreement of a row."""
    corrfunc, galhalo, halotools = row["corrfunc"], row["galhalo"], row["halotools"]
    out: dict[str, Any] = {"ratio": None, "cpu_ratio": None, "ratio_at_least": None,
                           "max_relative_pair_difference": None, "jackknife_overhead": None,
                           "jackknife_cpu_overhead": None}
    if "seconds" in corrfunc and "seconds" in galhalo:
        out["jackknife_overhead"] = galhalo["seconds"] / corrfunc["seconds"]
        out["jackknife_cpu_overhead"] = galhalo["cpu_seconds"] / corrfunc["cpu_seconds"]
    if "seconds" in corrfunc and "seconds" in halotools:
        out["ratio"] = halotools["seconds"] / corrfunc["seconds"]
        out["cpu_ratio"] = halotools["cpu_seconds"] / corrfunc["cpu_seconds"]
        ours, theirs = 1 + np.asarray(corrfunc["xi"]), 1 + np.asarray(halotools["xi"])
        out["max_relative_pair_difference"] = float(np.max(np.abs(theirs / ours - 1)))
    elif "seconds" in corrfunc and "timeout_seconds" in halotools:
        out["ratio_at_least"] = halotools["timeout_seconds"] / corrfunc["seconds"]
    return out


HEADERS = ("points", "n", "Corrfunc s", "galhalo xi+jk s", "jk overhead", "halotools s",
           "ratio", "CPU ratio", "max |d(1+xi)|/(1+xi)", "load")


def cells(row: dict[str, Any]) -> tuple[str, ...]:
    def seconds(result: dict[str, Any]) -> str:
        if "seconds" in result:
            return f"{result['seconds']:.2f}"
        if "timeout_seconds" in result:
            return f"> {result['timeout_seconds']:.0f}"
        return "skipped" if "skipped" in result else "failed"

    def number(value: float | None, fmt: str) -> str:
        return "–" if value is None else format(value, fmt)

    load = row["corrfunc"].get("load_before")
    ratio = (number(row["ratio"], ".1f") + "x" if row["ratio_at_least"] is None
             else f"> {row['ratio_at_least']:.1f}x")
    return (row["points"], f"{row['n_points']:,}", seconds(row["corrfunc"]),
            seconds(row["galhalo"]), number(row["jackknife_overhead"], ".1f") + "x",
            seconds(row["halotools"]), ratio, number(row["cpu_ratio"], ".1f") + "x",
            number(row["max_relative_pair_difference"], ".1e"), number(load, ".1f"))


def print_table(rows: list[dict[str, Any]], title: str, note: str | None) -> None:
    table = [cells(row) for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in table)) for i, h in enumerate(HEADERS)]
    print(title)
    print("  ".join(h.rjust(w) for h, w in zip(HEADERS, widths, strict=True)))
    for line in table:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))
    if note:
        print(note)
    for row in rows:
        for method in ("corrfunc", "galhalo", "halotools"):
            if "error" in row[method] and "timeout_seconds" not in row[method]:
                print(f"{method} {row['points']} {row['n_points']:,} failed: "
                      f"{row[method]['error'].splitlines()[-1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda t: [int(float(v)) for v in t.split(",")],
                        default=None, help="comma-separated point counts (default 1e5,1e6)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1e4 and 1e5 points")
    parser.add_argument("--threads", type=int, default=2, help="threads of every method")
    parser.add_argument("--halotools-python", type=Path, default=DEFAULT_HALOTOOLS,
                        help="interpreter of a venv with halotools installed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds after which one child run is abandoned (a halotools "
                             "timeout gives a lower bound on the ratio)")
    parser.add_argument("--jackknife-max", type=lambda t: int(float(t)), default=200_000,
                        help="time galhalo's xi with jackknife up to this many points "
                             "(default 2e5)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--points", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.child, args.points, args.threads)))
        return 0
    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.threads < 1 or any(n < 10 for n in sizes):
        parser.error("--threads must be >= 1 and every size >= 10")
    from simulate import machine_info

    from galhalo.files import write_json

    args.out.parent.mkdir(parents=True, exist_ok=True)
    skip = halotools_status(args.halotools_python)
    header = {
        "benchmark": "clustering", "machine": machine_info(),
        "options": {"sizes": sizes, "threads": args.threads, "box": BOX,
                    "edges": EDGES.tolist(), "seed": SEED, "quick": args.quick,
                    "timeout": args.timeout, "jackknife_max": args.jackknife_max,
                    "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")},
        "halotools": ({"skipped": skip} if skip else
                      {"python": str(args.halotools_python),
                       "version": halotools_version(args.halotools_python)}),
    }

    def save(rows: list[dict[str, Any]], complete: bool = False) -> None:
        write_json(args.out, {**header, "complete": complete, "load_average": os.getloadavg(),
                              "rows": [{k: ({kk: vv for kk, vv in v.items() if kk != "xi"}
                                            if isinstance(v, dict) else v)
                                        for k, v in row.items()} for row in rows]})

    rows, skip = run(sizes, args.threads, args.halotools_python, args.timeout,
                     args.jackknife_max, save)
    save(rows, complete=True)
    title = (f"xi(r), {len(EDGES) - 1} bins 1.25-40 Mpc/h, periodic {BOX:g} Mpc/h box, "
             f"analytic randoms, {args.threads} threads (ratio = halotools / Corrfunc)")
    print_table(rows, title, skip)
    print(f"wrote {args.out}", file=sys.stderr)
    failed = any("error" in row[m] and "timeout_seconds" not in row[m]
                 for row in rows for m in ("corrfunc", "galhalo", "halotools"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
