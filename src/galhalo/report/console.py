"""Tables for the terminal: a pandas DataFrame as a rich ``Table``, numbers formatted
the same way in the CLI and the benchmarks."""

from __future__ import annotations

import pandas as pd
from rich.table import Table

from .numbers import format_number

__all__ = ["format_number", "rich_table"]  # format_number re-exported from .numbers


def rich_table(frame: pd.DataFrame, title: str | None = None) -> Table:
    """``frame``'s columns and rows (index left out), numbers right-aligned."""
    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(format_number(value) for value in row))
    return table
