"""Paint sampled galaxies (or halos) onto a catalog: the mock-catalog builder.

``make_mock`` is what ``galhalo sample`` does: for each row of the input catalog, draw
``samples`` realisations of the model's targets from p(target | condition), and return
the input columns plus the sampled ones (with a ``realization`` column when
``samples > 1``).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from .catalog import REALIZATION, Catalog
from .models.base import ConditionalModel


def make_mock(model: ConditionalModel, catalog: Catalog, samples: int = 1,
              seed: int = 0) -> Catalog:
    """A mock catalog: ``catalog``'s rows with the model's targets sampled.

    Args:
        model: a fitted model; its condition columns must be in ``catalog``.
        catalog: input rows (e.g. halos); existing target columns are replaced.
        samples: realisations per row (rows are repeated, realisation-major).
        seed: sampling seed; the same seed gives the same mock.

    Returns:
        Catalog with ``len(catalog) * samples`` rows; metadata copied from the input,
        with ``source`` naming the model and ``extra["mock"]`` describing the draw.
    """
    draws = model.sample(catalog.table, samples, seed)  # (samples, rows, targets)
    base = catalog.table.drop(columns=[c for c in model.target if c in catalog.table])
    parts = []
    for realization in range(samples):
        part = base.copy()
        for j, name in enumerate(model.target):
            part[name] = draws[realization, :, j]
        if samples > 1:
            part[REALIZATION] = np.int64(realization)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    meta = copy.deepcopy(catalog.meta)
    meta.source = f"galhalo sample ({model.family} model) of {catalog.meta.source or 'catalog'}"
    meta.extra = {**meta.extra, "mock": {
        "family": model.family, "condition": list(model.condition),
        "target": list(model.target), "samples": int(samples), "seed": int(seed)}}
    return Catalog(table=table, meta=meta)
