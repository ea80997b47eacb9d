"""A catalog's rows as the arrays the clustering estimators take: positions (n, 3) in
Mpc/h, checked to lie in the catalog's periodic box, in real or redshift space."""

from __future__ import annotations

import numpy as np

from ..catalog import Catalog
from ..clustering import AXES, check_positions, redshift_space
from ..errors import ClusteringError

__all__ = ["box_size_of", "catalog_positions"]


def box_size_of(catalog: Catalog) -> float:
    """The periodic box side (Mpc/h) of ``catalog``; :class:`ClusteringError` if unset."""
    box = catalog.meta.box_size
    if box is None:
        raise ClusteringError(
            "box size missing: catalog.meta.box_size is None, and clustering with analytic "
            "randoms needs a periodic box (set the box side in Mpc/h)")
    return float(box)


def catalog_positions(catalog: Catalog, rsd: str | None = None) -> np.ndarray:
    """Positions (n, 3) of a catalog's rows, Mpc/h, checked to lie in its box.

    With ``rsd`` = ``"x"``, ``"y"`` or ``"z"``: in redshift space along that axis, using
    the catalog's velocities (km/s), redshift and cosmology
    (:func:`galhalo.clustering.redshift_space`).
    """
    box = box_size_of(catalog)
    table = catalog.table
    missing = [name for name in ("x", "y", "z") if name not in table.columns]
    if missing:
        raise ClusteringError(f"catalog has no position columns {missing} (Mpc/h)")
    positions = check_positions(table[["x", "y", "z"]].to_numpy(dtype=np.float64), box)
    if rsd is None:
        return positions
    if rsd not in AXES:
        raise ClusteringError(f"unknown line-of-sight axis {rsd!r}; use one of x, y, z")
    velocity = f"v{rsd}"
    if velocity not in table.columns:
        raise ClusteringError(f"redshift space along {rsd} needs the velocity column "
                              f"{velocity!r} (km/s)")
    velocities = np.zeros_like(positions)
    velocities[:, AXES[rsd]] = table[velocity].to_numpy(dtype=np.float64)
    return redshift_space(positions, velocities, box, rsd, catalog.meta.redshift,
                          catalog.meta.cosmology)
