"""Peak mass, V_peak and infall redshift of satellites from SubLink merger trees.

Along each galaxy's main progenitor branch (:func:`.merger_trees.main_branches`, from
the catalog's snapshot backwards):

- ``M_peak`` = log10(max over the branch of the peak-mass field × 1e10), log10(Msun/h);
  the field is ``SubhaloMassType`` column 1 (bound dark matter, the mass of ``M_sub``)
  by default (``SubLinkTrees.peak_mass_field``). The maximum runs over the whole branch
  (after infall the bound mass only falls, so it is the pre-infall peak in practice);
- ``Vmax_peak`` = ``SubhaloVmax`` (km/s) at the entry of that maximum (the first one
  on ties, i.e. the latest);
- ``z_infall`` (satellites only, NaN on centrals) = redshift of the last snapshot at
  which the main progenitor was a central, ``FirstSubhaloInFOFGroupID`` ==
  ``SubhaloID``, before it became a satellite. A branch that is a satellite all along
  gets the redshift of its earliest entry (a lower bound) and is counted.

With satellites, z_h (a host property) is computed for the centrals only, from the
same branches (:func:`.merger_trees.half_mass_redshift`): one scan of the trees serves
both. The trees must match the group catalog: the subhalo's centrality and, for a
per-type peak-mass field, its dark-matter mass at the catalog's snapshot must agree
with the catalog's (else a :class:`CatalogError` naming the tree file).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import CatalogError
from .common import Progress
from .halo_properties import DM_TYPE, MASS_UNIT
from .merger_trees import (
    Branch,
    SubLinkTrees,
    branch_half_mass_redshift,
    main_branches,
    sublink_info,
)

__all__ = ["satellite_histories"]

_CENTRAL_ID = "FirstSubhaloInFOFGroupID"
#: Relative tolerance of the trees' dark-matter mass against the group catalog's.
_MASS_RTOL = 1e-5


def _peak_mass(branch: Branch, field: str) -> tuple[np.ndarray, bool]:
    """The branch's peak-mass values (k,) and whether they are the dark-matter column."""
    values = np.asarray(branch.fields[field], dtype=np.float64)
    if values.ndim == 2 and values.shape[1] > DM_TYPE:
        return values[:, DM_TYPE], True
    if values.ndim == 1:
        return values, False
    raise CatalogError(f"{branch.path}: field {field} has shape {values.shape}: expected "
                       f"(n,) or (n, 6) per particle type (dark matter = column {DM_TYPE})")


def _check_match(branch: Branch, subhalo_id: int, central: bool, dm_mass: float,
                 peak: np.ndarray, is_dm: bool, field: str) -> np.ndarray:
    """Whether each entry was a central; refuses a branch that disagrees with the catalog."""
    was_central = branch.fields[_CENTRAL_ID] == branch.fields["SubhaloID"]
    snapshot = int(branch.fields["SnapNum"][0])
    if bool(was_central[0]) != central:
        catalog, tree = ("central", "satellite") if central else ("satellite", "central")
        raise CatalogError(
            f"{branch.path}: field {_CENTRAL_ID}: subhalo {subhalo_id} is a {catalog} in the "
            f"group catalog but a {tree} in the trees at snapshot {snapshot}: trees of "
            "another run or snapshot?")
    if is_dm and not np.isclose(peak[0], dm_mass, rtol=_MASS_RTOL, atol=0.0):
        raise CatalogError(
            f"{branch.path}: field {field}: subhalo {subhalo_id} has dark-matter mass "
            f"{peak[0]:.6g} at snapshot {snapshot} in the trees but {dm_mass:.6g} in the group "
            "catalog (1e10 Msun/h): trees of another run or snapshot?")
    return was_central


def _infall_redshift(branch: Branch, was_central: np.ndarray) -> tuple[float, bool]:
    """Redshift of the last entry as a central before now; (earliest, False) if none."""
    earlier = np.flatnonzero(was_central[1:])
    if earlier.size == 0:
        return float(branch.redshift[-1]), False
    return float(branch.redshift[earlier[0] + 1]), True


def satellite_histories(
    trees: SubLinkTrees, subhalo_ids: np.ndarray, is_central: np.ndarray,
    dm_mass: np.ndarray, catalog_snapshot: int | None, n_subhalos: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """z_h (centrals), M_peak, Vmax_peak and z_infall (satellites) from SubLink trees.

    Args:
        trees: the tree files and the snapshot -> redshift table.
        subhalo_ids: shape (n,) int, Subfind indices at the catalog's snapshot.
        is_central: shape (n,) bool, the catalog's centrals.
        dm_mass: shape (n,), bound dark-matter mass in the catalog (1e10 Msun/h),
            checked against the trees.
        catalog_snapshot: the snapshot from the group-catalog file names.
        n_subhalos: subhalos in the group catalog, checked against the trees' ids.
        progress: callback receiving one short message per stage.

    Returns:
        (columns, metadata): columns ``z_h`` (NaN on satellites), ``M_peak``
        (log10(Msun/h); NaN where the branch never has the peak-mass field > 0),
        ``Vmax_peak`` (km/s), ``z_infall`` (NaN on centrals), each shape (n,); metadata
        for ``meta.extra`` (sources, fields, unresolved counts).

    Raises:
        CatalogError: as :func:`.merger_trees.main_branches`; a central with zero mass
            now; trees that disagree with the catalog (centrality, dark-matter mass).
    """
    say = progress or (lambda message: None)
    ids = np.asarray(subhalo_ids, dtype=np.int64)
    central = np.asarray(is_central, dtype=bool)
    n = len(ids)
    columns = {name: np.full(n, np.nan) for name in ("z_h", "M_peak", "Vmax_peak", "z_infall")}
    fields = [trees.mass_field, trees.peak_mass_field, "SubhaloVmax", "SubhaloID", _CENTRAL_ID]
    z_h_unresolved = infall_unresolved = 0
    for branch in main_branches(trees, ids, catalog_snapshot, fields, say, n_subhalos,
                                what="selected galaxies"):
        i = branch.index
        peak, is_dm = _peak_mass(branch, trees.peak_mass_field)
        was_central = _check_match(branch, int(ids[i]), bool(central[i]), float(dm_mass[i]),
                                   peak, is_dm, trees.peak_mass_field)
        top = int(np.argmax(peak))
        if peak[top] > 0:
            columns["M_peak"][i] = np.log10(peak[top] * MASS_UNIT)
        columns["Vmax_peak"][i] = float(branch.fields["SubhaloVmax"][top])
        if central[i]:
            columns["z_h"][i], resolved = branch_half_mass_redshift(branch, trees.mass_field,
                                                                    int(ids[i]))
            z_h_unresolved += not resolved
        else:
            columns["z_infall"][i], resolved = _infall_redshift(branch, was_central)
            infall_unresolved += not resolved
    say(f"SubLink: z_h of {int(central.sum()):,} centrals ({z_h_unresolved:,} never below "
        f"half their mass), M_peak and Vmax_peak of {n:,} galaxies, z_infall of "
        f"{int((~central).sum()):,} satellites ({infall_unresolved:,} never centrals: "
        "earliest redshift used)")
    info = {**sublink_info(trees, z_h_unresolved), "peak_mass_field": trees.peak_mass_field,
            "z_infall_unresolved": infall_unresolved}
    return columns, info
