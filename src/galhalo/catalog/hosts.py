"""The host structure of a catalog with satellites: centrals, satellites and their hosts.

A catalog with satellites carries ``host_id`` and ``is_central`` (:data:`.schema.HOST`).
Its rows must form hosts: every host has exactly one central row, whose ``halo_id`` is
the ``host_id``; every satellite's host has that central row; no satellite lies
implausibly far from its host. :func:`host_problems` lists what breaks these rules
(one message per rule, naming how many rows and the first of them); a centrals-only
catalog (neither column) has no host structure to check.

Row numbers are 0-based positions. Mocks with a ``realization`` column are checked
realization by realization (the same host id recurs once per realization).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import CatalogError
from .messages import count_rows, first_row, quoted, show_value
from .schema import CENTRAL, HALO_ID, HOST, HOST_ID, IS_CENTRAL, POSITION
from .virial import virial_radius

__all__ = ["MAX_HOST_DISTANCE", "central_rows", "central_values", "host_columns_problem",
           "host_problems", "orbit_in_host", "with_central_columns"]

#: Farthest a satellite may lie from its central, in host virial radii (z = 0, as a
#: plausibility scale). Friends-of-friends groups reach 2-3 virial radii; ten is far
#: beyond anything bound, so what it catches is a wrong unit or a wrong host.
MAX_HOST_DISTANCE = 10.0

def host_columns_problem(table: pd.DataFrame) -> str | None:
    """Why the host columns are incomplete (one of ``host_id``/``is_central`` without the
    other, or no ``halo_id``), or None. Checked first: everything else depends on them."""
    present = [name for name in HOST if name in table.columns]
    if not present:
        return None
    if len(present) == 1:
        missing = next(name for name in HOST if name not in table.columns)
        return (f"column {present[0]!r} without {missing!r}: a catalog with satellites "
                f"needs both {quoted(HOST)}")
    if HALO_ID.name not in table.columns:
        return f"a catalog with satellites needs {HALO_ID.name!r} beside {quoted(HOST)}"
    return None


def host_problems(table: pd.DataFrame, box_size: float | None = None,
                  realization: str = "realization") -> list[str]:
    """Why the rows of ``table`` do not form hosts; empty when they do.

    Args:
        table: a catalog table whose known columns already passed the column checks.
        box_size: periodic box side (Mpc/h); with positions and ``M_h`` the satellites'
            distances to their centrals are checked (periodic) when it is given.
        realization: name of the column numbering the realizations of a mock.
    """
    if not any(name in table.columns for name in HOST):
        return []
    problem = host_columns_problem(table)
    if problem is not None:
        return [problem]
    central = table[IS_CENTRAL.name].to_numpy().astype(bool)
    halo = table[HALO_ID.name].to_numpy(np.int64)
    host = table[HOST_ID.name].to_numpy(np.int64)
    copy = (table[realization].to_numpy(np.int64) if realization in table.columns
            else np.zeros(len(table), dtype=np.int64))
    problems = _central_problems(table, central, halo, host, copy)
    if problems:
        return problems
    central_row = _central_row_of(central, host, copy)
    orphan = ~central & (central_row < 0)
    if orphan.any():
        row = first_row(orphan)
        problems.append(
            f"{count_rows(orphan)} are satellites whose host has no central row (first at "
            f"row {row}: host_id {show_value(host[row])}); keep each host's central, or "
            f"drop its satellites")
    problems += _distance_problems(table, central, central_row, box_size)
    return problems


def _central_problems(table: pd.DataFrame, central: np.ndarray, halo: np.ndarray,
                      host: np.ndarray, copy: np.ndarray) -> list[str]:
    """Centrals whose host_id is not their halo_id; hosts with more than one central."""
    problems = []
    wrong = central & (halo != host)
    if wrong.any():
        row = first_row(wrong)
        problems.append(
            f"{count_rows(wrong)} are centrals whose host_id differs from their halo_id "
            f"(first at row {row}: halo_id {show_value(halo[row])}, host_id "
            f"{show_value(host[row])}); a central's host is its own halo")
    keys = pd.DataFrame({"copy": copy[central], "host": host[central]})
    repeated = keys.duplicated(keep=False).to_numpy()
    if repeated.any():
        rows = np.flatnonzero(central)[repeated]
        first_host = host[rows[0]]
        same = rows[(host[rows] == first_host) & (copy[rows] == copy[rows[0]])]
        hosts = int(keys[repeated].drop_duplicates().shape[0])
        problems.append(
            f"{hosts} hosts have more than one central row (first: host_id "
            f"{show_value(first_host)} at rows {', '.join(map(str, same[:5]))})")
    return problems


def central_rows(table: pd.DataFrame, realization: str = "realization") -> np.ndarray:
    """For every row of a catalog with satellites, the position of its host's central row.

    Returns an int64 array of shape (rows,); a central points at itself. Raises
    :class:`~galhalo.errors.CatalogError` when a host has no central row (validate the
    table first to learn which).
    """
    missing = [name for name in (HALO_ID.name, *HOST) if name not in table.columns]
    if missing:
        raise CatalogError(f"central rows need the columns {quoted(missing)}")
    copy = (table[realization].to_numpy(np.int64) if realization in table.columns
            else np.zeros(len(table), dtype=np.int64))
    rows = _central_row_of(table[IS_CENTRAL.name].to_numpy().astype(bool),
                           table[HOST_ID.name].to_numpy(np.int64), copy)
    if (rows < 0).any():
        bad = rows < 0
        raise CatalogError(f"{count_rows(bad)} have no central row for their host (first at "
                           f"row {first_row(bad)})")
    return rows


def central_values(table: pd.DataFrame, name: str) -> np.ndarray:
    """The value of column ``name`` of every row's central, shape (rows,).

    For conditioning a satellite on its central (galactic conformity): e.g.
    ``central_values(table, "sSFR")`` gives each satellite its central's sSFR (and each
    central its own).
    """
    if name not in table.columns:
        raise CatalogError(f"no column {name!r} to take from the centrals")
    return table[name].to_numpy()[central_rows(table)]


def with_central_columns(table: pd.DataFrame, names: Iterable[str] = CENTRAL
                         ) -> pd.DataFrame:
    """A copy of ``table`` with the central columns ``names`` (:data:`.schema.CENTRAL`):
    for every row, its host's central's galaxy property (``sSFR_central`` = the central's
    ``sSFR``; a central's own), in that column's unit.

    A table with host columns takes them from its central rows (:func:`central_values`,
    realization by realization); a centrals-only table (no ``host_id``/``is_central``)
    is all centrals, so each row's value is its own. Call it on the whole catalog,
    *before* picking satellites: the centrals must still be there. Shape (rows, columns
    + new ones); a central column already present is recomputed.

    Raises:
        CatalogError: a name that is not a central column, the galaxy column it comes
            from missing, or a host without its central row.
    """
    names = tuple(names)
    unknown = [name for name in names if name not in CENTRAL]
    if unknown:
        raise CatalogError(f"{quoted(unknown)} are not central columns (those are "
                           f"{quoted(CENTRAL)})")
    sources = [name.removesuffix("_central") for name in names]
    missing = sorted({source for source in sources if source not in table.columns})
    if missing:
        raise CatalogError(
            f"cannot derive {quoted(names)}: the table has no galaxy column "
            f"{quoted(missing)} to take the centrals' values from (the catalog has: "
            f"{', '.join(map(str, table.columns))})")
    rows = (central_rows(table) if any(name in table.columns for name in HOST)
            else np.arange(len(table)))
    result = table.copy()
    for name, source in zip(names, sources, strict=True):
        result[name] = table[source].to_numpy(np.float64, na_value=np.nan)[rows]
    return result


def _central_row_of(central: np.ndarray, host: np.ndarray, copy: np.ndarray) -> np.ndarray:
    """For every row, the position of its host's central row (-1 where there is none)."""
    central_rows = np.flatnonzero(central)
    if central_rows.size == 0:  # satellites alone: none has its central row
        return np.full(len(central), -1, dtype=np.int64)
    index = pd.MultiIndex.from_arrays([copy[central_rows], host[central_rows]])
    where = index.get_indexer(pd.MultiIndex.from_arrays([copy, host]))
    return np.where(where >= 0, central_rows[np.maximum(where, 0)], -1)


def _distance_problems(table: pd.DataFrame, central: np.ndarray, central_row: np.ndarray,
                       box_size: float | None) -> list[str]:
    """Satellites farther than MAX_HOST_DISTANCE host radii from their central."""
    problems = []
    satellite = ~central
    if "r_host" in table.columns:
        r_host = table["r_host"].to_numpy(np.float64, na_value=np.nan)
        far = satellite & (r_host > MAX_HOST_DISTANCE)
        if far.any():
            row = first_row(far)
            problems.append(
                f"column 'r_host' (R_vir): {count_rows(far)} are satellites more than "
                f"{MAX_HOST_DISTANCE:g} virial radii from their host (first at row {row}: "
                f"{show_value(r_host[row])}); expected r / R_vir, not Mpc/h or kpc/h")
    if box_size is None or "M_h" not in table.columns or not set(POSITION) <= set(table):
        return problems
    rows = np.flatnonzero(satellite & (central_row >= 0))
    if rows.size == 0:
        return problems
    positions = table[list(POSITION)].to_numpy(np.float64)
    offset = positions[rows] - positions[central_row[rows]]
    offset -= box_size * np.round(offset / box_size)
    distance = np.sqrt((offset**2).sum(axis=1))
    radius = virial_radius(table["M_h"].to_numpy(np.float64)[rows])
    far_rows = rows[distance > MAX_HOST_DISTANCE * radius]
    if far_rows.size:
        row = int(far_rows[0])
        ratio = distance[np.searchsorted(rows, row)] / radius[np.searchsorted(rows, row)]
        mask = np.zeros(len(table), dtype=bool)
        mask[far_rows] = True
        problems.append(
            f"positions: {count_rows(mask)} are satellites more than "
            f"{MAX_HOST_DISTANCE:g} host radii from their central (first at row {row}: "
            f"{ratio:.3g} radii, host_id {show_value(table[HOST_ID.name].iloc[row])}); "
            f"a wrong host_id, or positions in the wrong unit?")
    return problems


def orbit_in_host(position: np.ndarray, velocity: np.ndarray, host_position: np.ndarray,
                  host_velocity: np.ndarray, host_radius: np.ndarray, box: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``r_host``, ``v_r`` and ``v_t`` of galaxies around their hosts' centres.

    One convention for every source (simulate, Subfind, Rockstar): the minimum-image
    (periodic) comoving separation Δx, and the *peculiar* velocity difference Δv =
    velocity − host_velocity (no Hubble flow: add ``H(z) a |Δx|`` to ``v_r`` for the
    physical radial velocity; about 20 km/s at 0.2 Mpc/h at z = 0).

    Args:
        position, host_position: shape (n, 3), comoving Mpc/h in [0, box).
        velocity, host_velocity: shape (n, 3), peculiar km/s.
        host_radius: shape (n,), the host's radius, comoving Mpc/h (> 0).
        box: periodic box side, Mpc/h.

    Returns:
        (|Δx| / host_radius, v_r km/s (> 0 outwards), v_t km/s (>= 0)), each shape (n,);
        at zero separation the whole of Δv counts as tangential (v_r = 0).
    """
    offset = np.asarray(position, np.float64) - np.asarray(host_position, np.float64)
    offset -= box * np.round(offset / box)
    distance = np.sqrt((offset**2).sum(axis=1))
    relative = np.asarray(velocity, np.float64) - np.asarray(host_velocity, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(distance[:, None] > 0, offset / distance[:, None], 0.0)
    radial = (relative * unit).sum(axis=1)
    tangential = np.linalg.norm(relative - radial[:, None] * unit, axis=1)
    return distance / np.asarray(host_radius, np.float64), radial, tangential
