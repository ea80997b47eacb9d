"""The self-contained HTML report: figures embedded, best cells marked, text escaped."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import pandas as pd
import pytest
from matplotlib.figure import Figure

from galhalo.errors import ReportError
from galhalo.report.html import HtmlReport, table_html


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.best: list[str] = []
        self.headings: list[str] = []
        self._in = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "td" and "best" in (attrs.get("class") or ""):
            self._in = "best"
        if tag == "h2":
            self._in = "h2"

    def handle_data(self, data):
        if self._in == "best":
            self.best.append(data)
        elif self._in == "h2":
            self.headings.append(data)
        self._in = None


def _figure() -> Figure:
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1], [1, 0])
    return figure


def test_report_embeds_every_figure_as_png_and_marks_the_best(tmp_path):
    frame = pd.DataFrame({"model": ["gauss", "flow"], "KS": [0.034, 0.004],
                          "PCC": [0.95, 0.96], "NLL - truth": [0.77, -0.01]})
    report = HtmlReport("evaluation <of> models", subtitle="held out")
    report.section("Whole sample", "two families & the truth").table(
        frame, best={"KS": "min", "PCC": "max", "NLL - truth": "abs"})
    report.figure(_figure(), caption="first").section("Low mass").figure(_figure())
    path = report.write(tmp_path / "report.html")
    page = path.read_text()
    parsed = _Collector()
    parsed.feed(page)
    assert len(parsed.images) == report.n_figures == 2
    for source in parsed.images:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert parsed.best == ["0.004", "0.96", "-0.01"]
    assert parsed.headings == ["Whole sample", "Low mass"]
    assert "evaluation &lt;of&gt; models" in page and "two families &amp; the truth" in page
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from elsewhere


def test_table_rejects_unknown_best_columns_and_rules():
    frame = pd.DataFrame({"KS": [0.1, 0.2]})
    with pytest.raises(ReportError, match="no column 'AUC'"):
        table_html(frame, best={"AUC": "max"})
    with pytest.raises(ReportError, match="'min', 'max' or 'abs'"):
        table_html(frame, best={"KS": "lowest"})


def test_write_is_atomic_and_refuses_a_directory(tmp_path):
    target = tmp_path / "r.html"
    HtmlReport("a").section("s", "one").write(target)
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
    with pytest.raises(OSError):
        HtmlReport("a").write(tmp_path)
