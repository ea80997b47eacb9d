"""Benchmark: throughput and peak memory of ``galhalo.populate`` on Dask.

A conditional flow (``passes=2``, see ``FLOW``) is trained briefly on a small simulated
catalog (``galhalo.simulate(n_halos=20000, seed=0)``). Synthetic halo catalogs of 1e6
and 1e7 halos (1e8 with ``--huge``) are written as many Parquet files of at most
250,000 halos (the condition columns resampled from the simulated catalog, uniform
positions); each is populated with 1 and 2 local Dask workers, every run in a fresh
child process. The child samples, every 0.1 s, the resident memory of itself and of its
worker processes (``psutil``; peak = ``VmHWM`` from ``/proc``) and their CPU times.

Reported per run: halos/s of the work (after the workers had loaded the model), halos
per worker-second, halos per CPU-second of the workers (the "per core" rate, robust to
other load on the machine), the peak RSS summed over all processes (sum of each
process's own peak: an upper bound of the simultaneous peak), the largest worker's
peak, and a digest of the parts' SHA-256 (1 and 2 workers must agree).

Then one run against a ``dask scheduler`` and a ``dask worker --nworkers 2`` started as
separate processes on loopback (the multi-node path), whose digest must equal the local
2-worker run's. The reference for the rate is the same flow's in-memory
``galhalo.mock.make_mock`` on 2e5 halos in this process with one torch thread.

Targets: >= 1e5 halos/s per core; peak memory < 2 GiB at 1e8 halos, estimated (unless
``--huge`` runs it) from the per-worker peaks, which the batch size bounds.

    .venv/bin/python benchmarks/populate.py              # 1e6 and 1e7, 1 and 2 workers
    .venv/bin/python benchmarks/populate.py --quick      # 1e5 only
    .venv/bin/python benchmarks/populate.py --huge       # adds 1e8 (~7 GB of input files)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from child import run_child_json

DEFAULT_SIZES = (1_000_000, 10_000_000)
QUICK_SIZES = (100_000,)
HUGE_SIZE = 100_000_000
#: Halos per input file (and per output part).
FILE_ROWS = 250_000
ROW_GROUP = 65_536
BOX = 205.0
CONDITION = ("M_h", "C_h", "S_h", "z_h", "Delta3_h")
TARGET = ("smass", "color", "sSFR", "radius")
KEEP = ("halo_id", "x", "y", "z")
#: The flow: coupling transforms (passes=2) sample in two network passes per transform.
FLOW = {"passes": 2, "transforms": 2, "hidden": (64, 64), "bins": 8, "epochs": 5}
TARGET_RATE = 1e5
DASK_WORKER_CONFIG = """distributed:
  nanny:
    pre-spawn-environ:
      MALLOC_TRIM_THRESHOLD_: 33554432
      MALLOC_MMAP_THRESHOLD_: 33554432
  worker:
    profile:
      enabled: false
"""
TARGET_MEMORY_GIB = 2.0
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "populate.json"


# --------------------------------------------------------------------------- child


def _peak_rss(pid: int) -> int:
    """Peak resident set size (VmHWM) of a live process in bytes; 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Sampler(threading.Thread):
    """Every ``interval`` s: RSS, peak RSS and CPU time of this process and its children."""

    def __init__(self, interval: float = 0.1):
        super().__init__(daemon=True)
        import psutil

        self.me = psutil.Process()
        self.interval = interval
        self.stop_event = threading.Event()
        self.peak: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self.simultaneous = 0

    def sample(self) -> None:
        import psutil

        total = 0
        for process in [self.me, *self.me.children(recursive=True)]:
            try:
                rss = process.memory_info().rss
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += rss
            self.peak[process.pid] = max(self.peak.get(process.pid, 0), rss,
                                         _peak_rss(process.pid))
            self.cpu[process.pid] = times.user + times.system
        self.simultaneous = max(self.simultaneous, total)

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()

    def workers_cpu(self) -> float:
        return sum(cpu for pid, cpu in self.cpu.items() if pid != self.me.pid)


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One populate run in this fresh process; measurements as a dict."""
    from galhalo.populate import plan_populate, run_plan

    sampler = Sampler()
    sampler.start()
    start = time.perf_counter()
    plan = plan_populate(spec["model"], spec["halos"], spec["out"], keep=list(KEEP),
                         chunk_rows=spec["file_rows"], seed=spec["seed"])
    planned = time.perf_counter()
    marks: dict[str, float] = {}

    def progress(state) -> None:
        if "ready" not in marks:
            sampler.sample()
            marks["ready"] = sampler.workers_cpu()

    workers = spec.get("workers")
    result = run_plan(plan, scheduler=spec["scheduler"], workers=workers,
                      torch_threads=spec.get("torch_threads"), progress=progress)
    sampler.stop_event.set()
    sampler.join()
    manifest = json.loads(Path(result.manifest).read_text())
    digest = hashlib.sha256("".join(f"{name}:{record['sha256']}\n" for name, record in
                                    sorted(manifest["parts"].items())).encode()).hexdigest()
    worker_peaks = [peak for pid, peak in sampler.peak.items() if pid != sampler.me.pid]
    worker_cpu = sampler.workers_cpu() - marks.get("ready", 0.0)
    local = spec["scheduler"] == "local"
    return {
        "n_halos": result.halos, "parts": result.parts_total, "workers": result.workers,
        "scheduler": "local" if local else "remote", "plan_seconds": planned - start,
        "startup_seconds": result.startup_seconds, "work_seconds": result.seconds,
        "halos_per_second": result.halos_per_second,
        "halos_per_worker_second": result.halos_per_second / result.workers,
        "worker_cpu_seconds": worker_cpu if local else None,
        "halos_per_cpu_second": result.halos / worker_cpu if local and worker_cpu else None,
        "peak_rss_sum_mib": sum(sampler.peak.values()) / 2**20 if local else None,
        "peak_rss_simultaneous_mib": sampler.simultaneous / 2**20 if local else None,
        "max_worker_peak_mib": max(worker_peaks) / 2**20 if local and worker_peaks else None,
        "driver_peak_mib": sampler.peak.get(sampler.me.pid, 0) / 2**20,
        "output_mib": sum(r["bytes"] for r in manifest["parts"].values()) / 2**20,
        "digest": digest,
    }


# --------------------------------------------------------------------------- parent


def train_flow(directory: Path) -> dict[str, Any]:
    """Train and save the benchmark flow; its fit time and the reference rate."""
    import numpy as np
    import torch

    import galhalo
    from galhalo.catalog import Catalog
    from galhalo.mock import make_mock
    from galhalo.models import model_family

    torch.set_num_threads(1)
    catalog = galhalo.simulate(n_halos=20_000, seed=0)
    start = time.perf_counter()
    model = model_family("flow")(**FLOW).fit(catalog, ",".join(CONDITION), ",".join(TARGET),
                                             seed=0, progress=False)
    fit_seconds = time.perf_counter() - start
    model.save(directory)
    rows = np.random.default_rng(1).integers(0, len(catalog), 200_000)
    halos = Catalog(catalog.table.iloc[rows][list(CONDITION)].reset_index(drop=True))
    make_mock(model, halos.select(np.arange(len(halos)) < 1000), 1, 0)  # warm up
    wall, cpu = time.perf_counter(), time.process_time()
    make_mock(model, halos, 1, 0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"hyperparameters": FLOW, "fit_seconds": fit_seconds,
            "valid_nll": model.metrics["valid_nll"], "reference_halos": len(halos),
            "reference_halos_per_second": len(halos) / wall,
            "reference_halos_per_cpu_second": len(halos) / cpu}


def file_rows(n_halos: int) -> int:
    """Halos per file: at most FILE_ROWS, and at least 4 files."""
    return min(FILE_ROWS, -(-n_halos // 4))


def write_halos(directory: Path, n_halos: int, seed: int = 0) -> int:
    """``n_halos`` synthetic halos in files of ``file_rows(n_halos)``; returns the count."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import galhalo

    source = galhalo.simulate(n_halos=20_000, seed=0).table[list(CONDITION)].to_numpy()
    directory.mkdir(parents=True, exist_ok=True)
    files = -(-n_halos // file_rows(n_halos))
    rng = np.random.default_rng(seed)
    for index in range(files):
        low, high = index * n_halos // files, (index + 1) * n_halos // files
        rows = source[rng.integers(0, len(source), high - low)]
        columns = {"halo_id": np.arange(low, high, dtype=np.int64),
                   **{name: rows[:, j] for j, name in enumerate(CONDITION)},
                   **{axis: rng.uniform(0, BOX, high - low) for axis in "xyz"}}
        pq.write_table(pa.table(columns), directory / f"halos_{index:05d}.parquet",
                       row_group_size=ROW_GROUP)
    return files


def measure(spec: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    return {"n_halos": spec["n_halos"], "workers": spec.get("workers"),
            **run_child_json(command, timeout)}


def start_remote(directory: Path, workers: int) -> tuple[str, list[subprocess.Popen]]:
    """``dask scheduler`` and ``dask worker`` as separate processes on 127.0.0.1."""
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    scheduler_file = directory / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                                  **quiet)]
    deadline = time.time() + 120
    while not scheduler_file.exists():
        if time.time() > deadline or processes[0].poll() is not None:
            stop_remote(processes)
            raise RuntimeError("the dask scheduler did not start")
        time.sleep(0.2)
    # As docs/populate.md recommends for cluster workers: glibc keeps freed memory up to
    # 32 MiB (Dask's default, 64 KiB, makes page faults cost more than the sampling), and
    # no statistical profiler.
    config = directory / "dask-config"
    config.mkdir(exist_ok=True)
    (config / "populate.yaml").write_text(DASK_WORKER_CONFIG)
    environ = {**os.environ, "DASK_CONFIG": str(config)}
    processes.append(subprocess.Popen(
        [dask, "worker", "--scheduler-file", str(scheduler_file), "--nworkers", str(workers),
         "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"], env=environ, **quiet))
    address = json.loads(scheduler_file.read_text())["address"]
    with Client(address, timeout="60s") as client:
        client.wait_for_workers(workers, timeout=180)
    return address, processes


def stop_remote(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):  # workers first, by their own pid
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cell(value: Any, form: str) -> str:
    return "–" if value is None else format(value, form)


def print_table(rows: list[dict[str, Any]], flow: dict[str, Any], estimate: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    table = Table(title=f"galhalo populate with a flow {flow['hyperparameters']} "
                        f"(reference make_mock in memory: "
                        f"{flow['reference_halos_per_cpu_second']:,.0f} halos per CPU s)")
    for header in ("halos", "parts", "sched", "workers", "startup s", "work s", "halos/s",
                   "per worker", "per CPU s", "vs target", "vs in-memory", "peak sum MiB",
                   "worker peak", "same output"):
        table.add_column(header, justify="right")
    for row in rows:
        if "error" in row:
            table.add_row(f"{row['n_halos']:,}", "failed: " + row["error"].splitlines()[-1])
            continue
        per_cpu = row.get("halos_per_cpu_second")
        table.add_row(
            f"{row['n_halos']:,}", str(row["parts"]), row["scheduler"], str(row["workers"]),
            f"{row['startup_seconds']:.1f}", f"{row['work_seconds']:.1f}",
            f"{row['halos_per_second']:,.0f}", f"{row['halos_per_worker_second']:,.0f}",
            _cell(per_cpu, ",.0f"),
            "–" if per_cpu is None else f"{per_cpu / TARGET_RATE:.2f}x",
            "–" if per_cpu is None else
            f"{per_cpu / flow['reference_halos_per_cpu_second']:.2f}",
            _cell(row.get("peak_rss_sum_mib"), ",.0f"),
            _cell(row.get("max_worker_peak_mib"), ",.0f"), row.get("same_output", "–"))
    console.print(table)
    ran_huge = any(row.get("n_halos") == 10**8 and "error" not in row for row in rows)
    if not ran_huge:
        console.print(f"1e8 halos, 2 workers (estimated, not run): {estimate['note']}",
                      highlight=False)


def estimate_huge(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak memory at 1e8 halos from the measured per-process peaks (batch-bounded)."""
    good = [r for r in rows if "error" not in r and r["scheduler"] == "local"]
    if not good:
        return {"note": "no measurement"}
    worker = max(r["max_worker_peak_mib"] for r in good)
    driver = max(r["driver_peak_mib"] for r in good)
    largest = max(good, key=lambda r: r["n_halos"])
    # The driver holds one small dict per part: scale its growth with the part count.
    smallest = min(good, key=lambda r: r["n_halos"])
    parts = -(-HUGE_SIZE // FILE_ROWS)
    growth = 0.0
    if largest["parts"] > smallest["parts"]:
        growth = max(0.0, (largest["driver_peak_mib"] - smallest["driver_peak_mib"])
                     / (largest["parts"] - smallest["parts"]))
    driver_huge = driver + growth * max(0, parts - largest["parts"])
    total = driver_huge + 2 * worker
    return {"n_halos": HUGE_SIZE, "parts": parts, "worker_peak_mib": worker,
            "driver_peak_mib": driver_huge, "total_mib": total,
            "under_target": total < TARGET_MEMORY_GIB * 1024,
            "note": f"driver {driver_huge:,.0f} MiB + 2 workers x {worker:,.0f} MiB = "
                    f"{total:,.0f} MiB (target < {TARGET_MEMORY_GIB * 1024:,.0f} MiB); worker "
                    "memory is bounded by the batch size, the driver grows by "
                    f"{growth * 1024:.1f} KiB per part"}


def parse_list(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1e5 halos only")
    parser.add_argument("--huge", action="store_true", help="also 1e8 halos (~7 GB input)")
    parser.add_argument("--sizes", type=parse_list, default=None,
                        help="comma-separated halo counts (default 1e6,1e7)")
    parser.add_argument("--workers", type=parse_list, default=[1, 2])
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads per local worker (default 1: one core per "
                             "worker; 0 for populate's default, cores // workers)")
    parser.add_argument("--no-remote", action="store_true",
                        help="skip the run against a separately started scheduler")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to write halos and mocks (default: a temporary dir)")
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0

    from simulate import machine_info

    from galhalo.files import write_json

    args.torch_threads = args.torch_threads or None
    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.huge and HUGE_SIZE not in sizes:
        sizes.append(HUGE_SIZE)
    work = Path(tempfile.mkdtemp(prefix="galhalo-populate-", dir=args.workdir))
    rows: list[dict[str, Any]] = []
    try:
        print("training the flow ...", file=sys.stderr, flush=True)
        flow = train_flow(work / "flow")
        for n_halos in sizes:
            halos = work / f"halos_{n_halos}"
            files = write_halos(halos, n_halos)
            print(f"{n_halos:,} halos in {files} files", file=sys.stderr, flush=True)
            digests = []
            for workers in args.workers:
                out = work / f"mock_{n_halos}_{workers}"
                spec = {"model": str(work / "flow"), "halos": str(halos / "*.parquet"),
                        "out": str(out), "seed": 0, "scheduler": "local", "workers": workers,
                        "torch_threads": args.torch_threads, "file_rows": file_rows(n_halos),
                        "n_halos": n_halos}
                print(f"  populate with {workers} local worker(s) ...", file=sys.stderr,
                      flush=True)
                rows.append(measure(spec, args.timeout))
                digests.append(rows[-1].get("digest"))
                shutil.rmtree(out, ignore_errors=True)
            for row in rows[-len(args.workers):]:
                row["same_output"] = "yes" if len(set(digests)) == 1 else "NO"
            if not args.no_remote and n_halos == sizes[0]:
                print("  populate on a separately started scheduler + 2 workers ...",
                      file=sys.stderr, flush=True)
                address, processes = start_remote(work, 2)
                try:
                    spec = {"model": str(work / "flow"), "halos": str(halos / "*.parquet"),
                            "out": str(work / "mock_remote"), "seed": 0,
                            "scheduler": address, "file_rows": file_rows(n_halos),
                            "n_halos": n_halos}
                    rows.append(measure(spec, args.timeout))
                finally:
                    stop_remote(processes)
                rows[-1]["same_output"] = "yes" if rows[-1].get("digest") in digests else "NO"
                shutil.rmtree(work / "mock_remote", ignore_errors=True)
            shutil.rmtree(halos, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    estimate = estimate_huge(rows)
    print_table(rows, flow, estimate)
    load = os.getloadavg()
    print(f"1-min load average at the end: {load[0]:.2f} on {os.cpu_count()} CPUs",
          file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {
        "benchmark": "populate", "machine": machine_info(), "flow": flow,
        "options": {"sizes": sizes, "workers": args.workers, "file_rows": FILE_ROWS,
                    "torch_threads": args.torch_threads,
                    "keep": list(KEEP), "remote": not args.no_remote},
        "targets": {"halos_per_cpu_second": TARGET_RATE, "peak_gib_at_1e8": TARGET_MEMORY_GIB},
        "rows": rows, "estimate_1e8": estimate,
    })
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all("error" not in row for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
