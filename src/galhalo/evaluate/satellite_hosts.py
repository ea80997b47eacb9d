"""The hosts of a catalog with satellites, for the satellite statistics: every host's
central row, satellite count and mass, and the bins they are grouped in.

Units: masses log10(Msun/h).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..catalog.hosts import central_rows
from ..catalog.schema import HOST, IS_CENTRAL
from ..errors import CatalogError, ClusteringError

__all__ = ["DEFAULT_MASS_WIDTH", "Hosts", "bin_edges", "checked_edges", "hosts_of",
           "mass_bins", "require_columns"]

#: Default host-mass bin width, dex.
DEFAULT_MASS_WIDTH = 0.25


def bin_edges(values: np.ndarray, width: float) -> np.ndarray:
    """Edges on multiples of ``width`` covering every finite value, shape (bins + 1,)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not (math.isfinite(width) and width > 0):
        raise ClusteringError(f"bin width must be finite and > 0, got {width}")
    if finite.size == 0:
        raise ClusteringError("no finite values to bin")
    low = math.floor(finite.min() / width + 1e-9) * width
    high = max(math.ceil(finite.max() / width - 1e-9) * width, low + width)
    if high <= finite.max():
        high += width
    return np.round(np.arange(low, high + width / 2, width), 10)


def checked_edges(values: np.ndarray, edges: Any, width: float, name: str) -> np.ndarray:
    """``edges`` as float64 (bins + 1,), checked (finite, increasing; ``name`` in the
    error), or :func:`bin_edges` of ``values`` with ``width`` when ``edges`` is None."""
    if edges is None:
        return bin_edges(values, width)
    array = np.asarray(edges, dtype=float)
    if array.ndim != 1 or len(array) < 2 or not np.isfinite(array).all() or np.any(
            np.diff(array) <= 0):
        raise ClusteringError(f"{name} must be finite and strictly increasing, at least 2, "
                              f"got {array.tolist()}")
    return array


def require_columns(table: pd.DataFrame, names: tuple[str, ...], purpose: str) -> None:
    """One-line :class:`ClusteringError` naming every missing column and ``purpose``."""
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise ClusteringError(f"{purpose} needs the column(s) {', '.join(map(repr, missing))}"
                              f" (the catalog has: {', '.join(map(str, table.columns))})")


@dataclass(frozen=True)
class Hosts:
    """Every host of a table: its central row, satellite count and mass."""

    central_row: np.ndarray  # (hosts,) positions of the central rows
    n_sat: np.ndarray  # (hosts,) satellites per host
    mass: np.ndarray  # (hosts,) log10 M_h
    row_host: np.ndarray  # (rows,) host number of every row


def hosts_of(table: pd.DataFrame) -> Hosts:
    """The hosts of a table with satellites (one per central row; per realisation in a
    mock), their satellite counts and masses; ClusteringError if a host lacks its
    central row or a column is missing."""
    require_columns(table, (*HOST, "M_h"), "satellite statistics")
    try:
        rows = central_rows(table)
    except CatalogError as err:
        raise ClusteringError(f"satellite statistics: {err}") from None
    central = table[IS_CENTRAL.name].to_numpy().astype(bool)
    centrals = np.flatnonzero(central)
    number = np.full(len(table), -1, dtype=np.int64)
    number[centrals] = np.arange(len(centrals))
    row_host = number[rows]
    n_sat = np.bincount(row_host[~central], minlength=len(centrals))
    mass = table["M_h"].to_numpy(np.float64)[centrals]
    return Hosts(centrals, n_sat, mass, row_host)


def mass_bins(hosts: Hosts, mass_edges: Any, width: float) -> tuple[np.ndarray, np.ndarray]:
    """(host-mass edges (bins + 1,), bin index of every host (hosts,); -1 or bins
    outside)."""
    edges = checked_edges(hosts.mass, mass_edges, width, "host-mass edges")
    return edges, np.searchsorted(edges, hosts.mass, side="right") - 1
