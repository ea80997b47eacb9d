"""Evaluation results as tables: one result as a long table, several models side by side
with the best one named."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .distributions import EvaluationError
from .metrics import METRICS

__all__ = ["compare", "results_table"]

_ESTIMATE_FIELDS = ("value", "error", "floor", "floor_error", "z")


def _check_result(result: Any, name: str) -> None:
    if not isinstance(result, Mapping) or not isinstance(result.get("scenarios"), Mapping):
        raise EvaluationError(f"{name} is not an evaluate_model result (no 'scenarios')")


def results_table(result: Mapping[str, Any]) -> pd.DataFrame:
    """One evaluation as a long table (for CSV): one row per scenario, metric and key.

    Columns: ``scenario, rows, metric, key, value, error, floor, floor_error, z, note``.
    """
    _check_result(result, "result")
    records = []
    for scenario_name, entry in result["scenarios"].items():
        for metric, keyed in entry["metrics"].items():
            for key, est in keyed.items():
                records.append({"scenario": scenario_name, "rows": entry["rows"],
                                "metric": metric, "key": key,
                                **{f: est.get(f) for f in _ESTIMATE_FIELDS},
                                "note": est.get("note", "")})
    columns = ["scenario", "rows", "metric", "key", *_ESTIMATE_FIELDS, "note"]
    return pd.DataFrame.from_records(records, columns=columns)


def _score(better: str, value: float, floor: float | None) -> float:
    """A model's standing on one metric: smaller is better."""
    if better == "lower":
        return value
    if better == "closest" and floor is not None:
        return abs(value - floor)
    return -value  # "higher", or "closest" without a floor (PCC on real data)


def compare(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Models side by side: one row per scenario, metric and key; which one is best.

    Args:
        results: ``{model name: evaluate_model result}``, all on the same catalog (checked
            by fingerprint) and, for comparable floors, with the same seed.

    Returns:
        DataFrame with columns ``scenario, metric, key``, then for every model ``<name>``
        (value) and ``<name>_error``, then ``floor`` (the first model's; identical for
        equal seeds), ``best`` (model name; by the metric's direction, :data:`METRICS`:
        lowest, highest, or closest to the floor; PCC without a floor: highest) and
        ``clear`` (True when the best beats the runner-up by more than twice their
        combined standard error; None with a single model or missing errors).
    """
    if not isinstance(results, Mapping) or not results:
        raise EvaluationError("compare needs a non-empty mapping {model name: result}")
    for name, result in results.items():
        _check_result(result, f"result {name!r}")
    prints = {name: r.get("catalog", {}).get("fingerprint") for name, r in results.items()}
    if len(set(prints.values())) > 1:
        raise EvaluationError(f"the results were computed on different catalogs "
                              f"(fingerprints {prints}); compare needs one catalog")
    names = list(results)
    table: dict[tuple[str, str, str], dict[str, Any]] = {}
    for name, result in results.items():
        for scenario_name, entry in result["scenarios"].items():
            for metric, keyed in entry["metrics"].items():
                for key, est in keyed.items():
                    row = table.setdefault((scenario_name, metric, key), {})
                    row[name] = est.get("value")
                    row[f"{name}_error"] = est.get("error")
                    if row.get("floor") is None:
                        row["floor"] = est.get("floor")
    records = []
    for (scenario_name, metric, key), row in table.items():
        better = METRICS[metric].better if metric in METRICS else "lower"
        scored = sorted((_score(better, row[n], row.get("floor")), n) for n in names
                        if row.get(n) is not None and math.isfinite(row[n]))
        best = scored[0][1] if scored else None
        clear = None
        if len(scored) > 1:
            (s1, n1), (s2, n2) = scored[0], scored[1]
            e1, e2 = row.get(f"{n1}_error"), row.get(f"{n2}_error")
            if e1 is not None and e2 is not None:
                clear = bool(s2 - s1 > 2 * math.hypot(e1, e2))
        records.append({"scenario": scenario_name, "metric": metric, "key": key,
                        **{c: row.get(c) for n in names for c in (n, f"{n}_error")},
                        "floor": row.get("floor"), "best": best, "clear": clear})
    columns = ["scenario", "metric", "key", *[c for n in names for c in (n, f"{n}_error")],
               "floor", "best", "clear"]
    return pd.DataFrame.from_records(records, columns=columns)
