"""The array work of painting galaxies onto hosts: seeds, satellite placement, host order.

:class:`~galhalo.models.composite.CompositeModel` draws counts, orbits and galaxy
properties from its components; this module holds what is geometry and bookkeeping:

* :func:`painting_seeds`: one :class:`numpy.random.SeedSequence` spawned into one integer
  seed per step (a component's ``sample`` call, the placement), so the same master seed
  paints the same frame;
* :func:`place_satellites`: positions and velocities from ``(r_host, v_r, v_t)``, the
  exact inverse of :func:`galhalo.catalog.hosts.orbit_in_host`;
* :func:`host_order`: the output order, each host's central row followed by its
  satellites;
* :func:`rank_within_hosts`: the rank of each sub-halo in its host by a column
  (largest first), for the sub-halo (SHAM-like) path.

Units: positions comoving Mpc/h, velocities peculiar km/s, ``r_host`` in host virial
radii.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..catalog.schema import ALL_COLUMNS, CENTRAL, HALO_ID, HOST_ID, IS_CENTRAL, N_SAT
from ..errors import ModelError

__all__ = ["CENTRAL", "ORBIT", "PAINTED_ID_BASE", "PAINTING_STEPS", "assemble_hosts",
           "check_orbits", "host_order", "number_painted", "painting_seeds",
           "place_satellites", "quoted", "rank_within_hosts", "require_columns"]

#: ``halo_id`` of the first painted satellite (one with no sub-halo of its own): far above
#: any simulation's ids, so painted ids never meet a host's. ``galhalo populate`` paints
#: part ``i`` from ``PAINTED_ID_BASE + i * 2**32``.
PAINTED_ID_BASE = 2**62

#: A satellite's orbit in its host: what a profile draws.
ORBIT = ("r_host", "v_r", "v_t")

#: The random steps of a painting, in the order their seeds are spawned.
PAINTING_STEPS = ("central_occupation", "central", "occupation", "profile", "satellite",
                  "placement")


def painting_seeds(seed: int) -> dict[str, int]:
    """One integer seed per step of :data:`PAINTING_STEPS`, spawned from ``seed``.

    The children of ``SeedSequence(seed)`` are independent streams; each is reduced to
    one 32-bit integer (what a component's ``sample(..., seed)`` takes).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ModelError(f"a painting seed must be an integer >= 0, got {seed!r}")
    children = np.random.SeedSequence(int(seed)).spawn(len(PAINTING_STEPS))
    return {step: int(child.generate_state(1)[0])
            for step, child in zip(PAINTING_STEPS, children, strict=True)}


def _unit_rows(vectors: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` scaled to length 1 (``fallback`` rows where a row is 0)."""
    norm = np.linalg.norm(vectors, axis=1)
    zero = norm == 0
    safe = np.where(zero, 1.0, norm)
    return np.where(zero[:, None], fallback, vectors / safe[:, None])


def place_satellites(host_position: np.ndarray, host_velocity: np.ndarray,
                     host_radius: np.ndarray, r_host: np.ndarray, v_r: np.ndarray,
                     v_t: np.ndarray, rng: np.random.Generator, box: float | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities of satellites around their hosts.

    A satellite lies at ``host_position + r_host * host_radius * u`` with ``u`` an
    isotropic unit vector, and moves with ``host_velocity + v_r * u + v_t * t``, ``t`` a
    unit vector uniform in the plane perpendicular to ``u``. This is the exact inverse
    of :func:`galhalo.catalog.hosts.orbit_in_host` (for ``r_host * host_radius < box /
    2``, the minimum image).

    Args:
        host_position: (n, 3) comoving Mpc/h.
        host_velocity: (n, 3) peculiar km/s.
        host_radius: (n,) host virial radius, comoving Mpc/h.
        r_host: (n,) distance in host radii (>= 0).
        v_r: (n,) radial velocity km/s (> 0 outwards).
        v_t: (n,) tangential speed km/s (>= 0).
        rng: the placement's generator (6 normal draws per satellite).
        box: periodic box side (Mpc/h): positions wrapped into [0, box); None: no wrap.

    Returns:
        (positions (n, 3), velocities (n, 3)), float64.
    """
    n = len(r_host)
    normals = rng.standard_normal((n, 2, 3))
    pole = np.broadcast_to(np.array([0.0, 0.0, 1.0]), (n, 3))
    unit = _unit_rows(normals[:, 0], pole)
    raw = normals[:, 1] - (normals[:, 1] * unit).sum(axis=1)[:, None] * unit
    # a perpendicular fallback where the second draw is parallel to the first (measure 0)
    other = np.cross(unit, np.where(np.abs(unit[:, 2:3]) < 0.9, pole, [1.0, 0.0, 0.0]))
    tangent = _unit_rows(raw, _unit_rows(other, pole))
    distance = np.asarray(r_host, np.float64) * np.asarray(host_radius, np.float64)
    position = np.asarray(host_position, np.float64) + distance[:, None] * unit
    if box is not None:
        position = np.mod(position, box)
        position[position >= box] = 0.0  # -1e-17 mod box rounds to box itself
    velocity = (np.asarray(host_velocity, np.float64)
                + np.asarray(v_r, np.float64)[:, None] * unit
                + np.asarray(v_t, np.float64)[:, None] * tangent)
    return position, velocity


def check_orbits(orbits: np.ndarray, names: tuple[str, ...], where: str) -> None:
    """Refuse orbit draws (rows, 3) that cannot be placed: non-finite values, a negative
    ``r_host`` or ``v_t`` (ModelError naming the column and how many rows)."""
    for j, name in enumerate(names):
        values = orbits[:, j]
        bad = ~np.isfinite(values)
        if name in ("r_host", "v_t"):
            bad |= values < 0
        if bad.any():
            raise ModelError(
                f"{where}: {int(bad.sum())} of {len(values)} drawn {name!r} values are "
                f"{'negative or ' if name in ('r_host', 'v_t') else ''}not finite; train "
                f"the profile with a support that keeps {name!r} valid")


def host_order(n_hosts: int, satellite_host: np.ndarray,
               within: np.ndarray | None = None) -> np.ndarray:
    """The order of ``n_hosts`` central rows followed by the satellite rows that
    groups every host: its central first, then its satellites (by ``within``, then as
    given). Returns indices into ``concat(centrals, satellites)``, shape
    (n_hosts + len(satellite_host),)."""
    satellite_host = np.asarray(satellite_host, np.int64)
    host = np.concatenate([np.arange(n_hosts, dtype=np.int64), satellite_host])
    kind = np.concatenate([np.zeros(n_hosts, np.int64), np.ones(len(satellite_host), np.int64)])
    rank = np.concatenate([np.zeros(n_hosts, np.float64),
                           np.zeros(len(satellite_host)) if within is None
                           else np.asarray(within, np.float64)])
    sequence = np.arange(len(host))
    return np.lexsort((sequence, rank, kind, host))


def rank_within_hosts(host: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Rank (0 = largest ``value``) of every row among the rows of its ``host``; ties
    by row order. ``host`` int (rows,), ``value`` float (rows,); returns int64 (rows,)."""
    host = np.asarray(host, np.int64)
    order = np.lexsort((np.arange(len(host)), -np.asarray(value, np.float64), host))
    sorted_host = host[order]
    start = np.flatnonzero(np.r_[True, sorted_host[1:] != sorted_host[:-1]])
    group_start = np.repeat(start, np.diff(np.r_[start, len(host)]))
    rank = np.empty(len(host), np.int64)
    rank[order] = np.arange(len(host)) - group_start
    return rank


def quoted(names) -> str:
    return ", ".join(map(str, names))


def require_columns(frame: pd.DataFrame, names, what: str) -> None:
    """Refuse a table without every column of ``names`` (ModelError naming them)."""
    missing = [name for name in dict.fromkeys(names) if name not in frame]
    if missing:
        raise ModelError(f"composite: {what} needs the columns {quoted(missing)}; the "
                         f"table has {quoted(map(str, frame.columns))}")


def assemble_hosts(centrals: pd.DataFrame, satellites: pd.DataFrame, host: np.ndarray,
                   counts: np.ndarray, painted: np.ndarray, within: np.ndarray | None = None
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    """Central rows and satellite rows as one table grouped by host (:func:`host_order`).

    Args:
        centrals: one row per host (its ``halo_id`` becomes the ``host_id``).
        satellites: one row per satellite; ``host`` (satellites,) its central's row.
        counts: satellites per host (hosts,), written as ``N_sat`` on every row.
        painted: (satellites,) bool, satellites painted with no sub-halo of their own.
        within: order of the satellites inside a host (default: as given).

    Returns:
        (table with ``host_id``, ``is_central``, ``N_sat`` and the orbit columns (NaN on
        centrals), central columns dropped, known columns in schema order; the painted
        rows of that table, bool (rows,)).
    """
    centrals = centrals.copy()
    ids = centrals[HALO_ID.name].to_numpy(np.int64)
    centrals[HOST_ID.name] = ids
    centrals[IS_CENTRAL.name] = True
    centrals[N_SAT.name] = counts
    for name in ORBIT:
        centrals[name] = np.nan
    satellites = satellites.copy()
    satellites[HOST_ID.name] = ids[host]
    satellites[IS_CENTRAL.name] = False
    satellites[N_SAT.name] = counts[host]
    table = pd.concat([centrals, satellites], ignore_index=True)
    order = host_order(len(centrals), host, within)
    table = table.iloc[order].reset_index(drop=True)
    table = table.drop(columns=[name for name in CENTRAL if name in table])
    known = [column.name for column in ALL_COLUMNS if column.name in table]
    table = table[known + [name for name in table.columns if name not in known]]
    table[HALO_ID.name] = table[HALO_ID.name].astype(np.int64)
    table[HOST_ID.name] = table[HOST_ID.name].astype(np.int64)
    table[N_SAT.name] = table[N_SAT.name].astype(np.int64)
    table[IS_CENTRAL.name] = table[IS_CENTRAL.name].astype(bool)
    return table, np.concatenate([np.zeros(len(centrals), bool),
                                  np.asarray(painted, bool)])[order]


def number_painted(table: pd.DataFrame, painted: np.ndarray, id_base: int,
                    taken: np.ndarray) -> None:
    """``halo_id = id_base + k`` for the painted rows (k = 0, 1, ... in table order),
    refusing ids that meet one of ``taken`` (the input's)."""
    count = int(painted.sum())
    if isinstance(id_base, bool) or not isinstance(id_base, int | np.integer) or id_base < 0 \
            or id_base + count > np.iinfo(np.int64).max:
        raise ModelError(f"composite: id_base must be an integer >= 0 leaving room for "
                         f"{count} ids, got {id_base!r}")
    clash = (taken >= id_base) & (taken < id_base + count)
    if clash.any():
        raise ModelError(f"composite: painted satellite ids from {id_base} would repeat "
                         f"{int(clash.sum())} input halo_ids (first {taken[clash][0]}); "
                         "choose another id_base")
    values = table[HALO_ID.name].to_numpy(np.int64).copy()
    values[painted] = int(id_base) + np.arange(count, dtype=np.int64)
    table[HALO_ID.name] = values
