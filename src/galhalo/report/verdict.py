"""The verdict at the top of the report: how far each model sits from the noise floor,
one row per scenario and model, one column per metric group.

Every metric of :func:`galhalo.evaluate.run.evaluate_model` carries its noise floor (the
value a perfect model would get) and ``z = (value - floor) / sqrt(error^2 +
floor_error^2)`` (docs/evaluation.md; ``|z| >~ 3`` is a real difference). The verdict
turns z into a *deviation* d that is positive when the model is worse than the floor,
whatever the metric's direction (:data:`galhalo.evaluate.run.METRICS`):

* lower is better (KS, energy, NLL, PIT flatness, ...): d = z;
* higher is better: d = -z;
* closest to the floor is best (PCC, whose floor is the truth's own correlation; the
  C2ST AUC, 0.5; coverage, the nominal level): d = |z|.

A cell of the table holds the deviation of largest size among the group's estimates
(every metric of the group, every target column or pair) and names the metric and key
it comes from: the group's worst case. For a perfect model the largest of n deviations
is typically below 3 (about sqrt(2 ln n) for n independent ones), so the classes are
|d| <= 3 at the floor, <= 10 detectably off, <= 30 clearly off, beyond far off. A
deviation below -3 (better than a perfect model) is a warning: the rows may not be held
out from training.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..errors import ReportError
from ..evaluate.run import METRICS
from .numbers import format_value

#: Metric groups, the verdict's columns, in page order; every metric of METRICS is in one.
GROUPS: dict[str, tuple[str, ...]] = {
    "1-D distributions": ("ks", "wasserstein"),
    "2-D distributions": ("ks2d", "energy2d"),
    "joint distribution": ("energy", "c2st", "c2st_conditional"),
    "per-halo correlation": ("pcc",),
    "calibration": ("pit", "pit_marginal", "coverage68", "coverage95"),
    "likelihood": ("nll", "nll_vs_truth"),
}
#: Colour classes of |deviation| (standard errors): (upper bound, name), in order.
CLASSES: tuple[tuple[float, str], ...] = ((3.0, "at the floor"), (10.0, "detectably off"),
                                          (30.0, "clearly off"), (math.inf, "far off"))
#: Background and text colour of each class (pale green, then ColorBrewer YlOrBr yellow
#: to brown: darker is worse; the number is printed in every cell, colour repeats it).
COLOURS: tuple[tuple[str, str], ...] = (("#edf8e9", "#1b1b1b"), ("#fee391", "#1b1b1b"),
                                        ("#fe9929", "#1b1b1b"), ("#b84b04", "#ffffff"))
NO_FLOOR_COLOUR = ("#eeeeee", "#555555")

_COLUMNS = ["scenario", "rows", "model", "group", "deviation", "metric", "key", "value",
            "error", "floor", "scored", "estimates", "metrics"]


def deviation(better: str, z: float | None) -> float | None:
    """z signed so that positive means worse than the floor (see the module docstring)."""
    if z is None or not math.isfinite(z):
        return None
    if better == "closest":
        return abs(z)
    return -z if better == "higher" else z


def level(value: float | None) -> int | None:
    """Index into :data:`CLASSES` of a deviation (by its size); None without one (None
    or NaN)."""
    if value is None or math.isnan(value):
        return None
    return next(i for i, (bound, _) in enumerate(CLASSES) if abs(value) <= bound)


def verdict_table(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The worst deviation per scenario, model and metric group.

    Args:
        results: ``{model label: evaluate_model result}``, all on the same scenarios.

    Returns:
        One row per scenario (in the first result's order), model and group of
        :data:`GROUPS` with at least one computed metric. Columns ``scenario, rows,
        model, group, deviation`` (NaN when no estimate of the group has a floor and an
        error), ``metric, key, value, error, floor`` (of the estimate with the largest
        |deviation|), ``scored`` (estimates with a deviation), ``estimates`` (all) and
        ``metrics`` (the group's metrics the result holds, comma-separated).

    Raises:
        ReportError: a result that is not an evaluate_model result.
    """
    if not isinstance(results, Mapping) or not results:
        raise ReportError("verdict_table needs {model label: evaluate_model result}")
    for label, result in results.items():
        if not isinstance(result, Mapping) or not isinstance(result.get("scenarios"), Mapping):
            raise ReportError(f"result {label!r} is not an evaluate_model result "
                              "(no 'scenarios')")
    first = next(iter(results.values()))
    records = []
    for scenario, described in first["scenarios"].items():
        for label, result in results.items():
            entry = result["scenarios"].get(scenario)
            if entry is None:
                raise ReportError(f"result {label!r} has no scenario {scenario!r}; the "
                                  "verdict needs every model on the same scenarios")
            records += _group_rows(scenario, described.get("rows"), label,
                                   entry.get("metrics", {}))
    return pd.DataFrame.from_records(records, columns=_COLUMNS)


def _group_rows(scenario: str, rows: Any, label: str,
                metrics: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[dict]:
    out = []
    for group, members in GROUPS.items():
        present = [(metric, key, est) for metric in members if metric in metrics
                   for key, est in metrics[metric].items()]
        if not present:
            continue
        scored = [(deviation(METRICS[metric].better, est.get("z")), metric, key, est)
                  for metric, key, est in present]
        scored = [item for item in scored if item[0] is not None]
        record = {"scenario": scenario, "rows": rows, "model": label, "group": group,
                  "deviation": None, "metric": None, "key": None, "value": None,
                  "error": None, "floor": None, "scored": len(scored),
                  "estimates": len(present),
                  "metrics": ", ".join(m for m in members if m in metrics)}
        if scored:
            worst, metric, key, est = max(scored, key=lambda item: abs(item[0]))
            record.update(deviation=worst, metric=metric, key=key, value=est.get("value"),
                          error=est.get("error"), floor=est.get("floor"))
        out.append(record)
    return out


# ----------------------------------------------------------------------------- HTML
STYLE = "\n".join(
    [f"table.verdict td.level-{i}, .swatch.level-{i} {{ background: {bg}; color: {fg}; }}"
     for i, (bg, fg) in enumerate(COLOURS)]
    + [f"table.verdict td.no-floor, .swatch.no-floor {{ background: {NO_FLOOR_COLOUR[0]}; "
       f"color: {NO_FLOOR_COLOUR[1]}; }}",
       "table.verdict td, table.verdict th { text-align: center; min-width: 7em; }",
       "table.verdict th.text { text-align: left; min-width: 0; }",
       "table.verdict td.text { text-align: left; }",
       "table.verdict .where { display: block; font-size: .75em; }",
       "table.verdict th small { display: block; font-weight: normal; font-size: .75em; }",
       "ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; "
       "gap: .4em 1.2em; font-size: .9em; }",
       ".swatch { display: inline-block; padding: 0 .5em; border: 1px solid #bbb; "
       "margin-right: .3em; }"])


def _cell(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return '<td class="no-floor">not computed</td>'
    d = row["deviation"]
    if level(d) is None:
        return (f'<td class="no-floor" title="{row["estimates"]} estimate(s), none with a '
                f'noise floor and an error">no floor</td>')
    where = f"{row['metric']} · {row['key']}"
    title = (f"{where}: value {format_value(row['value'])} ± {format_value(row['error'])}, floor "
             f"{format_value(row['floor'])}: {d:+.1f} standard errors ({CLASSES[level(d)][1]}); "
             f"worst of {row['scored']} scored estimate(s) of {row['estimates']}")
    return (f'<td class="level-{level(d)}" title="{html.escape(title, quote=True)}">'
            f'{d:+.1f}<span class="where">{html.escape(where)}</span></td>')


def legend_html() -> str:
    """The colour scale: one swatch per class of |deviation|, then the grey cells."""
    items, low = [], 0.0
    for i, (bound, name) in enumerate(CLASSES):
        span = f"|d| ≤ {bound:g}" if low == 0 else (
            f"{low:g} < |d| ≤ {bound:g}" if math.isfinite(bound) else f"|d| > {low:g}")
        items.append(f'<li><span class="swatch level-{i}">{span}</span>{name}</li>')
        low = bound
    items.append('<li><span class="swatch no-floor">no floor</span>no estimate of the '
                 "group has a noise floor and an error</li>")
    return f'<ul class="legend" aria-label="colour scale">{"".join(items)}</ul>'


def verdict_html(table: pd.DataFrame, caption: str | None = None) -> str:
    """The verdict as a coloured HTML table: one row per scenario and model, one column
    per group of :data:`GROUPS` present in ``table`` (:func:`verdict_table`). Every
    cell prints its deviation and where it comes from; colour only repeats it."""
    groups = [g for g in GROUPS if g in set(table["group"])]
    shown = {g: [m for m in GROUPS[g] if any(m in text.split(", ") for text in
                                               table.loc[table["group"] == g, "metrics"])]
             for g in groups}
    header = "".join(f'<th scope="col">{html.escape(g)}<small>{html.escape(", ".join(shown[g]))}'
                     f"</small></th>" for g in groups)
    cells = {(r["scenario"], r["model"], r["group"]): r for r in table.to_dict("records")}
    order = list(dict.fromkeys(zip(table["scenario"], table["model"], strict=True)))
    per_scenario = pd.Series([s for s, _ in order]).value_counts()
    rows, seen = [], set()
    for scenario, model in order:
        first = scenario not in seen
        seen.add(scenario)
        head = ""
        if first:
            count = table.loc[table["scenario"] == scenario, "rows"].iloc[0]
            rows_text = f"{int(count):,} rows" if pd.notna(count) else ""
            head = (f'<th class="text" scope="row" rowspan="{per_scenario[scenario]}">'
                    f'{html.escape(str(scenario))}<small>{rows_text}</small></th>')
        body = "".join(_cell(cells.get((scenario, model, g))) for g in groups)
        rows.append(f'<tr>{head}<td class="text">{html.escape(str(model))}</td>{body}</tr>')
    caption_html = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<table class="verdict">{caption_html}<thead><tr>'
            f'<th class="text" scope="col">scenario</th><th class="text" scope="col">model</th>'
            f'{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>')

