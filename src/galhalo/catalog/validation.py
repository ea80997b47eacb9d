"""Validation of a catalog table against the schema (:func:`validate_table`).

Every problem found is reported in one :class:`CatalogError` of one line, naming the
column, how many rows are affected and the first offending row (0-based position).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import CatalogError
from .meta import CatalogMeta
from .schema import ALL_COLUMNS, COLUMNS, Column

__all__ = ["REALIZATION", "column_label", "column_names", "quoted", "raise_problems",
           "validate_table"]


def column_label(name: str) -> str:
    """``column 'smass' (log10(Msun/h))``; no unit for dimensionless/unknown columns."""
    col = COLUMNS.get(name)
    if col is None or col.unit == "-":
        return f"column {name!r}"
    return f"column {name!r} ({col.unit})"


def column_names(names: str | Iterable[str]) -> list[str]:
    """``"M_h"`` -> ``["M_h"]``; any other iterable of names as a list."""
    return [names] if isinstance(names, str) else list(names)


def quoted(names: Iterable[Any]) -> str:
    """``'a', 'b'``: names quoted and joined, for messages."""
    return ", ".join(repr(name) for name in names)


def _count(mask: np.ndarray) -> str:
    """``'12 of 1000 rows'`` for a boolean row mask of shape (rows,)."""
    return f"{int(mask.sum())} of {mask.size} rows"


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _show(value: Any) -> str:
    """``repr`` of a cell value, numpy scalars shown as plain Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)


@dataclass(frozen=True)
class _Range:
    """Allowed interval of a column, with open/closed ends."""

    lower: float | None
    upper: float | None
    lower_inclusive: bool = True
    upper_inclusive: bool = True

    def outside(self, values: np.ndarray) -> np.ndarray:
        bad = np.zeros(values.shape, dtype=bool)
        if self.lower is not None:
            bad |= values < self.lower if self.lower_inclusive else values <= self.lower
        if self.upper is not None:
            bad |= values > self.upper if self.upper_inclusive else values >= self.upper
        return bad

    def __str__(self) -> str:
        left = "[" if self.lower_inclusive else "("
        right = "]" if self.upper_inclusive else ")"
        lower = "-inf" if self.lower is None else f"{self.lower:g}"
        upper = "inf" if self.upper is None else f"{self.upper:g}"
        return f"{left}{lower}, {upper}{right}"


def _allowed(col: Column, box_size: float | None) -> tuple[_Range, str]:
    """The interval a column's values must lie in, and how to describe it."""
    if col.kind == "position" and box_size is not None:
        return _Range(0.0, box_size, upper_inclusive=False), f"the box [0, {box_size:g}) Mpc/h"
    interval = _Range(col.lower, col.upper, col.lower_inclusive)
    return interval, f"the physical range {interval}"


def _text_problem(series: pd.Series) -> str:
    """Why a text/object column is not numeric: which rows are not numbers."""
    try:
        parsed = pd.to_numeric(series, errors="coerce")
    except (TypeError, ValueError):
        return ""
    bad = (parsed.isna() & series.notna()).to_numpy()
    if bad.any():
        return (f"; {_count(bad)} are not numbers (first at row {_first(bad)}: "
                f"{_show(series.iloc[_first(bad)])})")
    return "; the values are numbers stored as text (convert with pandas.to_numeric)"


def _dtype_problem(col: Column, series: pd.Series) -> str | None:
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return f"dtype {dtype} (true/false) is not numeric"
    numeric = ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype)
    if col.kind == "id" and not ptypes.is_integer_dtype(dtype):
        detail = _text_problem(series) if not numeric else ""
        return f"dtype {dtype}: halo ids must be integers{detail}"
    if numeric:
        return None
    textual = ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype)
    return f"dtype {dtype} is not numeric" + (_text_problem(series) if textual else "")


def _value_problems(col: Column, values: np.ndarray, box_size: float | None) -> list[str]:
    """NaN/inf and out-of-bounds problems of one numeric column (float64, shape (rows,))."""
    label = column_label(col.name)
    finite = np.isfinite(values)
    if not finite.all():
        return [f"{label}: {_count(~finite)} are NaN or inf (first at row {_first(~finite)})"]
    interval, where = _allowed(col, box_size)
    bad = interval.outside(values)
    if not bad.any():
        return []
    hint = f"; {col.units_hint}" if col.units_hint else ""
    return [f"{label}: {_count(bad)} are outside {where} (min {values.min():.6g}, "
            f"max {values.max():.6g}; first at row {_first(bad)}){hint}"]


#: Column numbering the realisations of a mock; ids repeat once per realisation.
REALIZATION = "realization"


def _duplicate_problem(series: pd.Series, realization: pd.Series | None) -> list[str]:
    keys = series if realization is None else pd.DataFrame({"id": series, "r": realization})
    repeated = keys.duplicated().to_numpy()
    if not repeated.any():
        return []
    first = _first(repeated)
    within = "" if realization is None else " within the same realization"
    return [f"{column_label(series.name)}: {_count(repeated)} repeat an earlier id{within} "
            f"(first at row {first}: {_show(series.iloc[first])})"]


def _column_problems(col: Column, series: pd.Series, box_size: float | None,
                     realization: pd.Series | None = None) -> list[str]:
    dtype_problem = _dtype_problem(col, series)
    if dtype_problem is not None:
        return [f"{column_label(col.name)}: {dtype_problem}"]
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    problems = _value_problems(col, values, box_size)
    if col.kind == "id":
        problems += _duplicate_problem(series, realization)
    return problems


def _structure_problem(table: pd.DataFrame) -> str | None:
    not_text = [name for name in table.columns if not isinstance(name, str)]
    if not_text:
        return f"column names must be strings, got {quoted(not_text)}"
    repeated = sorted(set(table.columns[table.columns.duplicated()]))
    if repeated:
        return f"column names appear more than once: {quoted(repeated)}"
    if len(table) == 0:
        return f"catalog has no rows (columns: {', '.join(table.columns) or 'none'})"
    return None


def raise_problems(problems: list[str]) -> None:
    """Raise one :class:`CatalogError` of one line listing ``problems`` (none: return)."""
    if len(problems) == 1:
        raise CatalogError(problems[0])
    if problems:
        raise CatalogError(f"{len(problems)} problems: " + "; ".join(problems))


def validate_table(
    table: pd.DataFrame, meta: CatalogMeta, required: str | Iterable[str] = ()
) -> None:
    """Check a table against the galhalo schema; raise :class:`CatalogError` if invalid.

    Args:
        table: one row per object; known columns must be numeric (``halo_id`` integer).
        meta: its metadata; ``meta.box_size`` (Mpc/h) bounds ``x, y, z`` to [0, box).
        required: column names that must be present (all missing ones are named).

    Refused: no rows; non-string or repeated column names; missing required columns;
    a known column that is not numeric (booleans and text refused); NaN/inf in a
    known column; values outside a known column's physical bounds; positions outside
    [0, box_size); repeated ``halo_id`` (within one ``realization`` of a mock).
    Columns outside the schema are not checked. Every problem found is reported in one
    error.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"a catalog table must be a pandas DataFrame, got {type(table).__name__}")
    if not isinstance(meta, CatalogMeta):
        raise TypeError(f"catalog metadata must be a CatalogMeta, got {type(meta).__name__}")
    meta.validate()
    structure = _structure_problem(table)
    if structure is not None:
        raise CatalogError(structure)
    problems: list[str] = []
    missing = [name for name in column_names(required) if name not in table.columns]
    if missing:
        problems.append(f"missing required columns {quoted(missing)} "
                        f"(the table has: {', '.join(table.columns)})")
    realization = table[REALIZATION] if REALIZATION in table.columns else None
    for col in ALL_COLUMNS:
        if col.name in table.columns:
            problems += _column_problems(col, table[col.name], meta.box_size, realization)
    raise_problems(problems)
