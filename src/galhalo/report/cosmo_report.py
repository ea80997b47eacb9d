"""The HTML page of ``galhalo cosmo evaluate``: a cosmology GNN's scores per suite.

Sections: the model (parameters, systematics, graph settings, training suite,
validation scores before and after the std calibration, and its factors), the score
table (R², mean relative error, mean relative uncertainty, χ², 1σ/2σ coverage per suite
and parameter, with the nominal coverages next to it), the predicted-vs-true figure with
error bars, and the loss curve. One self-contained file (PNG data URIs), written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ..cosmo.calibration import validation_scores
from .cosmo_figure import predicted_vs_true
from .html import HtmlReport

#: Nominal coverage of the 1σ and 2σ intervals of a Gaussian posterior.
NOMINAL = {"coverage_1sigma": 0.683, "coverage_2sigma": 0.954}


def score_table(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (suite, parameter) with the scores of ``posterior_metrics``."""
    rows = []
    for label, result in results.items():
        for name, s in result["metrics"].items():
            rows.append({"suite": label, "parameter": name, "boxes": int(s["boxes"]),
                         "R²": s["r2"], "rel. error": s["mean_relative_error"],
                         "⟨σ/μ⟩": s["mean_relative_uncertainty"], "χ²": s["chi2"],
                         "1σ coverage": s["coverage_1sigma"],
                         "2σ coverage": s["coverage_2sigma"]})
    return pd.DataFrame(rows)


def validation_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`score_table` of a fitted model's validation scores (``model.metrics``),
    labelled by :func:`galhalo.cosmo.calibration.validation_scores`: calibrated
    (leave-one-out, or in-sample for older models) and, when recorded, uncalibrated."""
    return score_table(validation_scores(metrics))


def _loss_figure(history: list[Mapping[str, float]]) -> Figure:
    """Training and validation loss per epoch; one pair of lines per ensemble member."""
    figure = Figure(figsize=(5.5, 3.4), layout="constrained")
    axis = figure.add_subplot()
    members = sorted({int(h.get("member", 0)) for h in history})
    for member in members:
        rows = [h for h in history if int(h.get("member", 0)) == member]
        epochs = [h["epoch"] for h in rows]
        suffix = f", member {member}" if len(members) > 1 else ""
        color = axis.plot(epochs, [h["train"] for h in rows], label="training" + suffix)[0]
        axis.plot(epochs, [h["valid"] for h in rows], linestyle="--",
                  color=color.get_color(), label="validation" + suffix)
    axis.set(xlabel="epoch", ylabel="moment loss")
    axis.legend(fontsize="small")
    return figure


def cosmo_report(model: Any, results: Mapping[str, Mapping[str, Any]],
                 suites: Mapping[str, str | Path], command: str = "") -> HtmlReport:
    """The page for a fitted ``CosmoGNN`` and its ``evaluate_suites`` results
    (``suites``: label -> path, for the summary)."""
    report = HtmlReport("galhalo cosmology GNN evaluation", subtitle=command)
    valid = model.metrics.get("valid", {})
    report.section("Model", (
        f"Parameters: {', '.join(model.parameter_names)}. Trained on "
        f"{model.metrics.get('suite', 'an unnamed suite')} "
        f"({model.metrics.get('train_boxes', '?')} training and "
        f"{model.metrics.get('valid_boxes', '?')} validation boxes, "
        f"{model.metrics.get('epochs', '?')} epochs, best "
        f"{model.metrics.get('best_epoch', '?')}). Systematics: "
        f"{model.systematics.to_dict()}. Hyperparameters: {model.hyperparameters}."))
    if valid:
        factors = ", ".join(f"{name} × {factor:.3f}" for name, factor
                            in model.metrics.get("std_scale", {}).items())
        report.table(validation_table(model.metrics), caption=(
            "scores on the validation boxes (used for early stopping"
            + (f" and to calibrate the stds: {factors}; calibrated scores use, for each "
               "box, the factor fitted on the other boxes" if factors else "") + ")"))
    report.section("Scores per suite", (
        "R² and relative error judge the posterior means; χ² (mean of squared "
        "standardised residuals, 1 when calibrated) and the coverage of the 1σ/2σ "
        f"intervals (nominal {NOMINAL['coverage_1sigma']:.3f} / "
        f"{NOMINAL['coverage_2sigma']:.3f}) judge the posterior widths. Suites: "
        + "; ".join(f"{label} = {path}" for label, path in suites.items()) + "."))
    report.table(score_table(results))
    report.section("Predicted against true")
    report.figure(predicted_vs_true(results, model.parameter_names),
                  caption="posterior mean ± 1σ against the true value, per suite")
    if model.history:
        report.section("Training")
        report.figure(_loss_figure(model.history), caption="moment loss per epoch")
    return report
