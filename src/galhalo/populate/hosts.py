"""Host groups of a sub-halo catalog in a populate run.

An input with sub-halos (an ``is_central`` column) holds, per host, its central row and
its sub-halos' rows; populate draws a host with all its satellites at once, so

* planning (:func:`host_boundaries`) reads ``host_id`` alone, in batches of
  :data:`SCAN_ROWS` rows, checks that the rows of each host are contiguous and moves
  every part boundary to the first host start at or after it: a host never spans two
  parts;
* a worker (:func:`host_batches`) cuts its rows into batches of whole hosts, carrying
  the last, maybe unfinished, host over to the next batch.

Memory stays bounded: the contiguity check compares the hosts of a scan batch with
those of the batch before; a host split farther apart leaves satellites without their
central in some batch, which the worker's catalog validation reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from ..catalog import READ_ERRORS, iter_batches
from ..catalog.schema import HOST_ID
from ..errors import PopulateError
from .inputs import HaloFile

__all__ = ["SCAN_ROWS", "csv_window", "host_batches", "host_boundaries", "host_starts"]

#: Rows of ``host_id`` read at once while planning (8 MiB of int64).
SCAN_ROWS = 1 << 20


def host_starts(host: np.ndarray, previous: int | None = None) -> np.ndarray:
    """Positions (int64, ascending) where a host's rows begin: the ``host_id`` differs
    from the row before (``previous``: the ``host_id`` of the row before the first)."""
    host = np.asarray(host)
    if not len(host):
        return np.zeros(0, dtype=np.int64)
    change = np.empty(len(host), dtype=bool)
    change[0] = previous is None or host[0] != previous
    change[1:] = host[1:] != host[:-1]
    return np.flatnonzero(change)


def csv_window(halo_file: HaloFile, start: int, stop: int, chunk_rows: int) -> dict:
    """Task entries to read rows [start, stop) of a CSV file whose byte offsets are known
    at multiples of ``chunk_rows`` only: the enclosing byte range and rows to skip."""
    offsets = halo_file.csv["offsets"]
    first, last = start // chunk_rows, math.ceil(stop / chunk_rows)
    return {"csv": {"names": halo_file.csv["names"]}, "types": halo_file.schema,
            "bytes": (offsets[first], offsets[last]), "skip": start - first * chunk_rows}


def _host_ids(halo_file: HaloFile) -> Iterator[np.ndarray]:
    csv = halo_file.csv or {}
    offsets = csv.get("offsets")
    for frame in iter_batches(halo_file.path, halo_file.format, 0, halo_file.rows,
                              [HOST_ID.name], SCAN_ROWS, csv_names=csv.get("names"),
                              csv_bytes=None if offsets is None else (offsets[0], offsets[-1]),
                              types=halo_file.schema):
        yield frame[HOST_ID.name].to_numpy()


def host_boundaries(halo_file: HaloFile, chunk_rows: int) -> list[int]:
    """Part boundaries ``[0, b_1, ..., rows]`` of a sub-halo file: ``b_k`` is the first
    row at or after ``k * chunk_rows`` where a host begins (``rows`` if none does).
    Consecutive equal boundaries mean an empty chunk (a host longer than a chunk).

    Raises:
        PopulateError: naming the file, a ``host_id`` and the row where it reappears
            after other hosts (rows of one host must be contiguous), or a read error.
    """
    targets = [k * chunk_rows for k in range(1, math.ceil(halo_file.rows / chunk_rows))]
    found: list[int] = []
    offset, previous, recent = 0, None, np.zeros(0, dtype=np.int64)
    try:
        for host in _host_ids(halo_file):
            starts = host_starts(host, previous)
            ids = host[starts].astype(np.int64)
            seen = np.concatenate([recent, ids])
            repeated = pd.Series(seen).duplicated().to_numpy()[len(recent):]
            if repeated.any():
                index = int(np.flatnonzero(repeated)[0])
                raise PopulateError(
                    f"{halo_file.path}: the rows of host_id {int(ids[index])} are not "
                    f"contiguous (it comes back at row {offset + int(starts[index]):,} after "
                    "other hosts); populate draws a host with all its satellites in one part: "
                    "sort the rows by host (e.g. by host_id, keeping each host's rows "
                    "together)")
            rows = offset + starts
            while len(found) < len(targets) and len(rows) and rows[-1] >= targets[len(found)]:
                target = targets[len(found)]
                found.append(int(rows[np.searchsorted(rows, target)]))
            recent, previous, offset = ids, host[-1] if len(host) else previous, offset + len(host)
    except READ_ERRORS as err:
        raise PopulateError(f"{halo_file.path}: cannot read host_id ({type(err).__name__}: "
                            f"{err})") from None
    found += [halo_file.rows] * (len(targets) - len(found))
    return [0, *found, halo_file.rows]


def host_batches(frames: Iterator[pd.DataFrame], hosts: int) -> Iterator[pd.DataFrame]:
    """Regroup consecutive row batches into batches of ``hosts`` whole hosts (the last
    batch fewer); a host's rows never straddle two batches. The cut depends on the rows
    alone, not on how ``frames`` were sized."""
    held: pd.DataFrame | None = None
    for frame in frames:
        held = frame if held is None else pd.concat([held, frame], ignore_index=True)
        starts = host_starts(held[HOST_ID.name].to_numpy())
        while len(starts) > hosts:  # the first ``hosts`` hosts are complete
            cut = int(starts[hosts])
            yield held.iloc[:cut].reset_index(drop=True)
            held = held.iloc[cut:].reset_index(drop=True)
            starts = starts[hosts:] - cut
    if held is not None and len(held):
        yield held
