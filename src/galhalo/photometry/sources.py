"""Source-catalog conventions shared by every source model of :mod:`galhalo.photometry`.

A source catalog is a :class:`pandas.DataFrame`, one row per source, with

- ``source_class`` (str, one of :data:`CLASSES`),
- ``redshift`` (float; 0 for stars),
- ``mag_r`` (true AB magnitude in ``rSDSS``),
- ``flux_<filter>`` (true band flux, µJy) for every filter of the filter set, in its order,
- optional ``ra``, ``dec`` (deg) and class-specific extras (galaxy ``smass``, ...).

Observed catalogs add ``flux_err_<filter>`` (:func:`error_columns`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..catalog.messages import first_row
from ..errors import PhotometryError

__all__ = [
    "CLASSES",
    "HIGH_Z_QUASAR",
    "REQUIRED_COLUMNS",
    "check_sources",
    "error_columns",
    "flux_columns",
    "numeric_values",
    "quasar_class",
    "text_column",
]

#: The source classes, in the order classifiers use.
CLASSES: tuple[str, ...] = ("star", "galaxy", "qso_low", "qso_high")

#: Redshift above which a quasar is ``qso_high`` (z > 2.1); at or below: ``qso_low``.
HIGH_Z_QUASAR: float = 2.1

#: Columns every source catalog has besides the fluxes.
REQUIRED_COLUMNS: tuple[str, ...] = ("source_class", "redshift", "mag_r")


def flux_columns(names: Iterable[str]) -> list[str]:
    """``flux_<name>`` for each filter name, in order."""
    return [f"flux_{name}" for name in names]


def error_columns(names: Iterable[str]) -> list[str]:
    """``flux_err_<name>`` for each filter name, in order."""
    return [f"flux_err_{name}" for name in names]


def numeric_values(values: pd.Series | np.ndarray | Sequence[object],
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(values as floats (n,), mask (n,) of the entries that are NaN, infinite or not
    numbers): the check behind the one-line "first bad row" errors of a source catalog
    and of a filter file (the row: :func:`galhalo.catalog.messages.first_row`)."""
    numbers = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)
    return numbers, ~np.isfinite(numbers)


def text_column(values: Sequence[str], index: np.ndarray,
                ) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """``values[index]`` (n,) as pandas stores a column of Python strings (its ``str``
    dtype, or object), without building n Python strings."""
    return pd.Series(np.array(list(values), dtype=object)).array.take(
        np.asarray(index, dtype=np.intp))


def quasar_class(redshift: np.ndarray | Sequence[float]) -> np.ndarray:
    """``"qso_high"`` where z > :data:`HIGH_Z_QUASAR`, else ``"qso_low"``; shape of input."""
    z = np.asarray(redshift, dtype=float)
    return np.where(z > HIGH_Z_QUASAR, "qso_high", "qso_low").astype(object)


def check_sources(frame: pd.DataFrame, filter_names: Iterable[str]) -> pd.DataFrame:
    """Check a source catalog against the conventions above; return it unchanged.

    Raises :class:`PhotometryError` (one line) naming the first missing column, a class
    not in :data:`CLASSES` (with its count and first row), or a NaN/infinite value in
    ``redshift`` / a flux column (with the first row). ``mag_r`` may be NaN or infinite
    (a source with no flux in r); fluxes may be negative (observed noise).
    """
    if not isinstance(frame, pd.DataFrame):
        raise PhotometryError(f"sources must be a DataFrame, got {type(frame).__name__}")
    fluxes = flux_columns(filter_names)
    missing = [name for name in (*REQUIRED_COLUMNS, *fluxes) if name not in frame.columns]
    if missing:
        raise PhotometryError(f"source catalog: missing column '{missing[0]}'"
                              f" ({len(missing)} missing in all)")
    # a shallow copy without attrs: pandas deep-copies a frame's attrs into every column
    # it hands out
    view = frame.copy(deep=False)
    view.attrs = {}
    bad = ~view["source_class"].isin(CLASSES).to_numpy(dtype=bool)
    if bad.any():
        classes = view["source_class"].astype(str).to_numpy()
        first = first_row(bad)
        raise PhotometryError(
            f"source catalog: column 'source_class' has {int(bad.sum())} rows not in "
            f"{CLASSES} (first: row {first}, {classes[first]!r})")
    for name in ("redshift", *fluxes):
        column = view[name]
        if column.dtype == np.float64 and np.isfinite(column.to_numpy()).all():
            continue
        _, bad = numeric_values(column)
        if bad.any():
            first = first_row(bad)
            raise PhotometryError(f"source catalog: column '{name}' has {int(bad.sum())} "
                                  f"NaN/infinite values (first: row {first})")
    redshift = frame["redshift"].to_numpy(dtype=float)
    if (redshift < 0).any():
        first = first_row(redshift < 0)
        raise PhotometryError(f"source catalog: column 'redshift' is negative at row {first}")
    return frame
