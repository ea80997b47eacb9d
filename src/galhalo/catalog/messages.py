"""Pieces of one-line validation messages: column labels, row counts, first rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .schema import COLUMNS

__all__ = ["column_label", "column_names", "count_rows", "first_row", "quoted", "show_value"]


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


def count_rows(mask: np.ndarray) -> str:
    """``'12 of 1000 rows'`` for a boolean row mask of shape (rows,)."""
    return f"{int(mask.sum())} of {mask.size} rows"


def first_row(mask: np.ndarray) -> int:
    """0-based position of the first true entry of a boolean mask."""
    return int(np.flatnonzero(mask)[0])


def show_value(value: Any) -> str:
    """``repr`` of a cell value, numpy scalars shown as plain Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)
