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
(:mod:`galhalo.populate.manifest`) records the finished parts, their row counts, sizes and
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

Centrals and satellites: with a composite model (:mod:`galhalo.models.composite`)
each part paints whole hosts, a central and its satellites: on hosts alone (one row
per host; ``halo_only=True`` takes the central rows of an input with sub-halos), or on
centrals and their sub-halos, whose parts then start at host starts and whose batches
never split a host. Painted satellites of part ``i`` get ids from
``PAINTED_ID_BASE + i * 2**32``.

One job per module: :mod:`.inputs` (find and scan the input files), :mod:`.seeds`,
:mod:`.plan` (checks and the cut into parts), :mod:`.hosts` (host groups of sub-halo
input), :mod:`.painting` (a composite's columns and batches), :mod:`.worker` (sample
one part), :mod:`.resume` (lock, what is left to do), :mod:`.runners` (threads, Dask)
and :mod:`.manifest` (what is finished, and with what).
"""

from __future__ import annotations

from ..errors import PopulateError
from .inputs import SUFFIXES, HaloFile, find_inputs, scan_inputs
from .manifest import MANIFEST_FILE, Manifest, PartRecord, model_hash
from .plan import (
    BATCH_ROWS,
    COMPOSITE_BATCH_ROWS,
    DEFAULT_CHUNK_ROWS,
    PopulatePlan,
    plan_populate,
)
from .resume import LOCK_FILE
from .runners import PopulateProgress, PopulateResult, populate, run_plan, usable_cores
from .seeds import batch_seed
from .worker import ROW_GROUP_ROWS, ModelPlugin, cached_model, populate_part, read_batches

__all__ = [
    "BATCH_ROWS",
    "COMPOSITE_BATCH_ROWS",
    "DEFAULT_CHUNK_ROWS",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "ROW_GROUP_ROWS",
    "SUFFIXES",
    "HaloFile",
    "Manifest",
    "ModelPlugin",
    "PartRecord",
    "PopulateError",
    "PopulatePlan",
    "PopulateProgress",
    "PopulateResult",
    "batch_seed",
    "cached_model",
    "find_inputs",
    "model_hash",
    "plan_populate",
    "populate",
    "populate_part",
    "read_batches",
    "run_plan",
    "scan_inputs",
    "usable_cores",
]
