"""Populating with a composite model (centrals and satellites): what a run reads and
writes, and one batch painted.

A composite model (:mod:`galhalo.models.composite`: central, occupation, profile and
satellite components) paints whole hosts, so a populate run with it has one of three
*modes*, fixed when it is planned:

* ``"halos"``: one input row per host (no ``is_central`` column); satellites are placed
  around their host by the profile model (:meth:`CompositeModel.paint`);
* ``"centrals"``: an input with sub-halos populated with ``halo_only=True``: its central
  rows are the hosts, as in ``"halos"``; sub-halo rows are read and dropped;
* ``"subhalos"``: an input with sub-halos; each host's satellites sit on its sub-halos
  (:meth:`CompositeModel.paint_subhalos`), rows of a host contiguous.

This module only adapts the composite's API to populate's plan and worker.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import POSITION, SUBHALO, Catalog, CatalogMeta
from ..catalog.schema import HALO_ID, HOST, IS_CENTRAL, N_SAT, VELOCITY
from ..errors import PopulateError
from ..mock import make_mock
from ..models.composite import ORBIT, RANK_COLUMN, CompositeModel

__all__ = ["MODES", "component_families", "composite_columns", "is_composite",
           "out_columns", "paint_batch"]

#: Run modes of a composite model (see the module docstring).
MODES = ("halos", "centrals", "subhalos")
#: What every painted galaxy carries besides the kept columns and the targets.
_STRUCTURE = (HALO_ID.name, *HOST, N_SAT.name, *ORBIT)


def is_composite(model: Any) -> bool:
    """True for a composite model (centrals and satellites), False for a plain one."""
    return isinstance(model, CompositeModel)


def component_families(model: CompositeModel) -> dict[str, str]:
    """{role: family} of a composite model's components."""
    return {role: part.family for role, part in model.components.items()}


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def composite_columns(model: CompositeModel, schema: dict[str, Any], mode: str, where: str
                      ) -> dict[str, list[str]]:
    """What a composite run reads and samples, checked against the input columns.

    Args:
        model: a composite model.
        schema: the input files' columns (name -> type).
        mode: one of :data:`MODES`.
        where: the input file named in messages.

    Returns:
        ``{"condition": condition columns read from the input (the hosts' halo columns;
        with sub-halos also the satellite's sub-halo columns), "required": every column
        a batch must have, "target": the sampled galaxy columns, "painted": input
        columns the painting replaces or drops (never kept)}``. Central columns
        (``smass_central`` ...) are painted, never read.

    Raises:
        PopulateError: one line naming the missing columns, or the satellite model's
            sub-halo columns when the input (or ``halo_only``) gives hosts alone.
    """
    targets = list(model.target)
    condition = list(model.host_columns)
    if mode != "subhalos":
        if model.needs_subhalos:
            given = ("--halo-only places satellites on the hosts alone" if mode == "centrals"
                     else "the halo files have hosts alone (no is_central column)")
            raise PopulateError(
                f"the composite's satellite model conditions on the sub-halo columns "
                f"{list(model.subhalo_columns)}, but {given}: populate a catalog with "
                "sub-halos (host_id, is_central and those columns) without --halo-only, or "
                "use a satellite model without them")
        required = [HALO_ID.name, *condition, *POSITION, *VELOCITY]
        painted = [*HOST, N_SAT.name, *ORBIT, *targets] + (
            list(SUBHALO) if mode == "centrals" else [])
    else:  # the orbit comes from the table or from the positions (orbit_in_host)
        condition += list(model.subhalo_columns)
        required = [HALO_ID.name, *HOST, *condition, RANK_COLUMN, *POSITION, *VELOCITY]
        dropped = [name for name in SUBHALO
                   if name not in ORBIT and name not in model.subhalo_columns]
        painted = [N_SAT.name, *targets, *dropped]
    required = _unique(required)
    missing = [name for name in required if name not in schema]
    if missing:
        what = ("hosts with their sub-halos" if mode == "subhalos" else "one row per host")
        raise PopulateError(
            f"a composite model paints centrals and satellites on {what} and needs the "
            f"columns {missing}, missing from the halo files ({where} has: "
            f"{', '.join(schema)})")
    return {"condition": _unique(condition), "required": required, "target": targets,
            "painted": _unique(painted)}


def out_columns(kept: list[str], targets: list[str]) -> list[str]:
    """Output columns of a composite run: the kept input columns, then the structure
    (ids, host, N_sat, orbit in the host), the galaxy targets, positions, velocities."""
    return _unique([*kept, *_STRUCTURE, *targets, *POSITION, *VELOCITY])


def paint_batch(model: CompositeModel, frame: pd.DataFrame, meta: CatalogMeta, *, mode: str,
                samples: int, seed: int, id_base: int, required: list[str],
                columns: list[str], lock: threading.Lock, where: str
                ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Paint one batch of whole hosts ``samples`` times, as :func:`galhalo.mock.make_mock`
    does (realisation-major; realisation ``r`` from the ``r``-th child of the seed).

    Args:
        model: the composite model.
        frame: input rows of whole hosts (mode ``"subhalos"``: centrals and sub-halos;
            otherwise one row per host, or the centrals of ``frame`` in ``"centrals"``).
        meta: the input file's metadata (box size, redshift, cosmology).
        seed: the batch's seed.
        id_base: ``halo_id`` of the batch's first painted satellite (then +1 each;
            every realisation starts there).
        required: columns validated on the hosts; ``columns``: the output columns.
        lock: serialises the drawing (models seed torch's global generator).

    Returns:
        (galaxies with ``columns``, counts ``hosts``, ``centrals``, ``satellites`` and
        ``ids``: the painted ids used, so the next batch starts at ``id_base + ids``).
    """
    if mode == "centrals":  # the hosts: the central rows, without the host columns
        hosts = frame[frame[IS_CENTRAL.name].to_numpy().astype(bool)]
        frame = hosts.drop(columns=[name for name in HOST if name in hosts]
                           ).reset_index(drop=True)
    catalog = Catalog(frame, meta).validate(required=required, source=where)
    with lock:
        table = make_mock(model, catalog, samples, seed, id_base=id_base).table
    missing = [name for name in columns if name not in table.columns]
    if missing:
        raise PopulateError(f"the composite's painting returned no columns {missing}")
    central = table[IS_CENTRAL.name].to_numpy().astype(bool)
    ids = table[HALO_ID.name].to_numpy(np.int64)
    painted = ids[ids >= id_base]
    counts = {"hosts": (int(frame[IS_CENTRAL.name].to_numpy().astype(bool).sum())
                        if mode == "subhalos" else len(frame)),
              "centrals": int(central.sum()), "satellites": int((~central).sum()),
              "ids": int(painted.max()) + 1 - id_base if len(painted) else 0}
    return table[columns], counts
