"""Paint sampled galaxies (or halos) onto a catalog: the mock-catalog builder.

``make_mock`` is what ``galhalo sample`` does. With a :class:`ConditionalModel`: for
each row of the input catalog, draw ``samples`` realisations of the model's targets from
p(target | condition), and return the input columns plus the sampled ones (with a
``realization`` column when ``samples > 1``). With a
:class:`~galhalo.models.composite.CompositeModel`: paint centrals and satellites onto
the catalog's hosts (:meth:`~CompositeModel.paint`), or onto its centrals and sub-halos
when it has sub-halo rows (:meth:`~CompositeModel.paint_subhalos`), once per realisation.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from .catalog import REALIZATION, Catalog
from .catalog.virial import omega_m_of
from .errors import ModelError
from .models.base import ConditionalModel
from .models.composite import CompositeModel
from .models.painting import PAINTED_ID_BASE, quoted


def make_mock(model: ConditionalModel | CompositeModel, catalog: Catalog, samples: int = 1,
              seed: int = 0, *, halo_only: bool = False,
              id_base: int = PAINTED_ID_BASE, rows: np.ndarray | None = None) -> Catalog:
    """A mock catalog: ``catalog``'s rows with the model's targets sampled.

    Args:
        model: a fitted model; its condition columns must be in ``catalog``. A composite
            model paints galaxies onto the catalog's hosts (see :func:`paint_mock`).
        catalog: input rows (e.g. halos); existing target columns are replaced.
        samples: realisations per row (rows are repeated, realisation-major).
        seed: sampling seed; the same seed gives the same mock.
        halo_only: composite only: use the central rows of a catalog with sub-halo rows
            as hosts alone (satellites painted by the profile).
        id_base: composite only: ``halo_id`` of the first painted satellite.
        rows: boolean mask (rows of ``catalog``,): sample these rows only and copy the
            others' target columns from the input (e.g. a satellite model's draws on the
            satellites of a catalog whose centrals stay as they are, so the mock keeps
            every host's central row). None: every row.

    Raises:
        ModelError: ``rows`` is not a mask of the catalog's length, or rows left out
            lack the model's target columns.

    Returns:
        Catalog with ``len(catalog) * samples`` rows (a composite: the painted galaxies
        of every realisation); metadata copied from the input, with ``source`` naming
        the model and ``extra["mock"]`` describing the draw.
    """
    if isinstance(model, CompositeModel):
        return paint_mock(model, catalog, samples, seed, halo_only=halo_only,
                          id_base=id_base)
    picked = _sampled_rows(model, catalog, rows)
    draws = model.sample(catalog.table[picked], samples, seed)  # (samples, picked, targets)
    base = catalog.table.drop(columns=[c for c in model.target if c in catalog.table])
    kept = {name: catalog.table[name].to_numpy(np.float64) for name in model.target
            if not picked.all()}
    parts = []
    for realization in range(samples):
        part = base.copy()
        for j, name in enumerate(model.target):
            values = kept[name].copy() if name in kept else np.empty(len(part))
            values[picked] = draws[realization, :, j]
            part[name] = values
        if samples > 1:
            part[REALIZATION] = np.int64(realization)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    meta = copy.deepcopy(catalog.meta)
    meta.source = f"galhalo sample ({model.family} model) of {catalog.meta.source or 'catalog'}"
    meta.extra = {**meta.extra, "mock": {
        "family": model.family, "condition": list(model.condition),
        "target": list(model.target), "samples": int(samples), "seed": int(seed),
        **({} if picked.all() else {"rows_sampled": int(picked.sum()),
                                    "rows_copied": int((~picked).sum())})}}
    return Catalog(table=table, meta=meta)


def _sampled_rows(model: ConditionalModel, catalog: Catalog,
                  rows: np.ndarray | None) -> np.ndarray:
    """The boolean mask of rows to sample (every row for None), checked."""
    if rows is None:
        return np.ones(len(catalog), dtype=bool)
    mask = np.asarray(rows)
    if mask.dtype != bool or mask.shape != (len(catalog),):
        raise ModelError(f"rows must be a boolean mask of the catalog's {len(catalog)} rows, "
                         f"got dtype {mask.dtype}, shape {mask.shape}")
    if not mask.any():
        raise ModelError("rows selects no row to sample")
    missing = [name for name in model.target if name not in catalog.table]
    if missing and not mask.all():
        raise ModelError(f"the rows left unsampled need the target columns {missing} to "
                         "copy from the input")
    return mask


def has_subhalo_rows(catalog: Catalog) -> bool:
    """Whether ``catalog`` has rows that are not centrals (satellites / sub-halos)."""
    return catalog.has_satellites and not catalog.central_mask().all()


def paint_mock(model: CompositeModel, catalog: Catalog, samples: int = 1, seed: int = 0,
               *, halo_only: bool = False, id_base: int = PAINTED_ID_BASE) -> Catalog:
    """A mock catalog with satellites painted by a composite model.

    The path: a catalog with sub-halo rows goes through
    :meth:`CompositeModel.paint_subhalos` (its centrals and sub-halos), unless
    ``halo_only``; otherwise its (central) rows are the hosts of
    :meth:`CompositeModel.paint`. Realisation ``r`` paints with the ``r``-th child of
    ``SeedSequence(seed)``; painted satellites' ids are unique within a realisation
    (from ``id_base``). Virial radii use the catalog's redshift and ``Om0``; positions
    wrap in its box.

    Raises:
        ModelError: the satellite model needs sub-halo columns and the catalog has no
            sub-halo rows (or ``halo_only`` is asked).
    """
    subhalos = has_subhalo_rows(catalog) and not halo_only
    if model.needs_subhalos and not subhalos:
        why = "--halo-only treats the catalog as hosts" if halo_only else \
            "the catalog has no sub-halo rows"
        raise ModelError(f"the composite's satellite model needs sub-halo columns "
                         f"{quoted(model.subhalo_columns)}; give a catalog with sub-halos "
                         f"({why})")
    table = catalog.table if subhalos else catalog.centrals().table
    meta = catalog.meta
    options = {"redshift": meta.redshift, "omega_m": omega_m_of(meta.cosmology),
               "box": meta.box_size, "id_base": id_base}
    children = np.random.SeedSequence(int(seed)).spawn(samples)
    parts, counts = [], {}
    for realization, child in enumerate(children):
        child_seed = int(child.generate_state(1)[0])
        part = (model.paint_subhalos(table, child_seed, **options) if subhalos
                else model.paint(table, child_seed, **options))
        for key, value in part.attrs.get("painting", {}).items():
            if isinstance(value, int):
                counts[key] = counts.get(key, 0) + value
            else:
                counts[key] = value
        part.attrs = {}
        if samples > 1:
            part[REALIZATION] = np.int64(realization)
        parts.append(part)
    out = copy.deepcopy(meta)
    out.source = f"galhalo sample (composite model) of {meta.source or 'catalog'}"
    out.extra = {**out.extra, "mock": {
        "family": model.family,
        "components": {part["role"]: part for part in model.describe()},
        "target": list(model.target), "samples": int(samples), "seed": int(seed),
        "painting": counts}}
    return Catalog(table=pd.concat(parts, ignore_index=True), meta=out)
