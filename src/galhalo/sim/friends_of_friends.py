"""Friends-of-friends (FoF) halos in a periodic box.

Two particles are friends when closer than the linking length ``b`` times the mean
inter-particle separation (``b = 0.2``, Davis et al. 1985); a halo is a connected set of
friends. Pairs come from :class:`scipy.spatial.cKDTree` with ``boxsize`` (periodic) and
the groups from :func:`scipy.sparse.csgraph.connected_components`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..errors import FoFError

__all__ = ["LINKING_LENGTH", "MIN_PARTICLES", "FoFError", "Halos", "friends_of_friends"]

#: Linking length in units of the mean inter-particle separation.
LINKING_LENGTH = 0.2
#: Smallest group kept as a halo.
MIN_PARTICLES = 20



@dataclass(frozen=True)
class Halos:
    """FoF halos, sorted by decreasing particle number (ties: by first member).

    Attributes:
        n_particles: members per halo, shape (h,).
        mass: ``n_particles * particle_mass`` in Msun/h, shape (h,).
        positions: centres of mass in Mpc/h in [0, box), shape (h, 3) (periodic).
        velocities: mean member velocity, shape (h, 3), units of the input velocities.
        labels: halo index of every particle (-1: in no halo), shape (n,).
    """

    n_particles: np.ndarray
    mass: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.n_particles)


def friends_of_friends(
    positions: np.ndarray, box: float, *, velocities: np.ndarray | None = None,
    particle_mass: float = 1.0, linking_length: float = LINKING_LENGTH,
    min_particles: int = MIN_PARTICLES, mean_separation: float | None = None,
) -> Halos:
    """Find FoF halos of particles in a periodic box.

    Args:
        positions: shape (n, 3), Mpc/h, in [0, box) (other values are wrapped).
        box: box side in Mpc/h.
        velocities: shape (n, 3) (any unit, e.g. km/s); zeros if not given.
        particle_mass: Msun/h per particle.
        linking_length: ``b`` in units of the mean separation.
        min_particles: smallest group kept.
        mean_separation: Mpc/h; default ``box / n^(1/3)``.

    Returns:
        :class:`Halos` (possibly empty).
    """
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) == 0:
        raise FoFError(f"positions must have shape (n, 3) with n > 0, got {positions.shape}")
    if not np.isfinite(positions).all():
        raise FoFError("positions hold NaN or inf")
    if not (np.isfinite(box) and box > 0):
        raise FoFError(f"box must be finite and > 0 (Mpc/h), got {box}")
    if velocities is None:
        velocities = np.zeros_like(positions)
    velocities = np.asarray(velocities, dtype=float)
    if velocities.shape != positions.shape:
        raise FoFError(f"velocities have shape {velocities.shape}, positions {positions.shape}")
    if not 0 < linking_length < 1:
        raise FoFError(f"linking_length must be in (0, 1), got {linking_length}")
    if min_particles < 2:
        raise FoFError(f"min_particles must be >= 2, got {min_particles}")
    n = len(positions)
    separation = mean_separation or box / n ** (1.0 / 3.0)
    radius = linking_length * separation
    if radius >= 0.5 * box:
        raise FoFError(f"linking radius {radius:g} Mpc/h is not below half the box")
    wrapped = np.mod(positions, box)
    wrapped[wrapped >= box] = 0.0
    pairs = cKDTree(wrapped, boxsize=box).query_pairs(radius, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                       shape=(n, n))
    _, groups = connected_components(graph, directed=False)
    sizes = np.bincount(groups)
    kept = np.flatnonzero(sizes >= min_particles)
    first = np.full(len(sizes), n)
    np.minimum.at(first, groups, np.arange(n))
    order = kept[np.lexsort((first[kept], -sizes[kept]))]
    halo_of_group = np.full(len(sizes), -1)
    halo_of_group[order] = np.arange(len(order))
    labels = halo_of_group[groups]
    member = labels >= 0
    members = labels[member]
    counts = sizes[order]
    # centre of mass relative to a reference member (the first), wrapped to the nearest
    # image: halos are far smaller than half the box
    reference = wrapped[first[order]]
    offsets = wrapped[member] - reference[members]
    offsets -= box * np.round(offsets / box)
    centres = np.empty((len(order), 3))
    mean_velocity = np.empty((len(order), 3))
    for dim in range(3):
        centres[:, dim] = np.bincount(members, weights=offsets[:, dim],
                                      minlength=len(order)) / counts
        mean_velocity[:, dim] = np.bincount(members, weights=velocities[member, dim],
                                            minlength=len(order)) / counts
    centres = np.mod(reference + centres, box)
    centres[centres >= box] = 0.0
    return Halos(counts.astype(np.int64), counts * float(particle_mass), centres,
                 mean_velocity, labels)
