"""The worker side of a populate run: sample one part and write it atomically.

A task carries only plain data (file name, format, row range, input metadata); the
model is loaded once per process (:func:`cached_model`, or :class:`ModelPlugin` on each
Dask worker) and never shipped with the tasks. A part is read, sampled and written in
batches of ``batch_rows`` input rows (a composite model: hosts, never split), gathered
into Parquet row groups of about :data:`ROW_GROUP_ROWS` rows, so a worker's memory is
bounded by the batch size.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed.diagnostics.plugin import WorkerPlugin

from ..catalog import (
    PARQUET_KEY,
    REALIZATION,
    Catalog,
    CatalogError,
    CatalogMeta,
    catalog_header,
    iter_batches,
)
from ..errors import ModelError, PopulateError
from ..files import atomic_path
from ..mock import make_mock
from ..models.base import ConditionalModel
from ..models.composite import PAINTED_ID_BASE, CompositeModel, load_any
from .hosts import host_batches
from .manifest import PartRecord, file_sha256, model_hash
from .painting import paint_batch
from .seeds import batch_seed

__all__ = [
    "ROW_GROUP_ROWS",
    "ModelPlugin",
    "cached_model",
    "part_identity",
    "populate_part",
    "read_batches",
    "remember_model",
]

#: Output rows per Parquet row group (batches are gathered until they reach it).
ROW_GROUP_ROWS = 131_072
#: Painted satellite ids of part ``i`` start at ``PAINTED_ID_BASE + i * PART_IDS``.
PART_IDS = 2**32
#: What reading or writing a part raises besides galhalo's errors.
_IO_ERRORS = (OSError, UnicodeDecodeError, pa.ArrowException)


def read_batches(task: dict, columns: list[str], size: int) -> Iterator[pd.DataFrame]:
    """The input rows [start, stop) of a part's file, ``columns`` only, as DataFrames
    of exactly ``size`` rows (the last one shorter; with a CSV window that starts
    before ``start``, the first one too)."""
    batches = iter_batches(task["path"], task["format"], task["start"], task["stop"],
                           columns, size, csv_names=task.get("csv", {}).get("names"),
                           csv_bytes=task.get("bytes"), types=task.get("types"))
    if task["format"] != "csv":
        yield from batches
        return
    skip, left = task.get("skip", 0), task["stop"] - task["start"]
    for frame in batches:  # a CSV byte window may start before start and end after stop
        if skip >= len(frame):
            skip -= len(frame)
            continue
        if skip or len(frame) > left:
            frame = frame.iloc[skip:skip + left].reset_index(drop=True)
        skip, left = 0, left - len(frame)
        yield frame
        if not left:
            return


Model = ConditionalModel | CompositeModel
_MODELS: dict[tuple[str, str], Model] = {}
_MODELS_LOCK = threading.Lock()
#: model.sample seeds torch's global generator: one draw at a time per process.
_SAMPLE_LOCK = threading.Lock()


def cached_model(directory: str, expected_hash: str) -> Model:
    """The model saved in ``directory``, loaded once per process and kept (one model).

    Raises:
        PopulateError: the directory's content does not have ``expected_hash`` (the
            model changed, or a worker sees another model at the same path).
    """
    key = (directory, expected_hash)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = load_any(directory)
            found = model_hash(directory)
            if found != expected_hash:
                raise PopulateError(
                    f"{directory}: the model has hash {found[:12]} here, but the run was "
                    f"planned with {expected_hash[:12]} (changed, or another model at the "
                    "same path on this worker)")
            _MODELS.clear()
            _MODELS[key] = model
    return model


def remember_model(directory: str, digest: str, model: Model) -> None:
    """Make ``model`` this process's cached model (a run in this process)."""
    with _MODELS_LOCK:
        _MODELS.clear()
        _MODELS[(directory, digest)] = model


def _sample_batch(model: ConditionalModel, frame: pd.DataFrame, meta: CatalogMeta,
                  samples: int, seed: int, columns: list[str], where: str) -> pd.DataFrame:
    """One batch of the mock: validate the halos, draw, keep ``columns``."""
    catalog = Catalog(frame, meta).validate(required=model.condition, source=where)
    with _SAMPLE_LOCK:
        mock = make_mock(model, catalog, samples, seed)
    return mock.table[columns]


def _part_batches(model: Model, task: dict, run: dict, where: str
                  ) -> Iterator[tuple[pd.DataFrame, int, dict[str, int]]]:
    """The part's output batches: (rows to write, input rows read, counts).

    A plain model samples each batch of input rows; a composite paints batches of
    whole hosts, its painted satellites numbered from the part's id range.
    """
    settings, meta = run["settings"], CatalogMeta.from_dict(task["meta"])
    mode, samples, size = settings.get("paint"), settings["samples"], settings["batch_rows"]
    batches = read_batches(task, run["read_columns"], size)
    if mode is None:
        for index, frame in enumerate(batches):
            table = _sample_batch(model, frame, meta, samples,
                                  batch_seed(settings["seed"], task["name"], index),
                                  run["out_columns"], where)
            yield table, len(frame), {}
        return
    if mode == "subhalos":
        batches = host_batches(batches, size)
    next_id = PAINTED_ID_BASE + task["index"] * PART_IDS
    for index, frame in enumerate(batches):
        table, counts = paint_batch(
            model, frame, meta, mode=mode, samples=samples,
            seed=batch_seed(settings["seed"], task["name"], index), id_base=next_id,
            required=run["required"], columns=run["out_columns"], lock=_SAMPLE_LOCK,
            where=where)
        next_id += counts.pop("ids")
        if next_id > PAINTED_ID_BASE + (task["index"] + 1) * PART_IDS:
            raise PopulateError(f"painted more than {PART_IDS:,} satellite ids in one part: "
                                "use a smaller chunk_rows")
        yield table, len(frame), counts


def _part_meta(task: dict, run: dict) -> CatalogMeta:
    meta = CatalogMeta.from_dict(task["meta"])
    model, settings = run["model"], run["settings"]
    meta.source = f"galhalo populate ({model['family']} model) of {task['source']}"
    meta.extra = {**meta.extra, "mock": {
        "family": model["family"], "condition": model["condition"],
        "target": model["target"], "samples": settings["samples"], "seed": settings["seed"]},
        "populate": part_identity(task, model["hash"], settings)}
    if "components" in model:
        meta.extra["mock"]["components"] = model["components"]
    return meta


def part_identity(task: dict, digest: str, settings: dict) -> dict:
    """What a part's footer records of the run that made it (read back to adopt it):
    part name, model hash, settings, input rows; with a composite, the part's index
    (its painted satellites' ids depend on it)."""
    identity = {"part": task["name"], "model_hash": digest, "settings": settings,
                "source": task["source"], "start": task["start"], "stop": task["stop"]}
    if "paint" in settings:
        identity["index"] = task["index"]
    return identity


def _write_row_group(writer: pq.ParquetWriter, held: list[pa.Table]) -> None:
    """Write the held batches as one row group and empty ``held``."""
    table = pa.concat_tables(held)
    if len(table):  # a composite may paint nothing (hosts that all lost their central)
        writer.write_table(table, row_group_size=len(table))
    held.clear()


def populate_part(task: dict, run: dict) -> dict:
    """Sample one part and write it atomically (runs on a worker).

    ``task``: the part (name, file, format, row range, input metadata); ``run``: output
    directory, model (directory and hash), settings and columns. Returns the part's
    :class:`PartRecord` as a dict plus ``name``, ``halos`` and ``seconds``.

    Raises:
        PopulateError: naming the part and its input rows, for bad halos (NaN, values
            out of bounds), a changed input or a model that cannot be loaded.
    """
    start_time = time.perf_counter()
    name = task["name"]
    where = f"part {name} ({task['source']} rows {task['start']}-{task['stop']})"
    try:
        model = cached_model(run["model"]["directory"], run["model"]["hash"])
        target = Path(run["out"]) / name
        rows = read = 0
        totals: dict[str, int] = {}
        with atomic_path(target) as tmp:
            writer, schema, held = None, None, []
            try:
                for table, batch_read, counts in _part_batches(model, task, run, where):
                    read += batch_read
                    for key, value in counts.items():
                        totals[key] = totals.get(key, 0) + value
                    if writer is None:
                        arrow = pa.Table.from_pandas(table, preserve_index=False)
                        header = catalog_header(Catalog(table, _part_meta(task, run))).encode()
                        schema = arrow.schema.with_metadata(
                            {**(arrow.schema.metadata or {}), PARQUET_KEY: header})
                        # Dictionary-encoding sampled floats costs 10x the rest of the
                        # writing and makes larger files: only text and realisations.
                        writer = pq.ParquetWriter(tmp, schema, use_dictionary=[
                            f.name for f in schema if f.name == REALIZATION
                            or pa.types.is_string(f.type) or pa.types.is_large_string(f.type)])
                    held.append(pa.Table.from_pandas(table, schema=schema,
                                                     preserve_index=False))
                    rows += len(table)
                    if sum(map(len, held)) >= ROW_GROUP_ROWS:
                        _write_row_group(writer, held)
                    del table
                    # Sampling leaves reference cycles holding its tensors (zuko transforms
                    # and their torch inverses): free them now, or memory grows per batch.
                    gc.collect(1)
                if held:
                    _write_row_group(writer, held)
            finally:
                if writer is not None:
                    writer.close()
            expected = task["stop"] - task["start"]
            if read != expected:
                raise PopulateError(f"read {read:,} input rows, expected {expected:,} (the "
                                    "file changed since the run was planned?)")
        record = PartRecord(source=task["source"], start=task["start"], stop=task["stop"],
                            rows=rows, bytes=target.stat().st_size,
                            sha256=file_sha256(target), seed=task["seed"],
                            hosts=totals.get("hosts"), centrals=totals.get("centrals"),
                            satellites=totals.get("satellites"))
    except (CatalogError, ModelError, PopulateError) as err:
        message = str(err)
        raise PopulateError(message if message.startswith(where) else f"{where}: {message}"
                            ) from None
    except _IO_ERRORS as err:
        raise PopulateError(f"{where}: cannot read or write ({type(err).__name__}: {err})"
                            ) from None
    return {"name": name, "record": record.to_dict(), "halos": task["stop"] - task["start"],
            "seconds": time.perf_counter() - start_time}


class ModelPlugin(WorkerPlugin):
    """Dask worker plugin: set torch's threads and load the model once per worker.

    ``torch_threads=None`` gives each worker as many torch threads as it has Dask
    threads (sampling is serialised within a process, so those cores are its own).
    """

    def __init__(self, directory: str, digest: str, torch_threads: int | None):
        self.directory, self.digest, self.torch_threads = directory, digest, torch_threads

    def setup(self, worker) -> None:
        import torch

        torch.set_num_threads(int(self.torch_threads or max(1, worker.state.nthreads)))
        cached_model(self.directory, self.digest)
