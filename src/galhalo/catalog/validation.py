"""Validation of a catalog table against the schema (:func:`validate_table`).

Every problem found is reported in one :class:`CatalogError` of one line, naming the
column, how many rows are affected and the first offending row (0-based position).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import CatalogError
from .hosts import host_columns_problem, host_problems
from .messages import column_label, column_names, count_rows, first_row, quoted, show_value
from .meta import CatalogMeta
from .schema import ALL_COLUMNS, IS_CENTRAL, Column

__all__ = ["REALIZATION", "column_label", "column_names", "quoted", "raise_problems",
           "validate_table"]


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
        return (f"; {count_rows(bad)} are not numbers (first at row {first_row(bad)}: "
                f"{show_value(series.iloc[first_row(bad)])})")
    return "; the values are numbers stored as text (convert with pandas.to_numeric)"


def _dtype_problem(col: Column, series: pd.Series) -> str | None:
    dtype = series.dtype
    if col.kind == "flag":
        if ptypes.is_bool_dtype(dtype):
            return None
        if ptypes.is_integer_dtype(dtype):
            return None if series.isin((0, 1)).all() else (
                f"integer flags must be 0 or 1, {count_rows(~series.isin((0, 1)).to_numpy())} "
                f"are not (first at row {first_row(~series.isin((0, 1)).to_numpy())})")
        return f"dtype {dtype}: expected true/false (or 1/0)"
    if ptypes.is_bool_dtype(dtype):
        return f"dtype {dtype} (true/false) is not numeric"
    numeric = ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype)
    if col.kind in ("id", "count") and not ptypes.is_integer_dtype(dtype):
        detail = _text_problem(series) if not numeric else ""
        what = "halo ids" if col.kind == "id" else "counts"
        return f"dtype {dtype}: {what} must be integers{detail}"
    if numeric:
        return None
    textual = ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype)
    return f"dtype {dtype} is not numeric" + (_text_problem(series) if textual else "")


def _value_problems(col: Column, values: np.ndarray, box_size: float | None,
                    may_be_nan: np.ndarray | None = None) -> list[str]:
    """NaN/inf and out-of-bounds problems of one numeric column (float64, shape (rows,)).

    ``may_be_nan`` (bool, shape (rows,)) marks rows where NaN means "not defined here"
    (central rows of a satellite-only column); inf is refused everywhere.
    """
    label = column_label(col.name)
    finite = np.isfinite(values)
    allowed = np.isnan(values) & may_be_nan if may_be_nan is not None else np.zeros_like(finite)
    if not (finite | allowed).all():
        bad = ~(finite | allowed)
        where = " on satellite rows" if may_be_nan is not None else ""
        return [f"{label}: {count_rows(bad)} are NaN or inf{where} (first at row {first_row(bad)})"]
    values = values[finite]
    if values.size == 0:
        return []
    interval, where = _allowed(col, box_size)
    bad = interval.outside(values)
    if not bad.any():
        return []
    hint = f"; {col.units_hint}" if col.units_hint else ""
    first = int(np.flatnonzero(finite)[first_row(bad)])
    return [f"{label}: {count_rows(bad)} are outside {where} (min {values.min():.6g}, "
            f"max {values.max():.6g}; first at row {first}){hint}"]


#: Column numbering the realisations of a mock; ids repeat once per realisation.
REALIZATION = "realization"


def _duplicate_problem(series: pd.Series, realization: pd.Series | None) -> list[str]:
    keys = series if realization is None else pd.DataFrame({"id": series, "r": realization})
    repeated = keys.duplicated().to_numpy()
    if not repeated.any():
        return []
    first = first_row(repeated)
    within = "" if realization is None else " within the same realization"
    return [f"{column_label(series.name)}: {count_rows(repeated)} repeat an earlier id{within} "
            f"(first at row {first}: {show_value(series.iloc[first])})"]


def _column_problems(col: Column, series: pd.Series, box_size: float | None,
                     realization: pd.Series | None = None,
                     central: np.ndarray | None = None) -> list[str]:
    dtype_problem = _dtype_problem(col, series)
    if dtype_problem is not None:
        return [f"{column_label(col.name)}: {dtype_problem}"]
    if col.kind == "flag":
        return []
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    may_be_nan = central if col.satellite_only else None
    problems = _value_problems(col, values, box_size, may_be_nan)
    if col.name == "halo_id":
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
    known column (a satellite-only column may be NaN on central rows); values outside a
    known column's physical bounds; positions outside [0, box_size); repeated
    ``halo_id`` (within one ``realization`` of a mock); and, in a catalog with
    satellites, a broken host structure (:func:`~.hosts.host_problems`).
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
    host_columns = host_columns_problem(table)
    if host_columns is not None:
        raise CatalogError(host_columns)
    problems: list[str] = []
    missing = [name for name in column_names(required) if name not in table.columns]
    if missing:
        problems.append(f"missing required columns {quoted(missing)} "
                        f"(the table has: {', '.join(table.columns)})")
    realization = table[REALIZATION] if REALIZATION in table.columns else None
    central = _central_rows(table)
    for col in ALL_COLUMNS:
        if col.name in table.columns:
            problems += _column_problems(col, table[col.name], meta.box_size, realization,
                                         central)
    if not problems:
        problems += host_problems(table, meta.box_size)
    raise_problems(problems)


def _central_rows(table: pd.DataFrame) -> np.ndarray | None:
    """``is_central`` as a bool array (rows,), or None without a usable flag column."""
    if IS_CENTRAL.name not in table.columns:
        return None
    if _dtype_problem(IS_CENTRAL, table[IS_CENTRAL.name]) is not None:
        return None
    return table[IS_CENTRAL.name].to_numpy().astype(bool)
