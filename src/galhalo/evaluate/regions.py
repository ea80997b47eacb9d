"""Scores by region: where in halo mass and in sSFR a model loses its likelihood.

A model's mean held-out NLL (or, with a known truth, its mean excess over the truth's
NLL, an estimate of KL(truth || model) in nats per galaxy) hides where it fails: on
TNG-like data the excess of a flow is 0.05 nats in the star-forming bulk but 0.5 above
M_h = 13 (issue 20). :func:`region_scores` splits the per-row values by

* halo-mass bin, ``lo <= M_h < hi`` for consecutive edges of :data:`DEFAULT_MASS_EDGES`
  (log10 Msun/h; configurable);
* sSFR population (:data:`SSFR_POPULATIONS`, log10 1/yr, the catalog's true sSFR):
  quenched ``sSFR <= -11``, green valley ``-11 < sSFR <= -10.5``, star-forming
  ``-10.5 < sSFR < -9`` and starburst ``sSFR >= -9`` (above the star-forming bulk);
* the worst ``worst_fraction`` (1%) of rows, those with the largest per-row value;

and reports for each the mean per-row value with its error (the standard error of the
mean of the per-row values, ``std(ddof=1) / sqrt(rows)``: held-out rows are independent
draws, so no bootstrap is needed; :func:`~.calibration.nll_difference` and
:func:`~.calibration.nll` compute both) and, with a truth, the region's share of the
total gap (sum of its rows' gaps over the sum of all rows' gaps; a region carrying more
than its share of rows is where the model fails). Regions are
:class:`~.scenarios.Scenario` selections, so any other population is one selection text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EvaluationError, ScenarioError
from ..models.base import Table, table_of
from . import calibration as cal
from .satellite_quenching import QUENCHED_CUTS
from .scenarios import Scenario, parse_selection

__all__ = ["DEFAULT_MASS_EDGES", "REGION_COLUMNS", "SSFR_POPULATIONS", "WORST_FRACTION",
           "mass_bins", "mass_edges_of", "region_scores", "regions_result"]

#: Halo-mass bin edges (log10 M_h, Msun/h): the bins of issue 20's TNG300 measurement.
DEFAULT_MASS_EDGES = (10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 15.0)
#: Share of rows, largest per-row value first, in the "worst rows" region.
WORST_FRACTION = 0.01
_QUENCHED = QUENCHED_CUTS["sSFR"]  # -11: REFERENCES.md
_STAR_FORMING, _STARBURST = -10.5, -9.0
#: The sSFR populations (log10 1/yr), defined once here.
SSFR_POPULATIONS: tuple[Scenario, ...] = (
    parse_selection(f"sSFR<={_QUENCHED:g}", "quenched", "quenched"),
    parse_selection(f"{_QUENCHED:g}<sSFR<={_STAR_FORMING:g}", "green_valley", "green valley"),
    parse_selection(f"{_STAR_FORMING:g}<sSFR<{_STARBURST:g}", "star_forming",
                    "star-forming bulk"),
    parse_selection(f"sSFR>={_STARBURST:g}", "starburst", "above the star-forming bulk"),
)
#: Columns of the :func:`region_scores` table.
REGION_COLUMNS = ("kind", "region", "selection", "rows", "value", "error", "share", "note")


def mass_edges_of(edges: str | Sequence[float]) -> tuple[float, ...]:
    """Halo-mass bin edges (log10 Msun/h) from numbers or text ``"10.5,11,12"``: at
    least two, finite, strictly increasing (else :class:`EvaluationError`)."""
    parts = edges.split(",") if isinstance(edges, str) else edges
    try:
        values = tuple(float(e) for e in parts)
    except (TypeError, ValueError):
        raise EvaluationError(f"mass edges must be numbers, got {edges!r}") from None
    if (len(values) < 2 or not all(math.isfinite(v) for v in values)
            or any(b <= a for a, b in itertools.pairwise(values))):
        raise EvaluationError(f"mass edges must be at least two finite, strictly increasing "
                              f"numbers, got {edges!r}")
    return values


def mass_bins(edges: str | Sequence[float] = DEFAULT_MASS_EDGES) -> list[Scenario]:
    """One :class:`Scenario` ``lo<=M_h<hi`` per pair of consecutive ``edges`` (see
    :func:`mass_edges_of`), named ``"M_h lo-hi"``."""
    return [parse_selection(f"{lo:g}<=M_h<{hi:g}", f"M_h {lo:g}-{hi:g}",
                            f"halo mass {lo:g}-{hi:g}")
            for lo, hi in itertools.pairwise(mass_edges_of(edges))]


def _score(values_lp: np.ndarray, truth_lp: np.ndarray | None, rows: np.ndarray,
           per_row: np.ndarray, total: float | None) -> dict[str, Any]:
    """value, error, share and note of the rows ``rows`` (indices)."""
    if len(rows) < 2:
        return {"rows": len(rows), "value": None, "error": None, "share": None,
                "note": f"{len(rows)} row(s): too few for an error"}
    estimate = (cal.nll(values_lp[rows]) if truth_lp is None
                else cal.nll_difference(values_lp[rows], truth_lp[rows]))
    share = None
    if total is not None and math.isfinite(total) and total != 0:
        share = float(per_row[rows].sum()) / total
    return {"rows": len(rows), "value": estimate.value, "error": estimate.error,
            "share": share, "note": estimate.note}


def region_scores(log_prob_model: Any, log_prob_truth: Any | None, table: Table,
                  mass_edges: str | Sequence[float] = DEFAULT_MASS_EDGES,
                  populations: Sequence[Scenario] = SSFR_POPULATIONS,
                  worst_fraction: float = WORST_FRACTION) -> pd.DataFrame:
    """The NLL gap (or NLL) per halo-mass bin, sSFR population and in the worst rows.

    Args:
        log_prob_model: the model's log-density of every row's true targets, (rows,).
        log_prob_truth: the true log-density of the same rows (a synthetic catalog's
            truth), (rows,), or None when no truth is known.
        table: the scored rows (the catalog), with ``M_h`` and ``sSFR`` for the default
            regions; a region whose column is missing or not finite is skipped and named
            in ``attrs["skipped"]``.
        mass_edges: halo-mass bin edges, log10 Msun/h (see :func:`mass_bins`).
        populations: further regions (default the sSFR populations).
        worst_fraction: share of rows, in (0, 1], in the "worst rows" region (at least
            one row).

    Returns:
        One row per region, columns :data:`REGION_COLUMNS`: ``kind`` ("all", "halo
        mass", "population", "worst rows"), ``region``, ``selection`` (text), ``rows``,
        ``value`` (with a truth: mean of log p_truth - log p_model, nats per galaxy;
        without: mean NLL), ``error`` (standard error of that mean), ``share`` (the
        region's share of the summed gap; None without a truth), ``note`` (e.g. rows
        off the model's support). ``attrs``: ``quantity`` ("nll_vs_truth" or "nll"),
        ``skipped`` ({region: reason}).
    """
    model_lp = np.asarray(log_prob_model, dtype=float).ravel()
    truth_lp = None if log_prob_truth is None else np.asarray(log_prob_truth,
                                                             dtype=float).ravel()
    data = table_of(table)
    n = len(model_lp)
    if truth_lp is not None and len(truth_lp) != n:
        raise EvaluationError(f"log_prob_model has {n} rows, log_prob_truth {len(truth_lp)}")
    if n < 2:
        raise EvaluationError(f"region scores need at least 2 rows, got {n}")
    if isinstance(worst_fraction, bool) or not 0 < float(worst_fraction) <= 1:
        raise EvaluationError(f"worst_fraction must be in (0, 1], got {worst_fraction!r}")
    per_row = -model_lp if truth_lp is None else truth_lp - model_lp
    total = None if truth_lp is None else float(per_row.sum())
    regions = [("all", Scenario("whole", "", (), "all rows"))]
    regions += [("halo mass", s) for s in mass_bins(mass_edges)]
    regions += [("population", s) for s in populations]
    records, skipped = [], {}
    for kind, region in regions:
        try:
            mask = region.mask(data)
        except ScenarioError as err:
            skipped[region.name] = str(err)
            continue
        if len(mask) != n:
            raise EvaluationError(f"the table has {len(mask)} rows, the log-densities {n}")
        records.append({"kind": kind, "region": region.name,
                        "selection": region.selection or "all rows",
                        **_score(model_lp, truth_lp, np.flatnonzero(mask), per_row, total)})
    worst = max(1, math.ceil(float(worst_fraction) * n))
    order = np.argsort(np.where(np.isnan(per_row), -np.inf, per_row), kind="stable")
    records.append({"kind": "worst rows", "region": f"worst {100 * worst_fraction:g}%",
                    "selection": f"the {worst} rows of largest "
                                 f"{'gap' if truth_lp is not None else 'NLL'}",
                    **_score(model_lp, truth_lp, np.sort(order[-worst:]), per_row, total)})
    frame = pd.DataFrame.from_records(records, columns=list(REGION_COLUMNS))
    frame.attrs["quantity"] = "nll" if truth_lp is None else "nll_vs_truth"
    frame.attrs["skipped"] = skipped
    return frame


def regions_result(frame: pd.DataFrame,
                   mass_edges: str | Sequence[float]) -> dict[str, Any]:
    """A :func:`region_scores` table as the JSON-ready ``"regions"`` entry of an
    evaluation: ``quantity``, ``error`` (how the errors are computed), ``mass_edges``,
    ``skipped`` and ``table`` (one dict per region; non-finite numbers as None)."""
    def clean(value: Any) -> Any:
        if isinstance(value, float | np.floating):
            return float(value) if math.isfinite(value) else None
        if isinstance(value, np.integer):
            return int(value)
        return value

    return {"quantity": frame.attrs.get("quantity", "nll"),
            "error": "standard error of the mean of the per-row values",
            "mass_edges": list(mass_edges_of(mass_edges)),
            "skipped": dict(frame.attrs.get("skipped", {})),
            "table": [{key: clean(value) for key, value in record.items()}
                      for record in frame.to_dict(orient="records")]}
