"""Populate huge halo catalogs with galaxies: out of core, resumable, on Dask.

``populate(model, "halos/*.parquet", "mock/")`` is ``galhalo populate``: it paints the
model's targets (e.g. galaxy properties) onto every halo of many catalog files that
need not fit in memory, on one laptop or a Dask cluster, and can be killed and re-run.

How the work is cut:

* **inputs**: Parquet (``.parquet``, ``.pq``), CSV (``.csv``) or HDF5 (``.h5``,
  ``.hdf5``, one 1-D dataset per column in the group ``catalog`` or at the root) files
  matched by a glob, a directory or a list. Every file must have the same columns and
  types; the model's condition columns must be among them.
* **parts**: each file is cut into chunks of at most ``chunk_rows`` input rows; each
  chunk becomes one output Parquet file ``<input name>-<chunk:05d>.parquet`` holding
  the kept input columns, the sampled target columns and, when ``samples > 1``, a
  ``realization`` column (rows of one batch realisation-major, as in
  :func:`galhalo.mock.make_mock`). Each part carries the galhalo header, so
  :func:`galhalo.read_catalog` reads it, and ``pandas.read_parquet("mock/")`` reads the
  whole mock.
* **batches**: a part is read, sampled and written in batches of ``batch_rows`` input
  rows (default ``8192 // samples``), one Parquet row group each, so a worker's
  memory is bounded by the batch size whatever the catalog and part sizes.

Reproducible: the seed of each batch derives from the run seed, the part's name and the
batch index through :class:`numpy.random.SeedSequence` (:func:`batch_seed`), so the
output is the same bytes for any scheduler and number of workers.

Resumable and safe: a part is written to a hidden temporary name and renamed when
complete (:func:`galhalo.files.atomic_path`); ``_manifest.json``
(:mod:`galhalo.manifest`) records the finished parts, their row counts, sizes and
checksums, and the model's hash. A re-run skips verified parts, redoes missing or
truncated ones, adopts complete parts the manifest had not recorded yet, and refuses an
output directory made with another model or other settings. A lock file keeps two
runs from writing the same directory at once.

Dask: ``scheduler="local"`` (default) starts a ``LocalCluster`` of ``workers``
single-threaded processes, torch using ``cores // workers`` threads in each;
an address (``"tcp://host:8786"``) or a ``distributed.Client`` uses an existing
cluster (workers must see the same paths); ``"threads"`` runs in this process with a
thread pool (small jobs). The model is loaded once per worker process (a worker plugin
and a per-process cache keyed by model directory and hash) and never shipped with the
tasks, which carry only file names and row ranges.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import glob
import hashlib
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from concurrent.futures import as_completed as threads_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from distributed.diagnostics.plugin import WorkerPlugin

from .catalog import (
    CSV_PREFIX,
    HDF5_ATTRIBUTE,
    HDF5_GROUP,
    PARQUET_KEY,
    REALIZATION,
    Catalog,
    CatalogError,
    CatalogMeta,
    _header,
    _parse_header,
)
from .files import atomic_path, check_writable
from .manifest import (
    MANIFEST_FILE,
    Manifest,
    PartRecord,
    PopulateError,
    file_sha256,
    model_hash,
    part_description,
    verify_part,
)
from .mock import make_mock
from .models.base import ConditionalModel, ModelError, load_model

__all__ = [
    "BATCH_ROWS",
    "DEFAULT_CHUNK_ROWS",
    "PopulateError",
    "PopulatePlan",
    "PopulateProgress",
    "PopulateResult",
    "batch_seed",
    "plan_populate",
    "populate",
    "run_plan",
]

#: Input rows per output part (one file per chunk of an input file).
DEFAULT_CHUNK_ROWS = 1_000_000
#: Output rows sampled at once: batches hold ``BATCH_ROWS // samples`` halos. Measured
#: with the benchmark's flow in a Dask worker: peak 665 MiB (400 MiB of it the interpreter
#: with torch, Dask and the model), 715 MiB with 16384, 790 MiB with 32768, at the same
#: CPU time per halo within the noise.
BATCH_ROWS = 8_192
#: Output rows per Parquet row group (batches are gathered until they reach it).
ROW_GROUP_ROWS = 131_072
#: Seconds between manifest rewrites while parts finish (always written at the end).
MANIFEST_INTERVAL = 5.0
#: Input suffixes and their formats.
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".h5": "hdf5",
            ".hdf5": "hdf5"}
LOCK_FILE = ".populate.lock"
_CSV_BLOCK = 1 << 24
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, pa.ArrowException)
_IO_ERRORS = (OSError, UnicodeDecodeError, pa.ArrowException)
#: Temporary names of galhalo.files.atomic_path: ``.<stem>.<12 hex>.tmp<suffix>``.
_TEMPORARY = re.compile(r"^\.(?P<stem>.+)\.[0-9a-f]{12}\.tmp\.(parquet|json)$")


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- seeds


def batch_seed(seed: int, part: str, batch: int | None = None) -> int:
    """The 63-bit seed of batch ``batch`` of part ``part`` (or of the part itself).

    ``numpy.random.SeedSequence(seed, spawn_key=(*w, batch))`` where ``w`` are four
    32-bit words of the SHA-256 of the part's name: independent streams for every part
    and batch, fixed by the run seed and the name alone.
    """
    words = np.frombuffer(hashlib.sha256(part.encode()).digest()[:16], dtype="<u4")
    key = tuple(int(word) for word in words) + (() if batch is None else (int(batch),))
    state = np.random.SeedSequence(int(seed), spawn_key=key).generate_state(2, np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class HaloFile:
    """One input file as planned: format, rows, columns and table metadata.

    ``schema`` maps column -> arrow type (strings normalised to ``pa.string()``);
    ``csv`` holds, for CSV files, the column names and the byte offsets where the
    chunks start (and the end of the data).
    """

    path: Path
    name: str
    format: str
    rows: int
    schema: dict[str, pa.DataType]
    meta: dict[str, Any]
    csv: dict[str, Any] | None = None


def _normalised(kind: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_large_string(kind) else kind


def _meta_of(header_text: str | bytes | None, path: Path) -> dict[str, Any]:
    header = _parse_header(header_text)
    meta = CatalogMeta(source=str(path)) if header is None else CatalogMeta.from_dict(
        header["meta"])
    return meta.to_dict()


def _scan_parquet(path: Path, chunk_rows: int) -> tuple[int, dict, dict, None]:
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    columns = {f.name: _normalised(f.type) for f in schema
               if not f.name.startswith("__index_level_")}
    meta = _meta_of((schema.metadata or {}).get(PARQUET_KEY), path)
    return parquet.metadata.num_rows, columns, meta, None


def _scan_hdf5(path: Path, chunk_rows: int) -> tuple[int, dict, dict, None]:
    with h5py.File(path, "r") as h5:
        group = h5.get(HDF5_GROUP)
        group = group if isinstance(group, h5py.Group) else h5
        datasets = {name: item for name, item in group.items() if isinstance(item, h5py.Dataset)}
        if not datasets:
            raise CatalogError(f"no datasets in group {group.name!r}")
        bad = [name for name, item in datasets.items() if item.ndim != 1]
        if bad:
            raise CatalogError(f"datasets {bad} are not one-dimensional")
        lengths = {name: len(item) for name, item in datasets.items()}
        if len(set(lengths.values())) > 1:
            raise CatalogError(f"datasets have different lengths: {lengths}")
        columns = {name: pa.string() if h5py.check_string_dtype(item.dtype) is not None
                   else pa.from_numpy_dtype(item.dtype) for name, item in datasets.items()}
        header = group.attrs.get(HDF5_ATTRIBUTE) if group.name != "/" else None
        rows = next(iter(lengths.values()))
    return rows, columns, _meta_of(header, path), None


def _scan_csv(path: Path, chunk_rows: int) -> tuple[int, dict, dict, dict]:
    """Rows, types and chunk byte offsets of a CSV file (one pass over its lines)."""
    with open(path, "rb") as handle:
        first = handle.readline()
        galhalo = first.startswith(CSV_PREFIX.encode())
        names_line = handle.readline() if galhalo else first
        data_start = handle.tell()
        offsets, rows, position, last = [data_start], 0, data_start, b"\n"
        while block := handle.read(_CSV_BLOCK):
            newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            counts = rows + 1 + np.arange(len(newlines))
            offsets += (position + newlines[counts % chunk_rows == 0] + 1).tolist()
            rows += len(newlines)
            position += len(block)
            last = block[-1:]
    if position > data_start and last != b"\n":
        rows += 1
    if offsets[-1] != position:
        offsets.append(position)
    names = next(csv.reader([names_line.decode("utf-8").rstrip("\r\n")]))
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(
        skip_rows=1 if galhalo else 0, block_size=1 << 20))
    columns = {f.name: _normalised(f.type) for f in reader.schema}
    reader.close()
    header = first[len(CSV_PREFIX):].decode("utf-8") if galhalo else None
    return rows, columns, _meta_of(header, path), {"names": names, "offsets": offsets}


_SCANNERS = {"parquet": _scan_parquet, "csv": _scan_csv, "hdf5": _scan_hdf5}


def find_inputs(halos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The input files: a glob (``**`` recursive), a file, a directory (its catalog
    files) or a list of these; sorted, duplicates removed, resolved.

    Raises:
        PopulateError: nothing matches, or a matched file has an unknown suffix.
    """
    patterns = [halos] if isinstance(halos, str | os.PathLike) else list(halos)
    if not patterns:
        raise PopulateError("no halo files given")
    found: set[Path] = set()
    for pattern in patterns:
        text = os.fspath(pattern)
        path = Path(text)
        if path.is_dir():
            matches = [p for p in path.iterdir() if p.suffix.lower() in SUFFIXES]
        elif path.is_file():
            matches = [path]
        else:
            matches = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
        if not matches:
            raise PopulateError(f"no halo files match {text!r}"
                                + (" (an empty directory)" if path.is_dir() else ""))
        unknown = sorted(str(p) for p in matches if p.suffix.lower() not in SUFFIXES)
        if unknown:
            raise PopulateError(f"{unknown[0]}: unknown halo file suffix (supported: "
                                f"{', '.join(SUFFIXES)}); narrow the pattern {text!r}")
        found.update(p.resolve() for p in matches)
    return sorted(found)


def _input_names(paths: list[Path]) -> list[str]:
    """Names relative to the files' common directory (``a/b.parquet``)."""
    root = Path(os.path.commonpath([p.parent for p in paths]))
    return [p.relative_to(root).as_posix() for p in paths]


def scan_inputs(paths: list[Path], chunk_rows: int) -> list[HaloFile]:
    """Read every file's row count, columns and metadata (not its data).

    Raises:
        CatalogError: a file is empty or unreadable (naming it).
        PopulateError: the files' columns or types differ (naming the first that does).
    """
    files = []
    for path, name in zip(paths, _input_names(paths), strict=True):
        fmt = SUFFIXES[path.suffix.lower()]
        if path.stat().st_size == 0:
            raise CatalogError(f"{path}: file is empty (0 bytes)")
        try:
            rows, schema, meta, layout = _SCANNERS[fmt](path, chunk_rows)
        except CatalogError as err:
            raise CatalogError(f"{path}: {err}") from None
        except _READ_ERRORS as err:
            raise CatalogError(f"{path}: not a readable {fmt} file "
                               f"({type(err).__name__}: {err})") from None
        files.append(HaloFile(path, name, fmt, rows, schema, meta, layout))
    first = files[0]
    for other in files[1:]:
        if other.schema != first.schema:
            raise PopulateError(f"the halo files have different columns: {other.path} "
                                f"{_schema_difference(first.schema, other.schema)} "
                                f"{first.path}")
    return files


def _schema_difference(first: dict[str, pa.DataType], other: dict[str, pa.DataType]) -> str:
    parts = []
    missing = [name for name in first if name not in other]
    extra = [name for name in other if name not in first]
    if missing:
        parts.append(f"lacks {missing}")
    if extra:
        parts.append(f"has extra {extra}")
    retyped = [f"{name} is {other[name]}, not {first[name]}" for name in first
               if name in other and other[name] != first[name]]
    if retyped:
        parts.append("types differ (" + "; ".join(retyped) + ")")
    return ", ".join(parts) + " compared with"


# --------------------------------------------------------------------------- reading


def _exact(pieces: Iterator[pa.RecordBatch | pa.Table], size: int) -> Iterator[pa.Table]:
    """Regroup record batches into tables of exactly ``size`` rows (the last shorter)."""
    held: list[pa.Table] = []
    count = 0
    for piece in pieces:
        table = pa.Table.from_batches([piece]) if isinstance(piece, pa.RecordBatch) else piece
        held.append(table)
        count += len(table)
        while count >= size:
            joined = pa.concat_tables(held)
            yield joined.slice(0, size)
            rest = joined.slice(size)
            held, count = ([rest] if len(rest) else []), len(rest)
    if count:
        yield pa.concat_tables(held)


def _parquet_pieces(task: dict, columns: list[str], size: int) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(task["path"])
    start, stop = task["start"], task["stop"]
    groups, first_row, row = [], None, 0
    for index in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(index).num_rows
        if row < stop and row + rows > start:
            groups.append(index)
            first_row = row if first_row is None else first_row
        row += rows
    row = first_row or 0
    for batch in parquet.iter_batches(batch_size=size, row_groups=groups, columns=columns,
                                      use_threads=False):
        low, high = max(start - row, 0), min(stop - row, len(batch))
        if high > low:
            yield batch.slice(low, high - low)
        row += len(batch)
        if row >= stop:
            break


def _csv_pieces(task: dict, columns: list[str], size: int) -> Iterator[pa.RecordBatch]:
    layout, types = task["csv"], task["types"]
    low, high = task["bytes"]
    with pa.memory_map(task["path"]) as source:
        reader = pacsv.open_csv(
            pa.BufferReader(source.read_at(high - low, low)),
            read_options=pacsv.ReadOptions(column_names=layout["names"], block_size=1 << 22),
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=columns))
        yield from reader


def _hdf5_batches(task: dict, columns: list[str], size: int) -> Iterator[pd.DataFrame]:
    with h5py.File(task["path"], "r") as h5:
        group = h5.get(HDF5_GROUP)
        group = group if isinstance(group, h5py.Group) else h5
        for low in range(task["start"], task["stop"], size):
            high = min(low + size, task["stop"])
            data = {}
            for name in columns:
                item = group[name]
                strings = h5py.check_string_dtype(item.dtype) is not None
                data[name] = item.asstr()[low:high] if strings else item[low:high]
            yield pd.DataFrame(data)


def read_batches(task: dict, columns: list[str], size: int) -> Iterator[pd.DataFrame]:
    """The input rows [start, stop) of a part's file, ``columns`` only, as DataFrames
    of exactly ``size`` rows (the last one shorter)."""
    if task["format"] == "hdf5":
        yield from _hdf5_batches(task, columns, size)
        return
    pieces = (_parquet_pieces if task["format"] == "parquet" else _csv_pieces)(
        task, columns, size)
    for table in _exact(pieces, size):
        yield table.select(columns).to_pandas()


# --------------------------------------------------------------------------- worker side

_MODELS: dict[tuple[str, str], ConditionalModel] = {}
_MODELS_LOCK = threading.Lock()
#: model.sample seeds torch's global generator: one draw at a time per process.
_SAMPLE_LOCK = threading.Lock()


def cached_model(directory: str, expected_hash: str) -> ConditionalModel:
    """The model saved in ``directory``, loaded once per process and kept (one model).

    Raises:
        PopulateError: the directory's content does not have ``expected_hash`` (the
            model changed, or a worker sees another model at the same path).
    """
    key = (directory, expected_hash)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = load_model(directory)
            found = model_hash(directory)
            if found != expected_hash:
                raise PopulateError(
                    f"{directory}: the model has hash {found[:12]} here, but the run was "
                    f"planned with {expected_hash[:12]} (changed, or another model at the "
                    "same path on this worker)")
            _MODELS.clear()
            _MODELS[key] = model
    return model


def _remember(directory: str, digest: str, model: ConditionalModel) -> None:
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


def _part_meta(task: dict, run: dict) -> CatalogMeta:
    meta = CatalogMeta.from_dict(task["meta"])
    model, settings = run["model"], run["settings"]
    meta.source = f"galhalo populate ({model['family']} model) of {task['source']}"
    meta.extra = {**meta.extra, "mock": {
        "family": model["family"], "condition": model["condition"],
        "target": model["target"], "samples": settings["samples"], "seed": settings["seed"]},
        "populate": {"part": task["name"], "model_hash": model["hash"], "settings": settings,
                     "source": task["source"], "start": task["start"], "stop": task["stop"]}}
    return meta


def _write_row_group(writer: pq.ParquetWriter, held: list[pa.Table]) -> None:
    """Write the held batches as one row group and empty ``held``."""
    table = pa.concat_tables(held)
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
    name, settings = task["name"], run["settings"]
    where = f"part {name} ({task['source']} rows {task['start']}-{task['stop']})"
    try:
        model = cached_model(run["model"]["directory"], run["model"]["hash"])
        target = Path(run["out"]) / name
        input_meta = CatalogMeta.from_dict(task["meta"])
        samples = settings["samples"]
        rows = 0
        with atomic_path(target) as tmp:
            writer, schema, held = None, None, []
            try:
                batches = read_batches(task, run["read_columns"], settings["batch_rows"])
                for index, frame in enumerate(batches):
                    table = _sample_batch(model, frame, input_meta, samples,
                                          batch_seed(settings["seed"], name, index),
                                          run["out_columns"], where)
                    if writer is None:
                        arrow = pa.Table.from_pandas(table, preserve_index=False)
                        header = _header(Catalog(table, _part_meta(task, run))).encode()
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
            expected = (task["stop"] - task["start"]) * samples
            if rows != expected:
                raise PopulateError(f"read {rows // samples:,} halos, expected "
                                    f"{expected // samples:,} (the file changed since the run "
                                    "was planned?)")
        record = PartRecord(source=task["source"], start=task["start"], stop=task["stop"],
                            rows=rows, bytes=target.stat().st_size,
                            sha256=file_sha256(target), seed=task["seed"])
    except (CatalogError, ModelError, PopulateError) as err:
        message = str(err)
        raise PopulateError(message if message.startswith(where) else f"{where}: {message}"
                            ) from None
    except _IO_ERRORS as err:
        raise PopulateError(f"{where}: cannot read or write ({type(err).__name__}: {err})"
                            ) from None
    return {"name": name, "record": asdict(record), "halos": task["stop"] - task["start"],
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


# --------------------------------------------------------------------------- planning


@dataclass
class PopulatePlan:
    """Everything a run needs, checked, before anything is written.

    Attributes:
        out: the output directory (resolved).
        model: the loaded model; ``model_info``: its directory, family, hash, columns.
        settings: seed, samples, keep, chunk_rows, batch_rows (recorded in the manifest).
        files: the scanned inputs; ``tasks``: one dict per part, in name order.
        manifest: the output directory's manifest when it exists (checked compatible).
    """

    out: Path
    model: ConditionalModel
    model_info: dict[str, Any]
    settings: dict[str, Any]
    files: list[HaloFile]
    tasks: list[dict[str, Any]]
    read_columns: list[str]
    out_columns: list[str]
    manifest: Manifest | None

    @property
    def halos(self) -> int:
        """Input rows over all files."""
        return sum(f.rows for f in self.files)

    @property
    def inputs(self) -> dict[str, int]:
        return {f.name: f.rows for f in self.files}

    def run_spec(self) -> dict[str, Any]:
        """What every task needs besides its part (plain data, sent to the workers)."""
        return {"out": str(self.out), "model": self.model_info, "settings": self.settings,
                "read_columns": self.read_columns, "out_columns": self.out_columns}


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise PopulateError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _keep_list(keep: str | Sequence[str] | None, schema: dict[str, pa.DataType],
               target: tuple[str, ...], where: Path) -> list[str]:
    if keep is None:
        return [name for name in schema if name not in target]
    names = [part.strip() for part in keep.split(",")] if isinstance(keep, str) else list(keep)
    names = [name for name in names if name]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PopulateError(f"keep names {repeated} more than once")
    sampled = [name for name in names if name in target]
    if sampled:
        raise PopulateError(f"keep names {sampled}, which the model samples (its targets: "
                            f"{', '.join(target)}); leave them out")
    if REALIZATION in names:
        raise PopulateError(f"keep names {REALIZATION!r}, which populate adds itself")
    missing = [name for name in names if name not in schema]
    if missing:
        raise PopulateError(f"keep names columns {missing} that the halo files lack "
                            f"({where} has: {', '.join(schema)})")
    return names


def _tasks(files: list[HaloFile], settings: dict[str, Any]) -> list[dict[str, Any]]:
    chunk_rows = settings["chunk_rows"]
    tasks, owners = [], {}
    for halo_file in files:
        stem = halo_file.name.rsplit(".", 1)[0].replace("/", "__")
        if stem in owners:
            raise PopulateError(f"two inputs would write parts of the same name {stem}-*: "
                                f"{owners[stem]} and {halo_file.path}; rename one")
        owners[stem] = halo_file.path
        for index in range(math.ceil(halo_file.rows / chunk_rows)):
            name = f"{stem}-{index:05d}.parquet"
            task = {"name": name, "path": str(halo_file.path), "format": halo_file.format,
                    "source": halo_file.name, "start": index * chunk_rows,
                    "stop": min(halo_file.rows, (index + 1) * chunk_rows),
                    "seed": batch_seed(settings["seed"], name), "meta": halo_file.meta}
            if halo_file.csv is not None:
                offsets = halo_file.csv["offsets"]
                task.update(csv={"names": halo_file.csv["names"]}, types=halo_file.schema,
                            bytes=(offsets[index], offsets[index + 1]))
            tasks.append(task)
    return sorted(tasks, key=lambda task: task["name"])


def _check_out(out: Path, files: list[HaloFile]) -> Manifest | None:
    target = check_writable(out, directory=True)
    inside = [f.path for f in files if f.path.is_relative_to(target)]
    if inside:
        raise PopulateError(f"input {inside[0]} lies inside the output directory {target}")
    if not target.exists():
        return None
    manifest = Manifest.read(target)
    if manifest is None:
        visible = sorted(p.name for p in target.iterdir() if not p.name.startswith("."))
        if visible:
            raise PopulateError(f"{target} is not empty ({', '.join(visible[:3])}"
                                f"{', ...' if len(visible) > 3 else ''}) and holds no "
                                f"{MANIFEST_FILE}: not a populate output; choose a new or "
                                "empty directory")
    return manifest


def plan_populate(
    model: str | os.PathLike[str],
    halos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    samples: int = 1,
    keep: str | Sequence[str] | None = None,
    seed: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    batch_rows: int | None = None,
) -> PopulatePlan:
    """Check everything and cut the work into parts; writes nothing.

    Args:
        model: a model directory (``galhalo train``), any family.
        halos: a glob such as ``"halos/*.parquet"``, a file, a directory or a list.
        out: the output directory (new, empty, or a previous run's with the same model
            and settings).
        samples: realisations per halo (K; a ``realization`` column when K > 1).
        keep: input columns to copy into the mock ("M_h,x,y,z" or a list; ``[]`` for
            none); default every input column except the model's targets.
        seed: run seed (>= 0); each batch's seed derives from it and the part's name.
        chunk_rows: input rows per output part.
        batch_rows: input rows sampled at once (memory bound); default
            ``max(1, 8192 // samples)``.

    Raises:
        PopulateError / CatalogError / ModelError (all ``ValueError``): bad arguments, no
        files, unreadable files, columns differing between files, missing condition or
        kept columns, an output directory holding another model's or settings' parts.
        galhalo.files.OutputPathError: the output directory cannot be written.
    """
    samples, chunk_rows = _positive("samples", samples), _positive("chunk_rows", chunk_rows)
    batch_rows = (max(1, BATCH_ROWS // samples) if batch_rows is None
                  else _positive("batch_rows", batch_rows))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise PopulateError(f"seed must be an integer >= 0, got {seed!r}")
    directory = Path(model).resolve()
    fitted = load_model(directory)
    digest = model_hash(directory)
    files = scan_inputs(find_inputs(halos), chunk_rows)
    schema, first = files[0].schema, files[0].path
    missing = [name for name in fitted.condition if name not in schema]
    if missing:
        raise PopulateError(f"the model's condition columns {missing} are missing from the "
                            f"halo files ({first} has: {', '.join(schema)})")
    not_numeric = [name for name in fitted.condition
                   if not (pa.types.is_integer(schema[name]) or pa.types.is_floating(schema[name]))]
    if not_numeric:
        raise PopulateError(f"condition columns {not_numeric} are not numeric in {first} "
                            f"({', '.join(f'{n}: {schema[n]}' for n in not_numeric)})")
    kept = _keep_list(keep, schema, fitted.target, first)
    if not any(f.rows for f in files):
        raise PopulateError(f"the {len(files)} halo file(s) hold no rows")
    settings = {"seed": int(seed), "samples": samples, "keep": kept, "chunk_rows": chunk_rows,
                "batch_rows": batch_rows}
    model_info = {"directory": str(directory), "family": fitted.family, "hash": digest,
                  "condition": list(fitted.condition), "target": list(fitted.target)}
    out_path = Path(out).resolve()
    manifest = _check_out(out_path, files)
    if manifest is not None:
        manifest.check_compatible(out_path, model_info, settings)
        manifest.check_inputs(out_path, {f.name: f.rows for f in files})
    read_columns = kept + [name for name in fitted.condition if name not in kept]
    out_columns = kept + list(fitted.target) + ([REALIZATION] if samples > 1 else [])
    return PopulatePlan(out_path, fitted, model_info, settings, files,
                        _tasks(files, settings), read_columns, out_columns, manifest)


# --------------------------------------------------------------------------- running


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
        halos: input halos; ``rows``: output rows (halos x samples).
        halos_this_run: halos sampled by this run.
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

    @property
    def halos_per_second(self) -> float:
        return self.halos_this_run / self.seconds if self.seconds > 0 else 0.0


class _DirectoryLock:
    """An exclusive ``flock`` on ``out/.populate.lock``, released when the process ends."""

    def __init__(self, out: Path):
        self.path = out / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> _DirectoryLock:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise PopulateError(f"another populate run is writing {self.path.parent}; wait "
                                "for it to finish") from None
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


def _resume(plan: PopulatePlan, manifest: Manifest, checksums: bool
            ) -> tuple[list[dict], int, int, dict[str, str]]:
    """Parts still to sample; counts of verified and adopted parts; redone parts."""
    planned_stems = {task["name"].removesuffix(".parquet") for task in plan.tasks}
    for stray in plan.out.iterdir():  # temporaries of a killed run (we hold the lock)
        match = _TEMPORARY.match(stray.name)
        if match and match["stem"] in planned_stems | {"_manifest"}:
            stray.unlink(missing_ok=True)
    todo, skipped, adopted, redone = [], 0, 0, {}
    for task in plan.tasks:
        name, path = task["name"], plan.out / task["name"]
        record = manifest.parts.get(name)
        if record is not None:
            problem = verify_part(path, record, checksums)
            if problem is None and (record.source, record.start, record.stop) == (
                    task["source"], task["start"], task["stop"]):
                skipped += 1
                continue
            redone[name] = problem or "its input rows changed"
            del manifest.parts[name]
        elif path.exists():
            found = part_description(path)
            expected = (task["stop"] - task["start"]) * plan.settings["samples"]
            wanted = {"part": name, "model_hash": plan.model_info["hash"],
                      "settings": plan.settings, "source": task["source"],
                      "start": task["start"], "stop": task["stop"]}
            if found is not None and found == (expected, wanted):
                manifest.parts[name] = PartRecord(
                    source=task["source"], start=task["start"], stop=task["stop"],
                    rows=expected, bytes=path.stat().st_size, sha256=file_sha256(path),
                    seed=task["seed"])
                adopted += 1
                continue
            redone[name] = "a complete part was not recorded" if found else \
                "the file is incomplete or foreign"
        todo.append(task)
    return todo, skipped, adopted, redone


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


def _failure(task: dict, err: BaseException) -> PopulateError:
    """``err`` of a part as a :class:`PopulateError` naming the part (kept if it is one)."""
    if isinstance(err, PopulateError):
        return err
    return PopulateError(f"part {task['name']} ({task['source']} rows {task['start']}-"
                         f"{task['stop']}) failed: {type(err).__name__}: {err}")


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
    workers = _positive("workers", workers) if workers is not None else usable_cores()
    if torch_threads is not None:
        torch_threads = _positive("torch_threads", torch_threads)
    plan.out.mkdir(exist_ok=True)
    with _DirectoryLock(plan.out):
        manifest = Manifest.read(plan.out)
        if manifest is None:
            manifest = Manifest(model=plan.model_info, settings=plan.settings)
        manifest.check_compatible(plan.out, plan.model_info, plan.settings)
        manifest.check_inputs(plan.out, plan.inputs)
        manifest.inputs = {**manifest.inputs, **plan.inputs}
        manifest.planned = len(plan.tasks)
        todo, skipped, adopted, redone = _resume(plan, manifest, checksums)
        manifest.complete = not todo
        manifest.write(plan.out)
        workers = min(workers, max(1, len(todo)))
        state = _Run(plan, manifest, todo, progress)
        run = plan.run_spec()
        try:
            if todo and scheduler == "threads":
                _remember(plan.model_info["directory"], plan.model_info["hash"], plan.model)
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
    return PopulateResult(
        out=plan.out, manifest=Manifest.path_in(plan.out), parts_total=len(plan.tasks),
        parts_written=state.written, parts_skipped=skipped, parts_adopted=adopted,
        redone=redone, halos=plan.halos, rows=plan.halos * plan.settings["samples"],
        halos_this_run=state.halos_now, seconds=end - state.start,
        startup_seconds=state.start - state.created, scheduler=_scheduler_label(scheduler),
        workers=workers, part_seconds=state.part_seconds)


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
        model, halos, out, samples, keep, seed, chunk_rows, batch_rows: see
            :func:`plan_populate`.
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
                         chunk_rows=chunk_rows, batch_rows=batch_rows)
    return run_plan(plan, scheduler=scheduler, workers=workers, torch_threads=torch_threads,
                    checksums=checksums, progress=progress)

