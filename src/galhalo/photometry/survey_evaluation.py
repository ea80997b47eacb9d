"""Score a fitted survey classifier on an observed catalog: every figure of issue #21's
evaluation in one JSON-ready dictionary (``galhalo survey evaluate``, the benchmark).

:func:`survey_scores` combines the functions of :mod:`.survey_metrics`: purity,
completeness and F1 per class overall and per r bin (true ``mag_r``, bins
:data:`~.survey_metrics.R_BINS`), the confusion matrix (counts and row fractions), the
purity-completeness curve of the high-z quasars (threshold scan of p(qso_high)) and its
best-F1 point, quasar redshift σ_NMAD / outliers / bias overall and per r bin, and the
reliability curve with the expected calibration error. :data:`PUBLISHED_F1` holds the
published J-PAS mock figures drawn beside ours (Martínez-Solaeche et al. 2023,
arXiv:2303.12684, ANN1; /work/shared/REFERENCES.md). ``galhalo.files.to_jsonable(scores,
nan_as_none=True)`` turns the result into strict JSON (an undefined score, NaN, becomes
``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .classifiers import QUASARS, SurveyClassifier, class_index
from .sources import CLASSES
from .survey_metrics import (
    R_BINS,
    class_scores,
    confusion,
    purity_completeness_curve,
    redshift_scores,
    reliability,
)

__all__ = ["PUBLISHED_F1", "PUBLISHED_REFERENCE", "survey_scores"]

#: Martínez-Solaeche et al. 2023 (arXiv:2303.12684), ANN1 on J-PAS mocks: F1 per r bin
#: 17-20, 20-22.5, 22.5-23.6 (the bins of :data:`~.survey_metrics.R_BINS`).
PUBLISHED_F1: dict[str, tuple[float, float, float]] = {
    "qso_high": (0.99, 0.93, 0.63), "qso_low": (0.97, 0.82, 0.61)}
PUBLISHED_REFERENCE = "Martínez-Solaeche et al. 2023 (arXiv:2303.12684), ANN1"


def survey_scores(model: SurveyClassifier, frame: pd.DataFrame,
                  priors: Sequence[float] | None = None) -> dict[str, Any]:
    """Every score of ``model`` on the observed catalog ``frame``.

    Args:
        model: a fitted survey classifier.
        frame: observed sources with ``source_class``, ``redshift``, ``mag_r`` (true r,
            AB) and the model's ``flux_<f>``, ``flux_err_<f>`` columns.
        priors: class fractions of the target sample (see
            :meth:`SurveyClassifier.predict_proba`); None: the training fractions.

    Returns:
        ``classes`` (:func:`~.survey_metrics.class_scores` with the r bins),
        ``macro_f1``, ``confusion`` (row fractions, rows true), ``confusion_counts``,
        ``redshift`` (all quasars; None without quasars), ``redshift_bins`` (per r bin,
        None where empty), ``ece``, ``reliability`` (``confidence``, ``accuracy``,
        ``count`` per probability bin), ``qso_high_curve`` (``threshold``, ``purity``,
        ``completeness``, ``f1``, ``selected``), ``qso_high_best`` (the point of best
        F1; None without a defined F1). NaN marks an undefined score
        (``to_jsonable(..., nan_as_none=True)`` writes it as None).
    """
    truth = frame["source_class"].to_numpy().astype(str)
    probabilities = model.predict_proba(frame, priors)
    predicted = np.asarray(CLASSES)[probabilities.argmax(axis=1)]
    magnitude = frame["mag_r"].to_numpy(dtype=float)
    by_class = class_scores(truth, predicted, CLASSES, magnitude)
    quasar = np.isin(truth, QUASARS)
    z_true = frame["redshift"].to_numpy(dtype=float)
    z_estimate = model.predict_redshift(frame)
    curve = purity_completeness_curve(truth == "qso_high", probabilities[:, CLASSES.index(
        "qso_high")])
    best = None
    if np.isfinite(curve["f1"]).any():
        at = int(np.nanargmax(curve["f1"]))
        best = {k: float(curve[k][at]) for k in ("threshold", "purity", "completeness", "f1")}
    calibration = reliability(class_index(truth), probabilities)
    with np.errstate(invalid="ignore"):
        f1 = [by_class["all"][c]["f1"] for c in CLASSES]
        macro = float(np.nanmean(f1)) if np.isfinite(f1).any() else np.nan
    return {
        "classes": by_class, "macro_f1": macro,
        "confusion": confusion(truth, predicted, CLASSES, normalize="true").tolist(),
        "confusion_counts": confusion(truth, predicted, CLASSES).astype(int).tolist(),
        "redshift": (redshift_scores(z_true[quasar], z_estimate[quasar])
                     if quasar.any() else None),
        "redshift_bins": [redshift_scores(z_true[rows], z_estimate[rows]) if rows.any()
                          else None
                          for rows in (quasar & (magnitude >= lo) & (magnitude < hi)
                                       for lo, hi in R_BINS)],
        "ece": calibration["ece"],
        "reliability": {k: calibration[k] for k in ("confidence", "accuracy", "count")},
        "qso_high_curve": {k: curve[k] for k in ("threshold", "purity", "completeness", "f1",
                                                 "selected")},
        "qso_high_best": best}
