"""Running a populate plan: in this process on threads, or on a Dask cluster.

``scheduler="local"`` (default) starts a ``LocalCluster`` of ``workers``
single-threaded processes, torch using ``cores // workers`` threads in each; an address
(``"tcp://host:8786"``) or a ``distributed.Client`` uses an existing cluster (workers
must see the same paths); ``"threads"`` runs in this process with a thread pool. The
driver records finished parts in the manifest (at most every
:data:`MANIFEST_INTERVAL` seconds, and at the end) and stops at the first failed part,
keeping what is finished.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from concurrent.futures import as_completed as threads_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PopulateError
from .manifest import Manifest, PartRecord
from .plan import DEFAULT_CHUNK_ROWS, PopulatePlan, plan_populate, positive_integer
from .resume import DirectoryLock, parts_to_do
from .worker import ModelPlugin, populate_part, remember_model

__all__ = ["PopulateProgress", "PopulateResult", "populate", "run_plan", "usable_cores"]

#: Seconds between manifest rewrites while parts finish (always written at the end).
MANIFEST_INTERVAL = 5.0


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class PopulateProgress:
    """Where a run stands (given to the ``progress`` callback after each part).

    ``halos_done`` counts parts finished before this run too; ``halos_per_second`` is
    this run's rate (input halos sampled / wall seconds since the work started).
    """

    parts_done: int
    parts_total: int
    halos_done: int
    halos_total: int
    halos_this_run: int
    seconds: float

    @property
    def halos_per_second(self) -> float:
        return self.halos_this_run / self.seconds if self.seconds > 0 else 0.0


@dataclass
class PopulateResult:
    """Summary of a finished run.

    Attributes:
        out, manifest: the output directory and its manifest file.
        parts_total: parts of the mock; ``parts_written`` sampled by this run,
            ``parts_skipped`` verified and kept, ``parts_adopted`` complete but
            unrecorded parts taken over, ``redone``: {part: why it was redone}.
        halos: input rows; ``rows``: output rows (halos x samples for a plain model,
            the painted galaxies for a composite).
        halos_this_run: input rows sampled by this run.
        hosts, centrals, satellites: a composite's input hosts and painted central and
            satellite rows, summed over the parts (``None`` for a plain model, or when
            a part adopted from a killed run left the hosts unknown).
        seconds: wall time of the work, from the moment every worker had the model;
            ``startup_seconds``: starting the cluster and loading the model before that.
        scheduler: what ran the parts; ``workers``: worker processes or threads.
        part_seconds: wall time of each part written by this run.
    """

    out: Path
    manifest: Path
    parts_total: int
    parts_written: int
    parts_skipped: int
    parts_adopted: int
    redone: dict[str, str]
    halos: int
    rows: int
    halos_this_run: int
    seconds: float
    startup_seconds: float
    scheduler: str
    workers: int
    part_seconds: list[float] = field(default_factory=list)
    hosts: int | None = None
    centrals: int | None = None
    satellites: int | None = None

    @property
    def halos_per_second(self) -> float:
        return self.halos_this_run / self.seconds if self.seconds > 0 else 0.0


def _total(records: list[PartRecord], name: str) -> int | None:
    """Sum of a count over the part records; ``None`` if any part lacks it."""
    values = [getattr(record, name) for record in records]
    return None if any(value is None for value in values) else sum(values)


def _scheduler_label(scheduler: Any) -> str:
    return scheduler if isinstance(scheduler, str) else type(scheduler).__name__


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _failure(task: dict, err: BaseException) -> PopulateError:
    """``err`` of a part as a :class:`PopulateError` naming the part (kept if it is one)."""
    if isinstance(err, PopulateError):
        return err
    return PopulateError(f"part {task['name']} ({task['source']} rows {task['start']}-"
                         f"{task['stop']}) failed: {type(err).__name__}: {err}")


class _Run:
    """The driver's bookkeeping while parts finish: manifest, counts, progress, clock."""

    def __init__(self, plan: PopulatePlan, manifest: Manifest, todo: list[dict],
                 progress: Callable[[PopulateProgress], None] | None):
        self.plan, self.manifest, self.progress = plan, manifest, progress
        self.done = len(plan.tasks) - len(todo)
        self.halos = plan.halos - sum(task["stop"] - task["start"] for task in todo)
        self.halos_now = self.written = 0
        self.part_seconds: list[float] = []
        self.created = self.start = self.saved = time.perf_counter()

    def ready(self) -> None:
        """The workers are up with the model loaded: the work (and its clock) starts."""
        self.start = time.perf_counter()
        self.report()

    def report(self) -> None:
        if self.progress is not None:
            self.progress(PopulateProgress(
                self.done, len(self.plan.tasks), self.halos, self.plan.halos, self.halos_now,
                time.perf_counter() - self.start))

    def finished(self, result: dict) -> None:
        """Record a finished part; rewrite the manifest at most every few seconds."""
        self.manifest.parts[result["name"]] = PartRecord.from_dict(result["record"])
        self.done += 1
        self.written += 1
        self.halos += result["halos"]
        self.halos_now += result["halos"]
        self.part_seconds.append(result["seconds"])
        if time.perf_counter() - self.saved > MANIFEST_INTERVAL:
            self.manifest.write(self.plan.out)
            self.saved = time.perf_counter()
        self.report()


def _run_threads(tasks: list[dict], run: dict, workers: int, state: _Run) -> None:
    failure: PopulateError | None = None
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="galhalo-populate")
    state.ready()
    try:
        futures = {pool.submit(populate_part, task, run): task for task in tasks}
        for future in threads_completed(futures):
            try:
                result = future.result()
            except CancelledError:
                continue
            except Exception as err:
                if failure is None:
                    failure = _failure(futures[future], err)
                    failure.__cause__ = err
                    for other in futures:
                        other.cancel()
                continue
            state.finished(result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if failure is not None:
        raise failure


def _run_dask(client: Any, tasks: list[dict], run: dict, plugin: ModelPlugin,
              state: _Run) -> None:
    from distributed import as_completed

    # Registering waits for every worker's setup: the model is loaded everywhere.
    client.register_plugin(plugin, name=f"galhalo-populate-{run['model']['hash'][:16]}")
    state.ready()
    token = uuid.uuid4().hex[:8]
    futures = {client.submit(populate_part, task, run, key=f"populate-{task['name']}-{token}",
                             pure=False): task for task in tasks}
    try:
        for future in as_completed(list(futures)):
            try:
                result = future.result()
            except Exception as err:
                finished = [f for f in futures if f.status == "finished" and f is not future]
                client.cancel([f for f in futures if not f.done()])
                for other in finished:  # keep what is done before stopping
                    with contextlib.suppress(Exception):
                        state.finished(other.result())
                raise _failure(futures[future], err) from err
            state.finished(result)
            del futures[future]
    finally:
        client.cancel(list(futures))


@contextlib.contextmanager
def _client(scheduler: Any, workers: int, torch_threads: int | None
            ) -> Iterator[tuple[Any, int | None]]:
    """A Dask client for ``scheduler`` and the torch threads its workers should use."""
    from distributed import Client, LocalCluster

    if not isinstance(scheduler, str):
        yield scheduler, torch_threads
        return
    if scheduler == "local":
        import dask

        threads = torch_threads or max(1, usable_cores() // workers)
        # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins glibc's
        # mmap threshold: every batch's tensors are then fresh pages, and the page faults
        # cost more CPU than the sampling (measured 2.7x fewer halos per CPU second, for
        # ~70 MiB less peak memory per worker). Keep glibc's defaults. The workers'
        # statistical profiler (for the dashboard, which is off) cost another 12%.
        environ = {key: value for key, value in
                   dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                   if key != "MALLOC_TRIM_THRESHOLD_"}
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ,
                              "distributed.worker.profile.enabled": False}), \
                LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                             dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            yield client, threads
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise PopulateError(f"cannot reach the Dask scheduler at {scheduler!r} ({err})"
                            ) from None
    with client:
        yield client, torch_threads


def run_plan(
    plan: PopulatePlan,
    *,
    scheduler: Any = "local",
    workers: int | None = None,
    torch_threads: int | None = None,
    checksums: bool = False,
    progress: Callable[[PopulateProgress], None] | None = None,
) -> PopulateResult:
    """Sample the parts of ``plan`` that are not finished yet; see :func:`populate`."""
    local = isinstance(scheduler, str) and scheduler in ("local", "threads")
    if isinstance(scheduler, str) and not local and ":" not in scheduler:
        raise PopulateError(f"scheduler must be 'local', 'threads' or a scheduler address "
                            f"such as tcp://host:8786, got {scheduler!r}")
    if workers is not None and not local:
        raise PopulateError("workers sets the size of a local run ('local' or 'threads'); "
                            "an existing cluster has its own workers")
    workers = positive_integer("workers", workers) if workers is not None else usable_cores()
    if torch_threads is not None:
        torch_threads = positive_integer("torch_threads", torch_threads)
    plan.out.mkdir(exist_ok=True)
    with DirectoryLock(plan.out):
        manifest = Manifest.read(plan.out)
        if manifest is None:
            manifest = Manifest(model=plan.model_info, settings=plan.settings)
        manifest.check_compatible(plan.out, plan.model_info, plan.settings)
        manifest.check_inputs(plan.out, plan.inputs)
        manifest.inputs = {**manifest.inputs, **plan.inputs}
        manifest.planned = len(plan.tasks)
        todo, skipped, adopted, redone = parts_to_do(plan, manifest, checksums)
        manifest.complete = not todo
        manifest.write(plan.out)
        workers = min(workers, max(1, len(todo)))
        state = _Run(plan, manifest, todo, progress)
        run = plan.run_spec()
        try:
            if todo and scheduler == "threads":
                remember_model(plan.model_info["directory"], plan.model_info["hash"], plan.model)
                with _torch_threads(torch_threads or usable_cores()):
                    _run_threads(todo, run, workers, state)
            elif todo:
                with _client(scheduler, workers, torch_threads) as (client, threads):
                    if not local:
                        workers = len(client.scheduler_info()["workers"])
                    plugin = ModelPlugin(plan.model_info["directory"], plan.model_info["hash"],
                                         threads)
                    _run_dask(client, todo, run, plugin, state)
            else:
                state.ready()
        finally:
            manifest.complete = all(task["name"] in manifest.parts for task in plan.tasks)
            manifest.write(plan.out)
    end = time.perf_counter()
    records = [manifest.parts[task["name"]] for task in plan.tasks
               if task["name"] in manifest.parts]
    composite = "paint" in plan.settings
    return PopulateResult(
        out=plan.out, manifest=Manifest.path_in(plan.out), parts_total=len(plan.tasks),
        parts_written=state.written, parts_skipped=skipped, parts_adopted=adopted,
        redone=redone, halos=plan.halos, rows=sum(record.rows for record in records),
        halos_this_run=state.halos_now, seconds=end - state.start,
        startup_seconds=state.start - state.created, scheduler=_scheduler_label(scheduler),
        workers=workers, part_seconds=state.part_seconds,
        **({name: _total(records, name) for name in ("hosts", "centrals", "satellites")}
           if composite else {}))


def populate(
    model: str | os.PathLike[str],
    halos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    samples: int = 1,
    keep: str | Sequence[str] | None = None,
    seed: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    batch_rows: int | None = None,
    halo_only: bool = False,
    scheduler: Any = "local",
    workers: int | None = None,
    torch_threads: int | None = None,
    checksums: bool = False,
    progress: Callable[[PopulateProgress], None] | None = None,
) -> PopulateResult:
    """Sample the model's targets for every halo of many files into ``out``.

    Every check (:func:`plan_populate`) happens before any work; then the unfinished
    parts are sampled (:func:`run_plan`) and the manifest is updated.

    Args:
        model, halos, out, samples, keep, seed, chunk_rows, batch_rows, halo_only: see
            :func:`plan_populate` (a composite model paints centrals and satellites).
        scheduler: ``"local"`` (a LocalCluster of ``workers`` processes), ``"threads"``
            (this process, ``workers`` threads; sampling itself runs one batch at a
            time), a scheduler address ``"tcp://host:8786"``, or a
            ``distributed.Client``.
        workers: processes or threads of a local run (default: usable cores, at most
            one per unfinished part).
        torch_threads: torch threads per worker (default cores // workers locally, a
            worker's Dask threads on a cluster, all cores with ``"threads"``).
        checksums: also re-hash the finished parts before trusting them (reads them).
        progress: called with a :class:`PopulateProgress` at the start and after each
            part.

    Returns:
        a :class:`PopulateResult`. Raises :class:`PopulateError` (naming the part) when
        a part fails; parts already finished are kept and recorded.
    """
    plan = plan_populate(model, halos, out, samples=samples, keep=keep, seed=seed,
                         chunk_rows=chunk_rows, batch_rows=batch_rows, halo_only=halo_only)
    return run_plan(plan, scheduler=scheduler, workers=workers, torch_threads=torch_threads,
                    checksums=checksums, progress=progress)
