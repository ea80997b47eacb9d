"""SMOGN on a galhalo catalog: the augmented catalog with its provenance.

:func:`smogn_catalog` picks the columns (default: every halo and galaxy column of the
catalog), runs :func:`galhalo.augment.smogn.augment` and returns a catalog whose
metadata say how it was made (``meta.extra["smogn"]``: every setting, the control
points and the synthetic row count) and no longer claim a truth model (synthetic rows
are not draws from it).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from ..catalog import Catalog
from ..errors import SmognError
from .smogn import SmognResult, augment

__all__ = ["smogn_catalog", "smogn_provenance"]


def smogn_provenance(result: SmognResult, features: Sequence[str], *, k: int, pert: float,
                     threshold: float, mode: str, undersample: bool, seed: int
                     ) -> dict[str, Any]:
    """What ``meta.extra["smogn"]`` records: target, ``features`` (the columns used
    besides the target, in the order given), the settings, the control points ((m, 3)
    rows y, φ, slope, as lists) and the number of synthetic rows. Plain JSON types."""
    return {"target": result.target, "features": list(features), "k": k, "pert": pert,
            "threshold": threshold, "mode": mode, "undersample": undersample, "seed": seed,
            "control_points": result.control_points.tolist(),
            "synthetic_rows": int(result.synthetic.sum())}


def smogn_catalog(catalog: Catalog, target: str, *, features: Sequence[str] | None = None,
                  k: int = 7, pert: float = 0.04, threshold: float = 0.8,
                  mode: str = "balance", undersample: bool = True, seed: int = 0,
                  source: str | None = None) -> tuple[Catalog, SmognResult]:
    """Over-sample the rare values of ``target`` in a catalog (SMOGN).

    Args:
        catalog: the input catalog.
        target: the column whose rare values are over-sampled.
        features: columns carried along and used, with the target, for the neighbour
            distances; default every halo and galaxy column present except the target.
            ``halo_id`` is refused (an identifier cannot be interpolated).
        k, pert, threshold, mode, undersample, seed: as in
            :func:`galhalo.augment.smogn.smogn`.
        source: what the input was called, for ``meta.source`` (default: the input
            catalog's own ``meta.source``).

    Returns:
        (the augmented catalog: the target and feature columns only, kept original rows
        then synthetic rows, metadata with ``extra["smogn"]`` = :func:`smogn_provenance`,
        ``truth`` None and ``source`` "smogn of ..."; the full :class:`SmognResult`).

    Raises:
        SmognError: ``halo_id`` among the features, or anything :func:`augment` refuses.
    """
    names = list(features) if features else [
        name for name in (*catalog.halo_columns, *catalog.galaxy_columns) if name != target]
    if "halo_id" in names:
        raise SmognError("--features: halo_id cannot be interpolated; leave it out")
    result = augment(catalog.table, target, features=names, k=k, pert=pert,
                     threshold=threshold, mode=mode, undersample=undersample, seed=seed)
    meta = copy.deepcopy(catalog.meta)
    meta.truth = None  # synthetic rows are not draws from a truth model
    meta.source = f"smogn of {meta.source or source}"
    meta.extra["smogn"] = smogn_provenance(result, names, k=k, pert=pert,
                                           threshold=threshold, mode=mode,
                                           undersample=undersample, seed=seed)
    return Catalog(result.table, meta), result
