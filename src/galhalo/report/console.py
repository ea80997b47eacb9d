"""Tables for the terminal: a pandas DataFrame as a rich ``Table``, numbers formatted
the same way in the CLI and the benchmarks; the scores by region of an evaluation as a
table (shown by ``galhalo evaluate`` and the HTML report)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.table import Table

from .numbers import format_number

__all__ = ["format_number", "region_table", "rich_table"]  # format_number from .numbers

#: What a region's value is, by the ``quantity`` of an evaluation's ``"regions"``.
REGION_QUANTITIES = {"nll_vs_truth": "NLL - truth NLL (nats)", "nll": "NLL (nats)"}


def rich_table(frame: pd.DataFrame, title: str | None = None) -> Table:
    """``frame``'s columns and rows (index left out), numbers right-aligned."""
    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(format_number(value) for value in row))
    return table


def region_table(regions: Mapping[str, Any]) -> pd.DataFrame:
    """The ``"regions"`` entry of an evaluation (:func:`galhalo.evaluate.regions.
    regions_result`) as text: region, selection, rows, value ± standard error and, with
    a truth, the region's share of the total gap in percent."""
    quantity = REGION_QUANTITIES.get(regions.get("quantity"), "value")
    rows = []
    for record in regions["table"]:
        value, error = record.get("value"), record.get("error")
        text = format_number(float(value)) if value is not None else "–"
        if value is not None and error is not None:
            text += f" ± {format_number(float(error))}"
        share = record.get("share")
        rows.append({"region": record["region"], "selection": record["selection"],
                     "rows": str(record["rows"]), quantity: text,
                     "share of gap": "–" if share is None else f"{100 * share:.1f}%"})
    frame = pd.DataFrame(rows, columns=["region", "selection", "rows", quantity,
                                        "share of gap"])
    if regions.get("quantity") != "nll_vs_truth":
        frame = frame.drop(columns="share of gap")
    return frame
