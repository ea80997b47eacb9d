"""A mixed survey sample: given galaxies, plus quasars and stars drawn for the same area.

:func:`mixed_sample` joins a galaxy source catalog (made by the caller, e.g. from a
galhalo mock with :mod:`.galaxies`, for ``area_deg2``) with quasars from the PD16
luminosity function (:func:`.quasars.quasar_sources`) and stars at a Galactic latitude
(:func:`.stars.star_sources`), all cut to the same true r range, into one source catalog
(:mod:`.sources` conventions). Each class draws from its own stream spawned from the
seed, so changing one class's settings leaves the others' draws unchanged.
:func:`class_counts` tabulates the result per deg² per class and r bin.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import PhotometryError
from .filters import FilterSet
from .quasars import LuminosityFunction, quasar_sources
from .sources import CLASSES, REQUIRED_COLUMNS, check_sources, flux_columns
from .stars import star_sources

__all__ = ["class_counts", "mixed_sample"]


def mixed_sample(galaxies: pd.DataFrame, area_deg2: float, filters: FilterSet, seed: int,
                 r_range: tuple[float, float] = (17.0, 23.6), latitude: float = 60.0,
                 quasar_z_range: tuple[float, float] = (0.5, 4.5),
                 lf: LuminosityFunction | None = None, cosmology: dict | None = None,
                 shuffle: bool = True) -> pd.DataFrame:
    """One source catalog over ``area_deg2``: ``galaxies`` (source_class "galaxy", the
    columns of :mod:`.sources` for ``filters``; rows outside ``r_range`` dropped) plus
    quasars and stars drawn for the area with true r in ``r_range``.

    Extra columns of one class (``M_g``, ``teff``, galaxy ``smass``, ...) are NaN on the
    other classes' rows; integer ones (galaxy ``halo_id``) become nullable ``Int64`` with
    ``<NA>`` there. Quasars and stars get ``ra``, ``dec`` uniform over the circular patch
    of ``area_deg2`` centred on (0°, 0°), the patch of a light-cone's galaxies.
    ``shuffle`` permutes the rows (with the seed); otherwise they are galaxies, quasars,
    stars. Raises :class:`PhotometryError` if ``galaxies`` lacks a column, has a class
    other than "galaxy", or the area / range is bad.
    """
    if galaxies is None or not isinstance(galaxies, pd.DataFrame):
        raise PhotometryError("mixed_sample: galaxies must be a source-catalog DataFrame")
    check_sources(galaxies, filters.names)
    other = (galaxies["source_class"] != "galaxy").to_numpy(dtype=bool)
    if other.any():
        first = int(np.flatnonzero(other)[0])
        raise PhotometryError(f"mixed_sample: galaxies row {first} has source_class "
                              f"{str(galaxies['source_class'].iloc[first])!r}, expected "
                              f"'galaxy'")
    if not np.isfinite(area_deg2) or area_deg2 <= 0:
        raise PhotometryError(f"mixed_sample: area must be > 0 deg², got {area_deg2}")
    lo, hi = float(r_range[0]), float(r_range[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise PhotometryError(f"mixed_sample: r_range must be bright < faint, got {r_range}")
    quasar_seed, star_seed, order_seed = np.random.SeedSequence(seed).spawn(3)
    mag = galaxies["mag_r"].to_numpy(dtype=float)
    inside = (mag >= lo) & (mag < hi)
    kept = galaxies if inside.all() else galaxies[inside]
    quasars = quasar_sources(area_deg2, filters, np.random.default_rng(quasar_seed),
                             r_range=(lo, hi), z_range=quasar_z_range, lf=lf,
                             cosmology=cosmology)
    stars = star_sources(area_deg2, filters, np.random.default_rng(star_seed),
                         r_range=(lo, hi), latitude=latitude)
    base = [*REQUIRED_COLUMNS, *flux_columns(filters.names)]
    parts = [part for part in (kept, quasars, stars) if len(part)]
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=float) for name in base})
    # integer columns (galaxy halo_id, ...) stay integers: nullable Int64, <NA> on the
    # rows of classes without them (a plain concat would make them float with NaN)
    integer = {name for part in parts for name, dtype in part.dtypes.items()
               if pd.api.types.is_integer_dtype(dtype)}
    if not (len(parts) > 1 and any(name not in part.columns for part in parts
                                   for name in integer)):
        integer = set()
    order = np.random.default_rng(order_seed).permutation(sum(map(len, parts))) if (
        shuffle) else None
    return _joined(parts, base, order, integer)


def _joined(parts: list[pd.DataFrame], base: list[str], order: np.ndarray | None,
            nullable: set[str]) -> pd.DataFrame:
    """``pd.concat(parts, ignore_index=True, sort=False)`` with the columns ``base``
    first and the others in their order of appearance, rows taken in ``order`` (None:
    as they come), the columns ``nullable`` made ``Int64`` first: the same frame, the
    float64 columns written straight into one block (one pass over the fluxes, not a
    concat and a take)."""
    # shallow copies without attrs: pandas deep-copies a frame's attrs into every column
    # it hands out
    parts = [part.copy(deep=False) for part in parts]
    for part in parts:
        part.attrs = {}
    dtypes = [part.dtypes.to_dict() for part in parts]
    names = list(dict.fromkeys(name for part in parts for name in part.columns))
    columns = base + [name for name in names if name not in base]
    sizes = [len(part) for part in parts]
    floats = [name for name in columns if all(
        types[name] == np.float64 for types in dtypes if name in types)]
    block = np.empty((len(floats), sum(sizes)))
    column = np.empty(sum(sizes)) if order is not None else None
    for at, name in enumerate(floats):
        # the parts' columns one after the other, then (shuffled) taken into the block
        target = block[at] if column is None else column
        start = 0
        for part, types, size in zip(parts, dtypes, sizes, strict=True):
            target[start:start + size] = part[name].to_numpy() if name in types else np.nan
            start += size
        if column is not None:
            np.take(column, order, out=block[at])
    frame = pd.DataFrame(block.T, columns=floats, copy=False)
    others = [name for name in columns if name not in floats]
    if others:
        pieces = [part[[name for name in others if name in part.columns]]
                  for part in parts]
        pieces = [piece.astype({name: "Int64" for name in nullable
                                if name in piece.columns}) for piece in pieces]
        rest = pd.concat(pieces, ignore_index=True, sort=False)
        if order is not None:
            rest = rest.take(order).reset_index(drop=True)
        for name in others:
            frame.insert(columns.index(name), name, rest[name])
    return frame


def class_counts(sources: pd.DataFrame, area_deg2: float,
                 edges: Sequence[float] = (17.0, 20.0, 22.5, 23.6)) -> pd.DataFrame:
    """Sources per deg² per class (rows :data:`~.sources.CLASSES`, then "total") in the
    true-r bins ``edges`` (columns "17-20", ...; "all" for the whole range)."""
    if not np.isfinite(area_deg2) or area_deg2 <= 0:
        raise PhotometryError(f"class_counts: area must be > 0 deg², got {area_deg2}")
    bins = np.asarray(edges, dtype=float)
    if bins.ndim != 1 or bins.size < 2 or (np.diff(bins) <= 0).any():
        raise PhotometryError("class_counts: edges must be >= 2 increasing magnitudes")
    for name in ("source_class", "mag_r"):
        if name not in sources.columns:
            raise PhotometryError(f"class_counts: sources have no column '{name}'")
    labels = [f"{a:g}-{b:g}" for a, b in itertools.pairwise(bins)]
    mag = sources["mag_r"].to_numpy(dtype=float)
    which = np.digitize(mag, bins) - 1
    inside = (which >= 0) & (which < len(labels))
    rows = {}
    for name in CLASSES:
        chosen = inside & (sources["source_class"].to_numpy() == name)
        counts = np.bincount(which[chosen], minlength=len(labels)).astype(float)
        rows[name] = [*counts, counts.sum()]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[*labels, "all"])
    table.loc["total"] = table.sum(axis=0)
    return table / area_deg2
