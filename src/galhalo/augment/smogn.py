"""SMOGN over-sampling for imbalanced regression (Branco, Torgo & Ribeiro 2017), vectorised.

The method, as published and as implemented by the reference ``smogn`` package:

1. **Relevance** φ(y) ∈ [0, 1] of every target value: a monotone piecewise-cubic Hermite
   interpolant through control points (y, φ, slope). Automatic control points come from
   the box plot of y (coefficient 1.5): φ = 1 at a whisker end beyond which there are
   outliers, φ = 0 at the median (and at min / max when a side has no outliers).
2. **Bins**: sort the rows by y; a bin is a maximal run of consecutive rows that are all
   rare (φ ≥ threshold) or all common (φ < threshold).
3. **Target size per bin**: ``"balance"`` gives every bin b = round(n / bins) rows;
   ``"extreme"`` gives bin i about b² / n_i rows (rescaled so that the total stays
   n · b · bins / Σ b² / n_j), the package's formula, rounded the package's way. A bin
   below its target is over-sampled: all its rows are kept and synthetic rows are
   added; a bin above it is under-sampled (rows drawn without replacement; with
   ``undersample=False`` all rows are kept).
4. **Synthetic rows** (SMOGN = SMOTER + Gaussian noise), built within one bin: every
   row of the bin seeds ⌊(target − n_i) / n_i⌋ synthetic rows and a random subset
   (without replacement) one more. Each synthetic row draws one of the seed's k nearest
   neighbours in the bin (Euclidean distance over the feature *and* target columns,
   unscaled, as in the package). If that neighbour is closer than half the median
   distance from the seed to the rows of its bin, the new row lies at a uniform random
   point of the segment seed → neighbour (features and target alike: SMOTER);
   otherwise it is the seed plus Gaussian noise with standard deviation
   min(pert, that half-median distance) × the bin's standard deviation of each column.

Deliberate differences from the ``smogn`` 0.1.2 package (its bugs, documented in
docs/smogn.md): the target of an interpolated row is interpolated with the same weight
as the features (the package's weights read the wrong column); under-sampling keeps
the drawn rows (the package drops them from the whole table and keeps everything
else); over-sampled bins keep their original rows; a bin with fewer than k + 1 rows
draws among the neighbours it has; for bins above :data:`EXACT_MEDIAN_MAX_ROWS` rows
the median distance is estimated from :data:`MEDIAN_SAMPLE` random rows of the bin;
synthetic values are clipped to each column's observed range (so physical bounds hold;
the package clips at 0 only); φ left of the first control point extends linearly with
the end slope like on the right (the package returns 1 there) and is clipped to
[0, 1].

Everything is numpy / scipy: a KD-tree per over-sampled bin, no Python loop over rows.

The steps live in sibling modules: :mod:`~galhalo.augment.relevance` (1),
:mod:`~galhalo.augment.balance` (2, 3) and :mod:`~galhalo.augment.synthesis` (4); this
module checks the input and puts them together (:func:`augment`, :func:`smogn`), and
keeps every name importable from here.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import SmognError
from .balance import MODES, bin_targets, rarity_bins
from .relevance import _positive, automatic_control_points, check_control_points, relevance
from .synthesis import EXACT_MEDIAN_MAX_ROWS, MEDIAN_SAMPLE, synthesize

__all__ = [
    "EXACT_MEDIAN_MAX_ROWS",
    "MEDIAN_SAMPLE",
    "MODES",
    "SmognError",
    "SmognResult",
    "augment",
    "automatic_control_points",
    "check_control_points",
    "relevance",
    "smogn",
]


# --------------------------------------------------------------------------- input checks


def _is_numeric(series: pd.Series) -> bool:
    dtype = series.dtype
    return (ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype)
            and not ptypes.is_complex_dtype(dtype))


def _columns(table: object, target: object, features: Sequence[str] | None) -> list[str]:
    """The columns SMOGN works on (features and target), in the table's column order."""
    if not isinstance(table, pd.DataFrame):
        raise SmognError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    if table.columns.duplicated().any():
        repeated = sorted(map(str, set(table.columns[table.columns.duplicated()])))
        raise SmognError(f"column names appear more than once: {', '.join(repeated)}")
    if not isinstance(target, str) or target not in table.columns:
        raise SmognError(f"target column {target!r} is not in the table "
                         f"(columns: {', '.join(map(str, table.columns)) or 'none'})")
    if features is None:
        chosen = [name for name in table.columns if name != target]
    else:
        if isinstance(features, str):
            raise SmognError(f"features must be a sequence of column names, got the string "
                             f"{features!r} (use [{features!r}])")
        chosen = list(features)
        missing = [name for name in chosen if name not in table.columns]
        if missing:
            raise SmognError(f"feature columns {', '.join(map(repr, missing))} are not in the "
                             f"table (columns: {', '.join(map(str, table.columns))})")
        if target in chosen:
            raise SmognError(f"the target {target!r} must not be listed among the features")
        if len(set(chosen)) != len(chosen):
            raise SmognError(f"features name a column more than once: {chosen}")
    if not chosen:
        raise SmognError("no feature columns: SMOGN needs at least one besides the target")
    wanted = {*chosen, target}
    names = [name for name in table.columns if name in wanted]
    text = [f"{name!r} ({table[name].dtype})" for name in names if not _is_numeric(table[name])]
    if text:
        hint = ("drop them or pass features=[...] naming numeric columns" if features is None
                else "convert or drop them")
        which = f"column {text[0]} is" if len(text) == 1 else f"columns {', '.join(text)} are"
        raise SmognError(f"{which} not numeric; SMOGN here handles numeric (non-boolean) "
                         f"columns only: {hint}")
    return names


def _matrix(table: pd.DataFrame, names: list[str]) -> np.ndarray:
    data = table[names].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(data)
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = bad[:, column]
        raise SmognError(f"column {names[column]!r}: {int(rows.sum())} of {len(rows)} rows "
                         f"are NaN or inf (first at row {int(np.flatnonzero(rows)[0])}); "
                         "drop or fill them first")
    return data


def _check_integer(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise SmognError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)

# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class SmognResult:
    """The augmented table and how it was made.

    Attributes:
        table: augmented table (rows_out, columns): the kept original rows in their
            input order, then the synthetic rows bin by bin; fresh RangeIndex; the
            target and feature columns only, with their input dtypes.
        synthetic: bool (rows_out,), True for synthetic rows.
        source: int (rows_out,), input row position (0-based) of each kept original
            row, or of the seed of each synthetic row.
        neighbour: int (rows_out,), input row position of the neighbour a synthetic row
            was interpolated towards; -1 for original rows and Gaussian-noise rows.
        bin: int (rows_out,), bin of each output row.
        relevance: φ of every input row, (n,).
        rare: bool (n,), φ ≥ threshold.
        input_bin: int (n,), bin of every input row.
        control_points: (m, 3) control points used (y, φ, slope).
        bins: one row per bin (in order of increasing target): ``rare``, ``lower`` and
            ``upper`` (target range), ``rows`` (input rows), ``planned`` (rows the
            sampling mode asks for), ``kept`` (original rows kept), ``synthetic``,
            ``interpolated``, ``noise`` and ``total`` (kept + synthetic).
        target: name of the target column; ``columns``: all columns used.
    """

    table: pd.DataFrame
    synthetic: np.ndarray
    source: np.ndarray
    neighbour: np.ndarray
    bin: np.ndarray
    relevance: np.ndarray
    rare: np.ndarray
    input_bin: np.ndarray
    control_points: np.ndarray
    bins: pd.DataFrame
    target: str
    columns: tuple[str, ...]


def _output_table(table: pd.DataFrame, names: list[str], data: np.ndarray) -> pd.DataFrame:
    """``data`` (rows, len(names)) as a DataFrame with the input dtypes (integers rounded)."""
    out = {}
    for j, name in enumerate(names):
        dtype = table[name].dtype
        column = data[:, j]
        if ptypes.is_integer_dtype(dtype):
            column = np.rint(column)
        out[name] = pd.Series(column, copy=False).astype(dtype)
    return pd.DataFrame(out)


def augment(table: pd.DataFrame, target: str, *, features: Sequence[str] | None = None,
            k: int = 7, pert: float = 0.04, threshold: float = 0.8,
            control_points: np.ndarray | None = None, mode: str = "balance",
            undersample: bool = True, seed: int = 0,
            coefficient: float = 1.5) -> SmognResult:
    """SMOGN with everything it did: see :func:`smogn` for the arguments.

    Returns:
        :class:`SmognResult`; ``result.table`` is what :func:`smogn` returns.
    """
    names = _columns(table, target, features)
    n = len(table)
    if n < 2:
        raise SmognError(f"the table has {n} rows; SMOGN needs at least 2 (and more than k)")
    k = _check_integer(k, "k", 1)
    if k >= n:
        raise SmognError(f"k = {k} neighbours needs more rows than k, the table has {n}")
    pert = _positive(pert, "pert", upper=1.0)
    threshold = _positive(threshold, "threshold", upper=1.0)
    seed = _check_integer(seed, "seed", 0)
    if mode not in MODES:
        raise SmognError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    data = _matrix(table, names)
    column = names.index(target)
    y = data[:, column]
    if y.min() == y.max():
        raise SmognError(f"target column {target!r} is constant ({y[0]:g}): nothing is rare")
    points = (automatic_control_points(y, coefficient) if control_points is None
              else check_control_points(control_points))
    phi = relevance(y, points)
    rare = phi >= threshold
    if not rare.any():
        raise SmognError(f"no row of {target!r} has relevance >= threshold {threshold:g} "
                         f"(max relevance {phi.max():.3g}): nothing to over-sample; lower the "
                         "threshold or pass control_points")
    if rare.all():
        raise SmognError(f"every row of {target!r} has relevance >= threshold {threshold:g}: "
                         "nothing is common; raise the threshold or pass control_points")

    order, starts = rarity_bins(rare, y)
    sizes = np.diff(np.r_[starts, n])
    planned = bin_targets(sizes, mode)
    input_bin = np.empty(n, dtype=np.int64)
    input_bin[order] = np.repeat(np.arange(len(sizes)), sizes)
    rng = np.random.default_rng(seed)
    lo, hi = data.min(axis=0), data.max(axis=0)

    kept_parts, synthetic_parts, records = [], [], []
    for b, (start, size, want) in enumerate(zip(starts, sizes, planned, strict=True)):
        members = np.sort(order[start:start + size])
        made = None
        if want < size and undersample:
            kept = np.sort(rng.choice(members, want, replace=False))
        else:
            kept = members
        if want > size:
            made = synthesize(data[members], int(want - size), k, pert, rng)
            rows = np.clip(made.rows, lo, hi)
            partner = np.where(made.neighbour >= 0, members[np.maximum(made.neighbour, 0)], -1)
            synthetic_parts.append((rows, members[made.seed], partner, b))
        kept_parts.append(kept)
        interpolated = 0 if made is None else int((made.neighbour >= 0).sum())
        count = 0 if made is None else len(made.rows)
        records.append({"rare": bool(rare[members[0]]), "lower": float(y[members].min()),
                        "upper": float(y[members].max()), "rows": int(size),
                        "planned": int(want), "kept": len(kept), "synthetic": count,
                        "interpolated": interpolated, "noise": count - interpolated,
                        "total": len(kept) + count})
        if want == 0 and undersample:
            warnings.warn(f"SMOGN mode {mode!r} removes bin {b} ({size} rows with "
                          f"{target} in [{records[-1]['lower']:g}, {records[-1]['upper']:g}]) "
                          "entirely (the package's rounding of its sampling ratio to 0)",
                          stacklevel=2)

    kept = np.sort(np.concatenate(kept_parts))
    rows = [data[kept], *(part[0] for part in synthetic_parts)]
    source = np.concatenate([kept, *(part[1] for part in synthetic_parts)])
    neighbour = np.concatenate([np.full(len(kept), -1, dtype=np.int64),
                                *(part[2] for part in synthetic_parts)])
    made_bins = [np.full(len(part[0]), part[3], dtype=np.int64) for part in synthetic_parts]
    out_bin = np.concatenate([input_bin[kept], *made_bins])
    synthetic = np.zeros(len(source), dtype=bool)
    synthetic[len(kept):] = True
    return SmognResult(
        table=_output_table(table, names, np.concatenate(rows)), synthetic=synthetic,
        source=source, neighbour=neighbour, bin=out_bin, relevance=phi, rare=rare,
        input_bin=input_bin, control_points=points,
        bins=pd.DataFrame.from_records(records, index=pd.RangeIndex(len(records), name="bin")),
        target=target, columns=tuple(names))


def smogn(table: pd.DataFrame, target: str, *, features: Sequence[str] | None = None,
          k: int = 7, pert: float = 0.04, threshold: float = 0.8,
          control_points: np.ndarray | None = None, mode: str = "balance",
          undersample: bool = True, seed: int = 0) -> pd.DataFrame:
    """Augment ``table`` so that rare values of ``target`` are better represented (SMOGN).

    Args:
        table: numeric table, one row per case (no NaN/inf in the columns used).
        target: the column whose rare values (relevance φ ≥ ``threshold``) are
            over-sampled.
        features: the other columns to carry (and to measure neighbour distances in,
            together with the target, unscaled Euclidean). Default: every other column
            (all must then be numeric). Columns not named are not in the output.
        k: nearest neighbours (within the bin) a synthetic row may interpolate towards.
        pert: Gaussian-noise scale, a fraction (0, 1] of each column's standard
            deviation in the bin.
        threshold: relevance in (0, 1] at and above which a value is rare.
        control_points: (m, 3) rows (y, φ, slope) of the relevance function; ``None``:
            automatic from the box plot of the target (coefficient 1.5).
        mode: ``"balance"`` (every bin gets round(n / bins) rows) or ``"extreme"``.
        undersample: under-sample bins above their target size (else keep them whole).
        seed: seed of every random choice; the same seed gives the same table.

    Returns:
        The augmented table: the target and feature columns (input order and dtypes),
        kept original rows first (input order), then the synthetic rows; RangeIndex.
        Use :func:`augment` to also get relevance, rare mask and per-bin counts.

    Raises:
        SmognError: (a ``ValueError``) naming the problem: missing or non-numeric
            columns, NaN/inf, constant target, k >= rows, bad pert/threshold/mode/seed,
            bad control points, or no rare (or no common) rows.
    """
    return augment(table, target, features=features, k=k, pert=pert, threshold=threshold,
                   control_points=control_points, mode=mode, undersample=undersample,
                   seed=seed).table
