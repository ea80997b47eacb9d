"""Terminal tables: number formatting and the DataFrame -> rich Table conversion."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console

from galhalo.report.console import format_number, rich_table


def test_format_number():
    assert format_number(0.11234) == "0.112"
    assert format_number(1.3849) == "1.38"
    assert format_number(177.4) == "177"
    assert format_number(-4.4e-16) == "0.000"
    assert format_number(math.nan) == "–" and format_number(math.inf) == "–"
    assert format_number(12) == "12" and format_number("real") == "real"
    assert format_number(True) == "True"


def test_rich_table_keeps_columns_and_rows():
    frame = pd.DataFrame({"suite": ["test", "ood"], "R²": [0.9213, -0.5], "boxes": [80, 160]})
    table = rich_table(frame, "scores")
    assert [column.header for column in table.columns] == ["suite", "R²", "boxes"]
    assert [column.justify for column in table.columns] == ["left", "right", "right"]
    console = Console(width=60, record=True)
    console.print(table)
    text = console.export_text()
    assert "scores" in text and "0.921" in text and "-0.5" in text and "160" in text
    assert text.index("test") < text.index("ood")
