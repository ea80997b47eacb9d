"""A self-contained HTML report: sections of text, tables and figures embedded as PNG
data URIs, so one file can be mailed, archived or opened offline.

    report = HtmlReport("galhalo evaluation")
    report.section("Whole sample", "Held-out galaxies of the default universe.")
    report.table(frame, caption="metrics", best={"KS": "min"})
    report.figure(figure, caption="stellar mass vs colour")
    report.table(details, caption="every metric", folded=True)   # in <details>
    report.write("report.html")

The page holds no script and fetches nothing: it renders the same offline.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import __version__
from ..errors import ReportError
from ..files import atomic_path, check_writable
from .numbers import format_value

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f2f2f2; }
td.text, th.text { text-align: left; }
td.best { background: #d9f2d9; font-weight: bold; }
figure { margin: 1em 0; }
figure img { max-width: 100%; }
figcaption, .caption { color: #555; font-size: .9em; }
nav ul { columns: 2; }
footer { margin-top: 3em; color: #777; font-size: .8em; }
details { margin: .5em 0; }
details > summary { cursor: pointer; color: #1f4e79; }
details[open] > summary { margin-bottom: .3em; }
"""


def figure_data_uri(figure: Figure, dpi: int = 100) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _anchor(title: str, index: int) -> str:
    return f"section-{index}-" + "".join(c if c.isalnum() else "-" for c in title.lower())


def _cell(value) -> str:
    return html.escape(format_value(value))


def table_html(frame: pd.DataFrame, best: Mapping[str, str] | None = None,
               caption: str | None = None) -> str:
    """An HTML table of ``frame`` (index shown when named or non-default); in the columns
    named by ``best`` ("min" or "max", or "abs" for closest to zero) the best cell is
    highlighted."""
    best = dict(best or {})
    for column, rule in best.items():
        if column not in frame.columns:
            raise ReportError(f"best: no column {column!r} in the table "
                              f"(it has {list(frame.columns)})")
        if rule not in ("min", "max", "abs"):
            raise ReportError(f"best[{column!r}] must be 'min', 'max' or 'abs', got {rule!r}")
    show_index = frame.index.name is not None or not isinstance(frame.index, pd.RangeIndex)
    winners: dict[str, set] = {}
    for column, rule in best.items():
        values = pd.to_numeric(frame[column], errors="coerce")
        if rule == "abs":
            values = values.abs()
        if values.notna().any():
            target = values.max() if rule == "max" else values.min()
            winners[column] = set(np.flatnonzero(values.to_numpy() == target))
    header = (f'<th class="text">{html.escape(str(frame.index.name or ""))}</th>'
              if show_index else "")
    header += "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, (label, row) in enumerate(frame.iterrows()):
        cells = [f'<td class="text">{html.escape(str(label))}</td>'] if show_index else []
        for column, value in row.items():
            classes = []
            if not isinstance(value, float | int | np.number):
                classes.append("text")
            if i in winners.get(column, ()):
                classes.append("best")
            attribute = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attribute}>{_cell(value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption_html = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f"<table>{caption_html}<thead><tr>{header}</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


@dataclass
class HtmlReport:
    """Accumulates sections; :meth:`write` renders one self-contained HTML file."""

    title: str
    subtitle: str = ""
    _sections: list[tuple[str, list[str]]] = field(default_factory=list)
    _styles: list[str] = field(default_factory=list)

    def section(self, title: str, text: str | None = None) -> HtmlReport:
        """Start a new section (a table-of-contents entry) with optional text."""
        self._sections.append((title, []))
        if text:
            self.text(text)
        return self

    def _body(self) -> list[str]:
        if not self._sections:
            self.section("Results")
        return self._sections[-1][1]

    def text(self, text: str) -> HtmlReport:
        """A paragraph (plain text, escaped)."""
        self._body().append(f"<p>{html.escape(text)}</p>")
        return self

    def table(self, frame: pd.DataFrame, caption: str | None = None,
              best: Mapping[str, str] | None = None, folded: bool = False) -> HtmlReport:
        """A table; ``best`` highlights each named column's best cell (see table_html);
        ``folded`` puts it in a closed ``<details>`` whose summary is the caption and
        the row count."""
        rendered = table_html(frame, best, caption)
        if folded:
            summary = f"{caption or 'table'} ({len(frame):,} rows)"
            rendered = f"<details><summary>{html.escape(summary)}</summary>{rendered}</details>"
        self._body().append(rendered)
        return self

    def markup(self, fragment: str, style: str | None = None) -> HtmlReport:
        """Trusted HTML (the caller escapes every text in it; no script, no external
        link), with optional CSS rules added to the page's style sheet once."""
        self._body().append(fragment)
        if style and style not in self._styles:
            self._styles.append(style)
        return self

    def figure(self, figure: Figure, caption: str | None = None, dpi: int = 100
               ) -> HtmlReport:
        """A figure embedded as PNG."""
        alt = html.escape(caption or "figure", quote=True)
        caption_html = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._body().append(f'<figure><img alt="{alt}" src="{figure_data_uri(figure, dpi)}">'
                            f"{caption_html}</figure>")
        return self

    @property
    def n_figures(self) -> int:
        return sum(part.startswith("<figure>") for _, parts in self._sections for part in parts)

    def render(self) -> str:
        """The whole page as a string."""
        toc = "".join(f'<li><a href="#{_anchor(t, i)}">{html.escape(t)}</a></li>'
                      for i, (t, _) in enumerate(self._sections))
        body = "".join(f'<h2 id="{_anchor(t, i)}">{html.escape(t)}</h2>' + "".join(parts)
                       for i, (t, parts) in enumerate(self._sections))
        style = "\n".join([STYLE, *self._styles])
        subtitle = f'<p class="caption">{html.escape(self.subtitle)}</p>' if self.subtitle else ""
        return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{style}</style></head><body>"
                f"<h1>{html.escape(self.title)}</h1>{subtitle}<nav><ul>{toc}</ul></nav>{body}"
                f"<footer>written by galhalo {__version__}</footer></body></html>")

    def write(self, path: str | Path) -> Path:
        """Write the page atomically; returns its path."""
        target = check_writable(path)
        with atomic_path(target) as tmp:
            tmp.write_text(self.render(), encoding="utf-8")
        return target
