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
    .venv/bin/python benchmarks/populate.py --preset tng_hard   # galhalo's default universe

Every simulated catalog here is of the ``classic`` universe unless ``--preset`` names
another (the figures in the documents were measured on it).

``--satellites`` measures the same for a composite model (centrals and satellites,
``galhalo.models.composite``) on hosts alone: central = the flow above on the five host
columns; occupation = a small ``occupation`` network (``OCCUPATION``) of ``N_sat`` on
the centrals of ``galhalo.simulate(n_halos=20000, seed=0, satellites=True)``; profile = a
flow (``FLOW``) of ``r_host, v_r, v_t`` on its satellites given the host columns;
satellite = a flow (``FLOW``) of the galaxy columns given the host columns and
``r_host``. The host files also carry ``vx, vy, vz`` (resampled with the condition
columns from the simulation's centrals); the table adds the centrals and satellites
painted, the reference is ``make_mock`` of the composite on 2e5 hosts, and the figures
go to ``results/populate_satellites.json`` and docs/populate.md (block
``populate_satellites``):

    .venv/bin/python benchmarks/populate.py --satellites --sizes 1e6,1e7 --no-remote
    .venv/bin/python benchmarks/populate.py --satellites --profile   # where the time goes
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

from _preset import NOT_RERUN, add_preset_option, preset_flag
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
VELOCITY = ("vx", "vy", "vz")
#: The composite's occupation model (a small count network; N_sat is easy).
OCCUPATION = {"hidden": (32, 32), "epochs": 5}
#: The satellite flow's condition: the host columns and the orbit radius.
SATELLITE_CONDITION = (*CONDITION, "r_host")
ORBIT = ("r_host", "v_r", "v_t")
#: The flow: coupling transforms (passes=2) sample in two network passes per transform;
#: one member, the location-scale conditioner as wide as the splines'.
FLOW = {"passes": 2, "transforms": 2, "hidden": (64, 64), "bins": 8, "epochs": 5,
        "members": 1, "affine_hidden": None}
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
SATELLITES_OUT = DEFAULT_OUT.with_name("populate_satellites.json")


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
    plan = plan_populate(spec["model"], spec["halos"], spec["out"], keep=spec.get("keep"),
                         chunk_rows=spec["file_rows"], seed=spec["seed"],
                         batch_rows=spec.get("batch_rows"))
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
        **satellite_counts(result),
    }


# --------------------------------------------------------------------------- parent


def train_flow(directory: Path, *, preset: str = NOT_RERUN) -> dict[str, Any]:
    """Train and save the benchmark flow on the universe of galaxy truth ``preset``; its
    fit time and the reference rate."""
    import numpy as np
    import torch

    import galhalo
    from galhalo.catalog import Catalog
    from galhalo.models import model_family

    torch.set_num_threads(1)
    catalog = galhalo.simulate(n_halos=20_000, seed=0, preset=preset)
    start = time.perf_counter()
    model = model_family("flow")(**FLOW).fit(catalog, ",".join(CONDITION), ",".join(TARGET),
                                             seed=0, progress=False)
    fit_seconds = time.perf_counter() - start
    model.save(directory)
    rows = np.random.default_rng(1).integers(0, len(catalog), 200_000)
    halos = Catalog(catalog.table.iloc[rows][list(CONDITION)].reset_index(drop=True))
    return {"hyperparameters": FLOW, "fit_seconds": fit_seconds,
            "valid_nll": model.metrics["valid_nll"], **reference_rate(model, halos)}


def reference_rate(model: Any, halos: Any) -> dict[str, float]:
    """In-memory ``make_mock`` of ``model`` on ``halos`` (a Catalog), after a warm-up on
    its first 1000 rows: halos per second and per CPU second of this process."""
    import numpy as np

    from galhalo.mock import make_mock

    make_mock(model, halos.select(np.arange(len(halos)) < 1000), 1, 0)  # warm up
    wall, cpu = time.perf_counter(), time.process_time()
    make_mock(model, halos, 1, 0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"reference_halos": len(halos), "reference_halos_per_second": len(halos) / wall,
            "reference_halos_per_cpu_second": len(halos) / cpu}


def train_composite(directory: Path, *, preset: str = NOT_RERUN) -> dict[str, Any]:
    """Train and save the benchmark composite (module docstring) on the universe of
    galaxy truth ``preset``; fit times, validation NLLs and the in-memory reference rate
    on 2e5 hosts."""
    import numpy as np
    import torch

    import galhalo
    from galhalo.catalog import Catalog
    from galhalo.models import model_family
    from galhalo.models.composite import CompositeModel

    torch.set_num_threads(1)
    universe = galhalo.simulate(n_halos=20_000, seed=0, satellites=True, preset=preset)
    centrals, satellites = universe.centrals(), universe.satellites()
    recipes = {"central": ("flow", FLOW, centrals, CONDITION, TARGET),
               "occupation": ("occupation", OCCUPATION, centrals, CONDITION, ("N_sat",)),
               "profile": ("flow", FLOW, satellites, CONDITION, ORBIT),
               "satellite": ("flow", FLOW, satellites, SATELLITE_CONDITION, TARGET)}
    components, info = {}, {}
    for role, (family, hyper, catalog, condition, target) in recipes.items():
        start = time.perf_counter()
        components[role] = model_family(family)(**hyper).fit(
            catalog, ",".join(condition), ",".join(target), seed=0, progress=False)
        info[role] = {"family": family, "hyperparameters": hyper,
                      "rows": len(catalog), "fit_seconds": time.perf_counter() - start,
                      "valid_nll": components[role].metrics.get("valid_nll")}
    model = CompositeModel(**components)
    model.save(directory)
    source = centrals.table[[*CONDITION, *VELOCITY]]
    rng = np.random.default_rng(1)
    hosts = source.iloc[rng.integers(0, len(source), 200_000)].reset_index(drop=True)
    hosts.insert(0, "halo_id", np.arange(len(hosts), dtype=np.int64))
    for axis in "xyz":
        hosts[axis] = rng.uniform(0, BOX, len(hosts))
    return {"hyperparameters": {"flow": FLOW, "occupation": OCCUPATION},
            "components": info, "fit_seconds": sum(c["fit_seconds"] for c in info.values()),
            "training_satellites_per_host": len(satellites) / len(centrals),
            **reference_rate(model, Catalog(hosts))}


def satellite_counts(result: Any) -> dict[str, Any]:
    """A composite run's hosts and painted centrals and satellites (empty for a plain
    model)."""
    if result.hosts is None:
        return {}
    return {"hosts": result.hosts, "centrals": result.centrals,
            "satellites": result.satellites}


def file_rows(n_halos: int) -> int:
    """Halos per file: at most FILE_ROWS, and at least 4 files."""
    return min(FILE_ROWS, -(-n_halos // 4))


def write_halos(directory: Path, n_halos: int, seed: int = 0, *,
                hosts: bool = False, preset: str = NOT_RERUN) -> int:
    """``n_halos`` synthetic halos in files of ``file_rows(n_halos)``; returns the count.

    The rows are resampled from a simulated universe of galaxy truth ``preset``;
    ``hosts``: the rows (condition columns and ``vx, vy, vz`` in km/s) are resampled
    from the centrals of the satellite universe (hosts alone for a composite model)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import galhalo

    names = (*CONDITION, *VELOCITY) if hosts else CONDITION
    universe = galhalo.simulate(n_halos=20_000, seed=0, satellites=hosts, preset=preset)
    if hosts:
        universe = universe.centrals()
    source = universe.table[list(names)].to_numpy()
    directory.mkdir(parents=True, exist_ok=True)
    files = -(-n_halos // file_rows(n_halos))
    rng = np.random.default_rng(seed)
    for index in range(files):
        low, high = index * n_halos // files, (index + 1) * n_halos // files
        rows = source[rng.integers(0, len(source), high - low)]
        columns = {"halo_id": np.arange(low, high, dtype=np.int64),
                   **{name: rows[:, j] for j, name in enumerate(names)},
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


HEADER = ("halos", "parts", "sched", "workers", "startup s", "work s", "halos/s",
          "per worker", "per CPU s", "vs target", "vs in-memory", "peak sum MiB",
          "worker peak", "same output")
#: Extra columns of a composite run: the galaxies painted.
SATELLITE_HEADER = ("centrals", "satellites")


def table_cells(rows: list[dict[str, Any]], reference: float, satellites: bool
                ) -> list[list[str]]:
    """One list of cells per run (``HEADER``, then ``SATELLITE_HEADER`` if
    ``satellites``); ``reference``: the in-memory halos per CPU second."""
    cells = []
    for row in rows:
        if "error" in row:
            cells.append([f"{row['n_halos']:,}", "failed: " + row["error"].splitlines()[-1]])
            continue
        per_cpu = row.get("halos_per_cpu_second")
        cells.append([
            f"{row['n_halos']:,}", str(row["parts"]), row["scheduler"], str(row["workers"]),
            f"{row['startup_seconds']:.1f}", f"{row['work_seconds']:.1f}",
            f"{row['halos_per_second']:,.0f}", f"{row['halos_per_worker_second']:,.0f}",
            _cell(per_cpu, ",.0f"),
            "–" if per_cpu is None else f"{per_cpu / TARGET_RATE:.2f}x",
            "–" if per_cpu is None else f"{per_cpu / reference:.2f}",
            _cell(row.get("peak_rss_sum_mib"), ",.0f"),
            _cell(row.get("max_worker_peak_mib"), ",.0f"), row.get("same_output", "–"),
            *([_cell(row.get("centrals"), ","), _cell(row.get("satellites"), ",")]
              if satellites else [])])
    return cells


def print_table(rows: list[dict[str, Any]], flow: dict[str, Any], estimate: dict, *,
                satellites: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=180)
    what = (f"a composite (flows {settings(FLOW)}; occupation {settings(OCCUPATION)})"
            if satellites else f"a flow {flow['hyperparameters']}")
    table = Table(title=f"galhalo populate with {what} "
                        f"(reference make_mock in memory: "
                        f"{flow['reference_halos_per_cpu_second']:,.0f} halos per CPU s)")
    for header in HEADER + (SATELLITE_HEADER if satellites else ()):
        table.add_column(header, justify="right")
    for cells in table_cells(rows, flow["reference_halos_per_cpu_second"], satellites):
        table.add_row(*cells)
    console.print(table)
    ran_huge = any(row.get("n_halos") == 10**8 and "error" not in row for row in rows)
    if not ran_huge:
        console.print(f"1e8 halos, 2 workers (estimated, not run): {estimate['note']}",
                      highlight=False)


def settings(values: dict[str, Any]) -> str:
    """``{"passes": 2, "hidden": (64, 64)}`` as ``passes=2, hidden=64x64``."""
    return ", ".join(f"{key}={'x'.join(map(str, value)) if isinstance(value, tuple) else value}"
                     for key, value in values.items())


def write_docs(rows: list[dict[str, Any]], model: dict[str, Any], estimate: dict,
               load: float, command: str) -> None:
    """The composite figures into docs/populate.md, block ``populate_satellites``."""
    from _docs import DOCS, markdown_table, rewrite_block

    header = [h for h in HEADER + SATELLITE_HEADER if h != "sched"]
    cells = [[c for j, c in enumerate(row) if j != HEADER.index("sched")] for row in
             table_cells(rows, model["reference_halos_per_cpu_second"], True)]
    ran_huge = any(row.get("n_halos") == HUGE_SIZE and "error" not in row for row in rows)
    text = (
        f"Hosts alone (one row per host with `vx, vy, vz`), a composite of four components "
        f"(flows: {settings(FLOW)}; occupation network: {settings(OCCUPATION)}), local Dask "
        f"workers with one torch thread each, a fresh process per run; \"halos\" are "
        f"hosts and the rates count hosts. Target: {TARGET_RATE:,.0f} hosts per CPU second. "
        f"In-memory `make_mock` of the same composite on {model['reference_halos']:,} "
        f"hosts: {model['reference_halos_per_cpu_second']:,.0f} hosts per CPU second.\n\n"
        + markdown_table(header, cells).strip()
        + f"\n\n1e8 hosts, 2 workers ({'run' if ran_huge else 'estimated, not run'}): "
        f"{estimate['note']}. The machine (2 CPUs) was shared with other jobs (1-minute "
        f"load average {load:.1f} at the end): wall-clock rates are lower than on an idle "
        f"machine; the per-CPU-second rate much less so. Reproduce with `{command}`.")
    rewrite_block(DOCS / "populate.md", "populate_satellites", text, command=command)


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


#: Where a composite part's time goes: (label, function, file suffix) of cProfile entries
#: whose cumulative times are reported (the draws of each component, the assembly).
PROFILE_PARTS = (
    ("central flow + occupation draws", "_paint_centrals", "models/composite.py"),
    ("(of which the occupation)", "sample", "models/occupation.py"),
    ("profile flow draws (r_host, v_r, v_t)", "_orbits", "models/composite.py"),
    ("satellite flow draws", "_satellite_galaxies", "models/composite.py"),
    ("placement (positions, velocities)", "_placed", "models/composite.py"),
    ("assembly by host (pandas)", "assemble_hosts", "models/painting.py"),
    ("validation of the hosts", "validate", "catalog/table.py"),
    ("reading the input", "read_batches", "populate/worker.py"),
)
PROFILE_HOSTS = 200_000
PROFILE_BATCHES = (8192, 32768)


def profile_part(work: Path, *, preset: str = NOT_RERUN) -> dict[str, Any]:
    """cProfile of ``populate_part`` in this process on ``PROFILE_HOSTS`` hosts (4 parts,
    after painting the first once to load the model) with the default batch size;
    then, without the profiler, hosts per CPU second at each of ``PROFILE_BATCHES``.
    The composite and the hosts come from the universe of galaxy truth ``preset``."""
    import cProfile
    import pstats

    import torch

    from galhalo.populate import plan_populate
    from galhalo.populate.worker import populate_part

    torch.set_num_threads(1)
    model = train_composite(work / "composite", preset=preset)
    write_halos(work / "halos", PROFILE_HOSTS, hosts=True, preset=preset)

    def plan(batch_rows: int | None, name: str) -> tuple[list[dict], dict]:
        plan = plan_populate(work / "composite", str(work / "halos" / "*.parquet"),
                             work / name, seed=0, batch_rows=batch_rows)
        (work / name).mkdir()
        return plan.tasks, plan.run_spec()

    tasks, run = plan(None, "profiled")
    populate_part(tasks[0], run)  # loads the model
    profiler = cProfile.Profile()
    cpu = time.process_time()
    profiler.enable()
    records = [populate_part(task, run) for task in tasks]
    profiler.disable()
    cpu = time.process_time() - cpu
    stats = pstats.Stats(profiler).stats
    total = sum(ct for (file, _, name), (_, _, _, ct, _) in stats.items()
                if name == "populate_part" and file.endswith("populate/worker.py"))

    def cumulative(function: str, suffix: str) -> float:
        return sum(ct for (file, _, name), (_, _, _, ct, _) in stats.items()
                   if name == function and file.endswith(suffix))

    shares = {label: cumulative(function, suffix) for label, function, suffix in PROFILE_PARTS}
    batches = cumulative("_part_batches", "populate/worker.py")
    shares["converting to Arrow, hashing, writing"] = total - batches
    shares["other (seeds, column selection, ...)"] = total - sum(
        seconds for label, seconds in shares.items() if not label.startswith("(of which"))
    rates = {}
    for batch_rows in PROFILE_BATCHES:
        tasks, run = plan(batch_rows, f"batch_{batch_rows}")
        populate_part(tasks[0], run)
        cpu_batch = time.process_time()
        hosts = sum(populate_part(task, run)["halos"] for task in tasks)
        rates[str(batch_rows)] = hosts / (time.process_time() - cpu_batch)
    return {"hosts": sum(r["halos"] for r in records), "profiled_cpu_seconds": cpu,
            "profiled_seconds": total, "seconds": shares,
            "hosts_per_cpu_second_by_batch_rows": rates,
            "reference_halos_per_cpu_second": model["reference_halos_per_cpu_second"]}


def report_profile(profile: dict[str, Any], write: bool, command: str) -> None:
    """Print the profile; with ``write``, also into docs/populate.md (block
    ``populate_satellites_profile``, beside ``command``, the one that reproduces it)."""
    from _docs import DOCS, markdown_table, rewrite_block

    total = profile["profiled_seconds"]
    rows = [[label, f"{seconds:.2f}", f"{seconds / total:.0%}"]
            for label, seconds in profile["seconds"].items()]
    rows.append(["populate_part in all", f"{total:.2f}", "100%"])
    rates = ", ".join(f"{rate:,.0f} with batch_rows={int(batch):,}" for batch, rate in
                      profile["hosts_per_cpu_second_by_batch_rows"].items())
    text = (f"cProfile of `populate_part` in one process on {profile['hosts']:,} hosts "
            f"(batch_rows default, one torch thread; seconds under the profiler, which "
            f"inflates the many small calls):\n\n"
            + markdown_table(["where", "seconds", "share"], rows, align="lrr").strip()
            + f"\n\nWithout the profiler, hosts per CPU second: {rates} (in-memory "
            f"`make_mock` of the whole 2e5 hosts at once: "
            f"{profile['reference_halos_per_cpu_second']:,.0f}).")
    print(text)
    if write:
        rewrite_block(DOCS / "populate.md", "populate_satellites_profile", text,
                      command=command)


def parse_list(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1e5 halos only")
    add_preset_option(parser, NOT_RERUN)
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
    parser.add_argument("--satellites", action="store_true",
                        help="a composite model (centrals and satellites) on hosts alone; "
                             "writes results/populate_satellites.json and docs/populate.md")
    parser.add_argument("--batch-rows", type=int, default=None,
                        help="populate's batch_rows (default: populate's own; the "
                             "docs are rewritten only with the default)")
    parser.add_argument("--profile", action="store_true",
                        help="with --satellites: only profile one part in this process "
                             "(results/populate_satellites_profile.json)")
    parser.add_argument("--no-docs", action="store_true",
                        help="with --satellites: do not rewrite docs/populate.md")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default results/populate.json, with "
                             "--satellites results/populate_satellites.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0

    from simulate import machine_info

    from galhalo.files import write_json

    args.torch_threads = args.torch_threads or None
    if args.profile:
        if not args.satellites:
            parser.error("--profile needs --satellites")
        work = Path(tempfile.mkdtemp(prefix="galhalo-populate-profile-", dir=args.workdir))
        try:
            profile = profile_part(work, preset=args.preset)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        command = ("python benchmarks/populate.py --satellites --profile"
                   + preset_flag(args.preset, NOT_RERUN))
        report_profile(profile, not args.no_docs, command)
        out = args.out or SATELLITES_OUT.with_name("populate_satellites_profile.json")
        write_json(out, {"benchmark": "populate_satellites_profile",
                         "machine": machine_info(), "preset": args.preset,
                         "load_average_end": os.getloadavg()[0], **profile})
        print(f"wrote {out}", file=sys.stderr)
        return 0
    args.out = args.out or (SATELLITES_OUT if args.satellites else DEFAULT_OUT)
    model_dir = "composite" if args.satellites else "flow"
    keep = None if args.satellites else list(KEEP)  # a composite: every host column
    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.huge and HUGE_SIZE not in sizes:
        sizes.append(HUGE_SIZE)
    work = Path(tempfile.mkdtemp(prefix="galhalo-populate-", dir=args.workdir))
    rows: list[dict[str, Any]] = []
    try:
        print(f"training the {model_dir} ...", file=sys.stderr, flush=True)
        flow = (train_composite if args.satellites else train_flow)(work / model_dir,
                                                                    preset=args.preset)
        for n_halos in sizes:
            halos = work / f"halos_{n_halos}"
            files = write_halos(halos, n_halos, hosts=args.satellites, preset=args.preset)
            print(f"{n_halos:,} halos in {files} files", file=sys.stderr, flush=True)
            digests = []
            for workers in args.workers:
                out = work / f"mock_{n_halos}_{workers}"
                spec = {"model": str(work / model_dir), "halos": str(halos / "*.parquet"),
                        "out": str(out), "seed": 0, "scheduler": "local", "workers": workers,
                        "keep": keep, "batch_rows": args.batch_rows,
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
                    spec = {"model": str(work / model_dir),
                            "halos": str(halos / "*.parquet"), "keep": keep,
                            "batch_rows": args.batch_rows,
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
    print_table(rows, flow, estimate, satellites=args.satellites)
    load = os.getloadavg()
    print(f"1-min load average at the end: {load[0]:.2f} on {os.cpu_count()} CPUs",
          file=sys.stderr)
    if args.satellites and not args.no_docs and args.batch_rows is None:  # the default
        command = "python benchmarks/populate.py " + " ".join(
            sys.argv[1:] if argv is None else argv)
        write_docs(rows, flow, estimate, load[0], command.strip())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {
        "benchmark": "populate_satellites" if args.satellites else "populate",
        "machine": machine_info(), "preset": args.preset,
        ("composite" if args.satellites else "flow"): flow,
        "load_average_end": load[0],
        "options": {"sizes": sizes, "workers": args.workers, "file_rows": FILE_ROWS,
                    "torch_threads": args.torch_threads,
                    "keep": keep, "batch_rows": args.batch_rows,
                    "remote": not args.no_remote},
        "targets": {"halos_per_cpu_second": TARGET_RATE, "peak_gib_at_1e8": TARGET_MEMORY_GIB},
        "rows": rows, "estimate_1e8": estimate,
    })
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all("error" not in row for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
