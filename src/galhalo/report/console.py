"""Tables for the terminal: a pandas DataFrame as a rich ``Table``, numbers formatted
the same way in the CLI and the benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.table import Table

__all__ = ["format_number", "rich_table"]


def format_number(value: object) -> str:
    """Three significant digits below 100 (``0.112``, ``1.38``), whole numbers above
    (``177``), ``0.000`` for rounding noise below 5e-4, ``–`` for NaN/inf; anything that
    is not a float as ``str``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, float | np.floating):
        return str(value)
    if not np.isfinite(value):
        return "–"
    if abs(value) < 5e-4:
        return "0.000"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def rich_table(frame: pd.DataFrame, title: str | None = None) -> Table:
    """``frame``'s columns and rows (index left out), numbers right-aligned."""
    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(format_number(value) for value in row))
    return table
