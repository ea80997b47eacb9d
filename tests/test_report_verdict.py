"""The verdict of the report (galhalo.report.verdict): the worst deviation from the noise
floor per scenario, model and metric group, signed by the metric's direction, and its
coloured HTML table. Hand-made evaluate_model-shaped results, so every number is known."""

from __future__ import annotations

import math
from html.parser import HTMLParser

import pytest

from galhalo.errors import ReportError
from galhalo.evaluate.run import METRICS
from galhalo.report.verdict import (
    CLASSES,
    GROUPS,
    deviation,
    legend_html,
    level,
    verdict_html,
    verdict_table,
)


def _estimate(z: float | None, value: float = 0.1, floor: float | None = 0.05) -> dict:
    return {"value": value, "error": 0.01, "floor": floor, "floor_error": 0.0, "z": z}


def _result(metrics: dict, rows: int = 400) -> dict:
    return {"scenarios": {"whole": {"rows": rows, "metrics": metrics},
                          "M_h>12": {"rows": 40, "metrics": metrics}}}


METRIC_VALUES = {
    "ks": {"smass": _estimate(1.0), "color": _estimate(-5.0)},
    "wasserstein": {"smass": _estimate(4.0)},
    "pcc": {"smass": _estimate(-7.0), "color": _estimate(2.0)},
    "coverage68": {"smass": _estimate(0.5)},
    "nll": {"joint": _estimate(None, floor=None)},
}


def test_every_metric_is_in_exactly_one_group():
    """A metric added to evaluate.run.METRICS must land in one verdict column."""
    members = [m for group in GROUPS.values() for m in group]
    assert sorted(members) == sorted(METRICS)


def test_deviation_is_positive_when_worse_than_the_floor():
    assert deviation("lower", 2.5) == 2.5 and deviation("lower", -4.0) == -4.0
    assert deviation("higher", 2.5) == -2.5
    assert deviation("closest", -6.0) == 6.0
    assert deviation("lower", None) is None and deviation("closest", float("nan")) is None


def test_levels_follow_the_class_bounds():
    assert [level(d) for d in (0.0, 3.0, -3.0, 3.01, 10.0, 10.5, 30.0, 31.0, -200.0)] == \
        [0, 0, 0, 1, 1, 2, 2, 3, 3]
    assert level(None) is None and level(math.nan) is None
    assert CLASSES[0][1] == "at the floor"


def test_each_cell_is_the_groups_largest_deviation_and_names_it():
    table = verdict_table({"flow": _result(METRIC_VALUES)})
    whole = table[table["scenario"] == "whole"].set_index("group")
    assert list(whole.index) == ["1-D distributions", "per-halo correlation", "calibration",
                                 "likelihood"]  # groups without a computed metric are left out
    one_d = whole.loc["1-D distributions"]
    # |-5| beats 4 and 1: the sign is kept (below the floor), the estimate is named
    assert (one_d["deviation"], one_d["metric"], one_d["key"]) == (-5.0, "ks", "color")
    assert (one_d["scored"], one_d["estimates"], one_d["metrics"]) == (3, 3, "ks, wasserstein")
    # PCC is "closest": a correlation 7 standard errors below the truth's is +7
    assert whole.loc["per-halo correlation", "deviation"] == 7.0
    # no floor: counted but not scored
    likelihood = whole.loc["likelihood"]
    assert math.isnan(likelihood["deviation"]) and (likelihood["scored"], likelihood["estimates"]) \
        == (0, 1)
    assert list(table["rows"].unique()) == [400, 40]


def test_rows_are_scenarios_then_models_and_scenarios_must_match():
    results = {"a": _result(METRIC_VALUES), "b": _result({"ks": {"smass": _estimate(0.2)}})}
    table = verdict_table(results)
    order = list(dict.fromkeys(zip(table["scenario"], table["model"], strict=True)))
    assert order == [("whole", "a"), ("whole", "b"), ("M_h>12", "a"), ("M_h>12", "b")]
    missing = {"a": _result(METRIC_VALUES), "b": {"scenarios": {"whole": {"metrics": {}}}}}
    with pytest.raises(ReportError, match="result 'b' has no scenario 'M_h>12'"):
        verdict_table(missing)
    with pytest.raises(ReportError, match="not an evaluate_model result"):
        verdict_table({"a": {"rows": 3}})


class _Cells(HTMLParser):
    """(class, text) of every td, rowspans of the row headers, header texts."""

    def __init__(self):
        super().__init__()
        self.cells: list[tuple[str, str]] = []
        self.rowspans: list[int] = []
        self._text: list[str] | None = None
        self._class = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "td":
            self._text, self._class = [], attrs.get("class") or ""
        if tag == "th" and attrs.get("rowspan"):
            self.rowspans.append(int(attrs["rowspan"]))

    def handle_endtag(self, tag):
        if tag == "td":
            self.cells.append((self._class, "".join(self._text)))
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def test_html_colours_each_cell_by_its_class_and_escapes_labels():
    results = {"<b>flow</b>": _result(METRIC_VALUES), "gauss": _result(METRIC_VALUES)}
    page = verdict_html(verdict_table(results), caption="verdict")
    assert "<b>flow</b>" not in page and "&lt;b&gt;flow&lt;/b&gt;" in page
    parsed = _Cells()
    parsed.feed(page)
    assert parsed.rowspans == [2, 2]  # one header cell per scenario, spanning its models
    scored = {text: css for css, text in parsed.cells if css.startswith(("level", "no-floor"))}
    assert scored["-5.0ks · color"] == "level-1"
    assert scored["+7.0pcc · smass"] == "level-1"
    assert scored["+0.5coverage68 · smass"] == "level-0"
    assert scored["no floor"] == "no-floor"
    # 4 model rows x 4 groups present
    assert sum(css != "text" for css, _ in parsed.cells) == 16


def test_legend_names_every_class():
    legend = legend_html()
    for i, (_, name) in enumerate(CLASSES):
        assert f'class="swatch level-{i}"' in legend and name in legend
    assert "|d| ≤ 3" in legend and "|d| &gt; 30" not in legend and "|d| > 30" in legend
