"""Evaluate a conditional model on a catalog: every metric on every scenario, as one
JSON-ready dict; compare several models side by side.

``evaluate_model(model, catalog)`` draws ``n_samples`` targets per catalog row from the
model, then for each scenario (a selection of rows, :mod:`.scenarios`) scores the draws
against the catalog's true targets: 1-D, 2-D and joint distribution distances, PCC,
calibration (PIT, coverage), held-out NLL. Every number comes with its standard error and
its noise floor (:class:`~.distributions.Estimate`). With a synthetic catalog (its
truth model in ``catalog.meta.truth``) the floors are computed from independent truth
draws on the same halos, and the NLL is also compared with the truth's. The catalog
must be *held out* from the model's training: nothing here can tell.

The truth model itself is accepted as a model (:class:`TruthConditional`): it scores
at the noise floor, which is how the floors are validated.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..catalog import Catalog
from ..catalog.schema import COLUMNS, GALAXY, HALO
from ..models.base import column_matrix, table_of
from ..sim.truth import TruthModel
from . import calibration as cal
from . import distributions as dist
from .distributions import Estimate, EvaluationError
from .importance import permutation_importance
from .metrics import DEFAULT_METRICS, JOINT, METRICS, MetricInfo, pair_key
from .regions import DEFAULT_MASS_EDGES, mass_edges_of, region_scores, regions_result
from .scenarios import PRESETS, Scenario, ScenarioError, describe
from .scenarios import scenarios as as_scenarios
from .tables import compare, results_table
from .truth import COUNT_TARGET, TruthConditional, as_model, catalog_truth, truth_conditional

__all__ = [
    "DEFAULT_METRICS",
    "JOINT",
    "METRICS",
    "MetricInfo",
    "TruthConditional",
    "as_model",
    "catalog_fingerprint",
    "catalog_truth",
    "compare",
    "evaluate_model",
    "pair_key",
    "results_table",
]


def catalog_fingerprint(table: pd.DataFrame) -> str:
    """SHA-256 (first 16 hex digits) of the catalog's known numeric columns."""
    names = [c for c in COLUMNS if c in table.columns]
    values = np.ascontiguousarray(table[names].to_numpy(dtype=np.float64))
    return hashlib.sha256(",".join(names).encode() + values.tobytes()).hexdigest()[:16]


# ----------------------------------------------------------------------------- evaluation
@dataclass
class _Inputs:
    """Everything drawn once for the whole catalog; scenarios index rows of it."""

    x: np.ndarray  # (rows, conditions)
    y: np.ndarray  # (rows, targets), the true values
    draws: np.ndarray  # (n_samples, rows, targets) model draws
    floor_draws: np.ndarray | None  # (repeats, rows, targets) truth draws
    pit: dict[str, np.ndarray] | None  # conditional PIT per target, (rows,)
    pit_method: str  # "exact CDF", "randomised rank among K draws", "" (no PIT metric)
    log_prob: np.ndarray | None  # model, (rows,)
    truth_log_prob: np.ndarray | None  # truth, (rows,)


def _check_settings(metrics: Iterable[str], n_samples: int, repeats: int,
                    pit_samples: int | None) -> tuple[str, ...]:
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise EvaluationError(f"unknown metrics {unknown or '[]'}; known: {', '.join(METRICS)}")
    checks = [("repeats", repeats, 2), ("n_samples", n_samples, repeats)]
    if pit_samples is not None:
        checks.append(("pit_samples", pit_samples, 1))
    for name, value, low in checks:
        if isinstance(value, bool) or int(value) != value or value < low:
            raise EvaluationError(f"{name} must be an integer >= {low}, got {value}")
    return metrics


def _resolve_truth(truth: Any, catalog: Catalog | pd.DataFrame, model: Any) -> TruthModel | None:
    if truth is None:
        return None
    if isinstance(truth, str):
        if truth != "auto":
            raise EvaluationError(f"truth must be 'auto', None or a TruthModel, got {truth!r}")
        return catalog_truth(catalog, model.target)
    if not isinstance(truth, TruthModel):
        raise EvaluationError(f"truth must be 'auto', None or a TruthModel, got "
                              f"{type(truth).__name__}")
    missing = [h for h in HALO if h not in table_of(catalog)]
    counts = tuple(model.target) == COUNT_TARGET and truth.satellites is not None
    if missing or (not counts and any(name not in GALAXY for name in model.target)):
        raise EvaluationError(f"the truth model needs halo columns {list(HALO)} and galaxy "
                              f"targets; catalog lacks {missing}, targets {list(model.target)}")
    return truth


def _draw(model: Any, table: pd.DataFrame, n: int, seed: int, rows: int,
          targets: int) -> np.ndarray:
    draws = np.asarray(model.sample(table, n, seed), dtype=float)
    if draws.shape != (n, rows, targets):
        raise EvaluationError(f"{model!r}.sample returned shape {draws.shape}, expected "
                              f"{(n, rows, targets)}")
    bad = ~np.isfinite(draws)
    if bad.any():
        raise EvaluationError(f"{model!r} drew {bad.sum()} NaN or inf values")
    return draws


def _prepare(model, table, truth, metrics, n_samples, repeats, pit_samples,
             streams) -> _Inputs:
    x = column_matrix(table, model.condition, "condition")
    y = column_matrix(table, model.target, "target")
    draws = _draw(model, table, n_samples, int(streams["sample"].generate_state(1)[0]),
                  len(y), y.shape[1])
    floor_draws = None
    if truth is not None:
        floor_draws = truth_conditional(truth, model.target).sample(
            table, repeats, np.random.default_rng(streams["floor"]))
    pit, method = None, ""
    if {"pit", "coverage68", "coverage95"} & set(metrics):
        pit, method = cal.conditional_pit(model, table, table, n_samples=pit_samples,
                                          seed=int(streams["pit"].generate_state(1)[0]))
    log_prob = truth_lp = None
    if {"nll", "nll_vs_truth"} & set(metrics):
        log_prob = np.asarray(model.log_prob(table, table), dtype=float)
        if truth is not None:
            truth_lp = truth_conditional(truth, model.target).log_prob(table, table)
    return _Inputs(x, y, draws, floor_draws, pit, method, log_prob, truth_lp)


def _scenario_metrics(data: _Inputs, rows: np.ndarray, target: tuple[str, ...],
                      metrics: tuple[str, ...], repeats: int, caps: dict[str, int | None],
                      seed: int, has_truth: bool) -> tuple[dict, dict]:
    """(metrics {name: {key: Estimate}}, details) for one scenario's rows."""
    y = data.y[rows]
    draws = data.draws[:repeats, rows]
    floor = None if data.floor_draws is None else data.floor_draws[:, rows]
    scale = y.std(axis=0)
    out: dict[str, dict[str, Estimate]] = {}
    details: dict[str, Any] = {}

    def repeated(statistic, columns, null_exponent=0.5, cap=None):
        return dist.repeated_estimate(
            statistic, draws[..., columns], y[:, columns],
            None if floor is None else floor[..., columns], null_exponent=null_exponent,
            max_points=cap, seed=seed)

    for name, statistic in (("ks", dist.ks_1d), ("wasserstein", dist.wasserstein_1d)):
        if name in metrics:
            out[name] = {t: repeated(statistic, [j]) for j, t in enumerate(target)}
    if "pcc" in metrics:
        out["pcc"] = {t: repeated(dist.pearson_r, [j], null_exponent=None)
                      for j, t in enumerate(target)}
    pairs = list(itertools.combinations(range(len(target)), 2))
    if "ks2d" in metrics and pairs:
        cap = caps["ks2d"]
        ks2d = functools.partial(dist.ks_2d, max_points=cap, seed=seed)
        out["ks2d"] = {pair_key(target[i], target[j]): repeated(ks2d, [i, j], cap=cap)
                       for i, j in pairs}
    if "energy2d" in metrics and pairs:
        out["energy2d"] = {}
        for i, j in pairs:
            energy = functools.partial(dist.energy_distance, scale=scale[[i, j]],
                                       max_points=caps["energy"], seed=seed)
            out["energy2d"][pair_key(target[i], target[j])] = repeated(energy, [i, j],
                                                                       cap=caps["energy"])
    if "energy" in metrics:
        energy = functools.partial(dist.energy_distance, scale=scale,
                                   max_points=caps["energy"], seed=seed)
        out["energy"] = {JOINT: repeated(energy, list(range(len(target))),
                                         cap=caps["energy"])}
    if "c2st" in metrics:
        out["c2st"] = {JOINT: dist.classifier_two_sample(draws[0], y, seed=seed)}
    if "c2st_conditional" in metrics:
        x = data.x[rows]
        out["c2st_conditional"] = {JOINT: dist.classifier_two_sample(
            np.column_stack([x, draws[0]]), np.column_stack([x, y]), seed=seed)}
    if data.pit is not None:
        pit = {t: data.pit[t][rows] for t in target}
        summary = cal.calibration_summary(pit, method=data.pit_method)
        out.update({name: summary[name] for name in ("pit", "coverage68", "coverage95")
                    if name in metrics})
        details["pit_histogram"] = {t: cal.pit_histogram(pit[t]) for t in target}
    if "pit_marginal" in metrics:
        every = data.draws[:, rows]
        marginal = {t: cal.marginal_pit(every[..., j].ravel(), y[:, j], seed + j)
                    for j, t in enumerate(target)}
        out["pit_marginal"] = {t: cal.pit_flatness(p) for t, p in marginal.items()}
        details["pit_marginal_histogram"] = {t: cal.pit_histogram(p)
                                             for t, p in marginal.items()}
    if data.log_prob is not None:
        truth_lp = None if data.truth_log_prob is None else data.truth_log_prob[rows]
        if "nll" in metrics:
            out["nll"] = {JOINT: cal.nll(data.log_prob[rows], truth_lp)}
        if "nll_vs_truth" in metrics and has_truth:
            out["nll_vs_truth"] = {JOINT: cal.nll_difference(data.log_prob[rows], truth_lp)}
    return out, details


def _scenario_list(specs, table: pd.DataFrame, min_rows: int) -> tuple[list[Scenario], dict]:
    """Scenarios to evaluate, and skipped presets {name: reason}."""
    if specs is None:
        chosen, skipped = [], {}
        for preset in PRESETS.values():
            try:
                preset.rows(table, min_rows)
            except ScenarioError as err:
                skipped[preset.name] = str(err)
            else:
                chosen.append(preset)
        if not chosen:
            raise ScenarioError(f"no preset scenario selects {min_rows} rows: "
                                f"{'; '.join(skipped.values())}")
        return chosen, skipped
    chosen = as_scenarios(specs)
    for s in chosen:
        s.rows(table, min_rows)
    return chosen, {}


def evaluate_model(
    model: Any, catalog: Catalog | pd.DataFrame, *,
    scenarios: Iterable[str | Scenario] | str | Scenario | None = None,
    n_samples: int = 10, repeats: int = 5, seed: int = 0, pit_samples: int | None = None,
    metrics: Iterable[str] = DEFAULT_METRICS, truth: TruthModel | str | None = "auto",
    max_points: int | None = dist.MAX_POINTS, ks2d_points: int | None = dist.KS2D_POINTS,
    importance: bool = True,
    importance_rows: int | None = 2000, min_rows: int = 20,
    progress: Callable[[str], None] | None = None,
    mass_edges: str | Iterable[float] = DEFAULT_MASS_EDGES,
) -> dict[str, Any]:
    """Score a model against the true targets of a (held-out) catalog.

    Args:
        model: a fitted ConditionalModel, a :class:`TruthModel` or a
            :class:`TruthConditional`; its condition and target columns must be in the
            catalog.
        catalog: the rows to score (a Catalog, whose ``meta.truth`` enables the
            truth-based floors and NLL, or a DataFrame).
        scenarios: preset names, selection texts or :class:`Scenario` objects; each must
            select at least ``min_rows`` rows (else :class:`ScenarioError`). None: every
            preset of :data:`~.scenarios.PRESETS` that selects ``min_rows`` rows (the
            others are listed under ``"skipped"``).
        n_samples: model draws per row for the distribution metrics and the marginal
            PIT (>= repeats). The cost of a slow sampler is n_samples x rows draws.
        pit_samples: draws per row for the conditional PIT and the coverage of a model
            without an exact ``cdf`` (None: :func:`~.calibration.pit_draws`, 800, enough
            for the 95% region; see :mod:`.calibration`). A model with a ``cdf`` method
            (the truth) uses it and draws nothing; ``settings["pit_method"]`` and each
            PIT/coverage entry's ``note`` say which was used.
        repeats: draws (of the model, and of the truth for the floor) scored by the
            distribution metrics; value and floor are means over them (>= 2).
        seed: one seed for everything random; the same seed gives the same numbers.
        metrics: names from :data:`METRICS` (default :data:`DEFAULT_METRICS`).
        truth: ``"auto"`` (the catalog's truth model if it has one and the targets are
            galaxy columns), None (ignore any truth: floors from split halves), or a
            :class:`TruthModel`.
        max_points: subsample cap (rows) of the O(n^2) energy distances.
        ks2d_points: subsample cap (rows) of the 2-D KS statistic (O(n log^2 n)).
        importance: also compute permutation feature importance on the whole catalog.
        importance_rows: row cap for the importance (None: all rows).
        min_rows: fewest rows a scenario may select.
        progress: callback receiving a short message per stage.
        mass_edges: halo-mass bin edges (log10 Msun/h) of the scores by region
            (:mod:`.regions`).

    Returns:
        A JSON-ready dict::

            {"galhalo_version", "model": {"family", "condition", "target"},
             "catalog": {"rows", "source", "fingerprint", "truth": bool},
             "settings": {"n_samples", "pit_samples", "pit_method", "repeats", "seed",
                          "metrics", "max_points", "ks2d_points", "importance_rows",
                          "floor": "truth draws" | "split halves"},
             "scenarios": {name: {"name", "selection", "description", "rows",
                                  "metrics": {metric: {key: Estimate.to_dict()}},
                                  "details": {"pit_histogram": {target: {...}}, ...}}},
             "skipped": {name: reason},
             "importance": {...permutation_importance, Estimates as dicts...} | None,
             "regions": {"quantity", "error", "mass_edges", "skipped",
                         "table": [{"kind", "region", "selection", "rows", "value",
                                    "error", "share", "note"}]} | None}

        ``key`` is a target column, a pair ``"smass:color"`` or ``"joint"``
        (:data:`METRICS` gives each metric's kind and direction). ``regions`` (when the
        NLL is among the metrics): the NLL gap to the truth (or, without a truth, the
        NLL) per halo-mass bin, sSFR population and in the worst 1% of rows
        (:func:`~.regions.region_scores`), over every row of the catalog.
    """
    say = progress or (lambda message: None)
    model = as_model(model)
    metrics = _check_settings(metrics, n_samples, repeats, pit_samples)
    table = table_of(catalog)
    if not isinstance(table, pd.DataFrame):
        table = pd.DataFrame(dict(table))
    truth_model = _resolve_truth(truth, catalog, model)
    if isinstance(min_rows, bool) or int(min_rows) != min_rows or min_rows < 8:
        raise EvaluationError(f"min_rows must be an integer >= 8, got {min_rows}")
    mass_edges = mass_edges_of(mass_edges)  # bad edges fail before any work
    chosen, skipped = _scenario_list(scenarios, table, int(min_rows))
    ss = np.random.SeedSequence(seed)
    streams = dict(zip(("sample", "floor", "pit", "stats", "importance"), ss.spawn(5),
                       strict=True))
    say(f"drawing {n_samples} samples for {len(table):,} rows")
    pit_samples = None if pit_samples is None else int(pit_samples)
    data = _prepare(model, table, truth_model, metrics, int(n_samples), int(repeats),
                    pit_samples, streams)
    stats_seed = int(streams["stats"].generate_state(1)[0])
    caps = {"energy": max_points, "ks2d": ks2d_points}
    results: dict[str, Any] = {}
    for s in chosen:
        say(f"scenario {s.label()}")
        rows = s.rows(table, int(min_rows))
        values, details = _scenario_metrics(data, rows, tuple(model.target), metrics,
                                            int(repeats), caps, stats_seed,
                                            truth_model is not None)
        results[s.name] = {**describe(s, table), "details": details, "metrics": {
            metric: {key: est.to_dict() for key, est in values[metric].items()}
            for metric in metrics if metric in values}}
    importance_result = None
    if importance:
        say("permutation feature importance")
        importance_result = _jsonable(permutation_importance(
            model, table, repeats=int(repeats),
            seed=int(streams["importance"].generate_state(1)[0]), max_rows=importance_rows))
    regions = None
    if data.log_prob is not None:
        regions = regions_result(region_scores(data.log_prob, data.truth_log_prob, table,
                                               mass_edges), mass_edges)
    meta = catalog.meta if isinstance(catalog, Catalog) else None
    return {
        "galhalo_version": __version__,
        "model": {"family": getattr(model, "family", type(model).__name__),
                  "condition": list(model.condition), "target": list(model.target)},
        "catalog": {"rows": len(table), "source": meta.source if meta else "",
                    "fingerprint": catalog_fingerprint(table),
                    "truth": truth_model is not None},
        "settings": {"n_samples": int(n_samples), "pit_samples": pit_samples,
                     "pit_method": data.pit_method,
                     "repeats": int(repeats), "seed": int(seed),
                     "metrics": list(metrics), "max_points": max_points,
                     "ks2d_points": ks2d_points, "importance_rows": importance_rows,
                     "floor": "truth draws" if truth_model is not None else "split halves"},
        "scenarios": results,
        "skipped": skipped,
        "importance": importance_result,
        "regions": regions,
    }


def _jsonable(obj: Any) -> Any:
    """Estimates as dicts, non-finite floats as None (e.g. -inf log-likelihoods)."""
    if isinstance(obj, Estimate):
        return obj.to_dict()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {key: _jsonable(value) for key, value in obj.items()}
    return obj


