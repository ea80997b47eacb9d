"""Scores of a survey classifier: functions of arrays (labels as strings or integers).

* :func:`class_scores`: purity (precision), completeness (recall) and F1 per class,
  overall and per r-magnitude bin (:data:`R_BINS`, the bins of Martínez-Solaeche et al.
  2023, arXiv:2303.12684);
* :func:`purity_completeness_curve`: purity and completeness of one class (the high-z
  quasars) selected by a probability threshold, over a scan of thresholds;
* :func:`confusion`: the confusion matrix (rows true, columns predicted);
* :func:`redshift_scores`: σ_NMAD = 1.48 median(|Δz| / (1 + z)) and the outlier fraction
  |Δz| / (1 + z) > 0.15 (the catastrophic-outlier cut of photometric-redshift work,
  e.g. Ilbert et al. 2006, A&A 457, 841; Hildebrandt et al. 2010);
* :func:`reliability`: the reliability curve of class probabilities and the expected
  calibration error (Guo et al. 2017, ICML: ECE = Σ_b n_b/n |acc_b − conf_b|, bins of the
  top-class probability).

sklearn computes precision, recall, F1 and the confusion matrix; a class absent from
both the truth and the prediction of a bin scores NaN there, not 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import EvaluationError

__all__ = ["OUTLIER_CUT", "R_BINS", "class_scores", "confusion", "purity_completeness_curve",
           "redshift_scores", "reliability"]

#: r-band (rSDSS) magnitude bins of the published J-PAS classification scores.
R_BINS = ((17.0, 20.0), (20.0, 22.5), (22.5, 23.6))
#: |Δz| / (1 + z) above which a redshift is an outlier.
OUTLIER_CUT = 0.15


def _labels(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise EvaluationError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _pair(truth, predicted) -> tuple[np.ndarray, np.ndarray]:
    truth, predicted = _labels(truth, "truth"), _labels(predicted, "predicted")
    if len(truth) != len(predicted):
        raise EvaluationError(f"truth has {len(truth)} rows, predicted {len(predicted)}")
    return truth, predicted


def _scores(truth: np.ndarray, predicted: np.ndarray, classes: Sequence) -> dict:
    from sklearn.metrics import precision_recall_fscore_support

    result = {}
    if len(truth) == 0:
        return {c: {"purity": np.nan, "completeness": np.nan, "f1": np.nan, "support": 0}
                for c in classes}
    purity, completeness, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=list(classes), zero_division=np.nan)
    for i, c in enumerate(classes):
        n_pred = int(np.sum(predicted == c))
        n_true = int(support[i])
        result[c] = {
            "purity": float(purity[i]) if n_pred else np.nan,
            "completeness": float(completeness[i]) if n_true else np.nan,
            "f1": float(f1[i]) if n_pred + n_true else np.nan,
            "support": n_true}
    return result


def class_scores(truth, predicted, classes: Sequence, magnitude=None,
                 bins: Sequence[tuple[float, float]] = R_BINS) -> dict:
    """Purity, completeness, F1 and support (true count) per class.

    Args:
        truth, predicted: (n,) labels.
        classes: the labels to score, in order.
        magnitude: (n,) r magnitudes; when given, the scores are also computed per bin.
        bins: (low, high) magnitude bins, low <= m < high.

    Returns:
        ``{"all": {class: {...}}, "bins": [{"low", "high", "n", "scores": {class:
        {...}}}, ...]}`` (``bins`` empty without ``magnitude``). A score undefined
        (no true and no predicted member) is NaN.
    """
    truth, predicted = _pair(truth, predicted)
    result = {"all": _scores(truth, predicted, classes), "bins": []}
    if magnitude is not None:
        magnitude = _labels(magnitude, "magnitude").astype(float)
        if len(magnitude) != len(truth):
            raise EvaluationError(f"magnitude has {len(magnitude)} rows, truth {len(truth)}")
        for low, high in bins:
            keep = (magnitude >= low) & (magnitude < high)
            result["bins"].append({"low": float(low), "high": float(high),
                                   "n": int(keep.sum()),
                                   "scores": _scores(truth[keep], predicted[keep], classes)})
    return result


def confusion(truth, predicted, classes: Sequence, normalize: str | None = None
              ) -> np.ndarray:
    """(k, k) confusion matrix, rows the true class, columns the predicted one, in the
    order of ``classes``; ``normalize="true"`` divides each row by its total (a row
    without members is NaN)."""
    from sklearn.metrics import confusion_matrix

    truth, predicted = _pair(truth, predicted)
    matrix = confusion_matrix(truth, predicted, labels=list(classes)).astype(float)
    if normalize == "true":
        totals = matrix.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, matrix / totals, np.nan)
    if normalize is not None:
        raise EvaluationError(f"normalize must be None or 'true', got {normalize!r}")
    return matrix


def purity_completeness_curve(is_member, score, thresholds=None) -> dict[str, np.ndarray]:
    """Purity and completeness of the selection ``score >= t`` for each threshold t.

    Args:
        is_member: (n,) bool, the true members of the class (e.g. high-z quasars).
        score: (n,) the classifier's probability of the class.
        thresholds: (t,) increasing thresholds; default 0.00, 0.01, …, 0.99.

    Returns:
        ``threshold``, ``purity`` (NaN where nothing is selected), ``completeness``,
        ``f1`` and ``selected`` (count), each (t,).
    """
    member = _labels(is_member, "is_member").astype(bool)
    score = _labels(score, "score").astype(float)
    if len(member) != len(score):
        raise EvaluationError(f"is_member has {len(member)} rows, score {len(score)}")
    if thresholds is None:
        thresholds = np.round(np.arange(100) / 100, 2)
    thresholds = np.asarray(thresholds, dtype=float)
    selected = score[None, :] >= thresholds[:, None]
    true_positive = (selected & member[None, :]).sum(axis=1).astype(float)
    n_selected = selected.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        purity = np.where(n_selected > 0, true_positive / n_selected, np.nan)
        completeness = true_positive / member.sum() if member.any() else np.full(
            len(thresholds), np.nan)
        f1 = 2 * purity * completeness / (purity + completeness)
    return {"threshold": thresholds, "purity": purity, "completeness": completeness,
            "f1": f1, "selected": n_selected.astype(int)}


def redshift_scores(z_true, z_estimate, outlier_cut: float = OUTLIER_CUT) -> dict[str, float]:
    """σ_NMAD = 1.48 median(|Δz| / (1 + z_true)), the outlier fraction (|Δz| / (1 + z)
    > ``outlier_cut``) and the mean bias of Δz / (1 + z), with Δz = z_estimate − z_true.

    Raises:
        EvaluationError: mismatched or empty arrays, NaN, or z_true <= -1.
    """
    z_true = _labels(z_true, "z_true").astype(float)
    z_estimate = _labels(z_estimate, "z_estimate").astype(float)
    if len(z_true) != len(z_estimate) or len(z_true) == 0:
        raise EvaluationError(f"z_true has {len(z_true)} rows, z_estimate {len(z_estimate)}; "
                              "need the same number, at least one")
    if not (np.isfinite(z_true).all() and np.isfinite(z_estimate).all()) or (
            z_true <= -1).any():
        raise EvaluationError("redshifts must be finite and z_true > -1")
    scaled = (z_estimate - z_true) / (1 + z_true)
    return {"sigma_nmad": float(1.48 * np.median(np.abs(scaled))),
            "outlier_fraction": float(np.mean(np.abs(scaled) > outlier_cut)),
            "bias": float(np.mean(scaled)), "n": len(z_true)}


def reliability(truth_index, probabilities, n_bins: int = 10) -> dict:
    """Reliability curve and expected calibration error of class probabilities.

    Args:
        truth_index: (n,) integer true class (column of ``probabilities``).
        probabilities: (n, k) class probabilities (rows sum to 1).
        n_bins: equal-width bins of the top-class probability on [0, 1].

    Returns:
        ``confidence`` (mean top probability per bin, NaN if empty), ``accuracy``
        (fraction correct per bin), ``count`` (rows per bin), ``ece`` (count-weighted
        mean |accuracy − confidence|).
    """
    truth_index = _labels(truth_index, "truth_index").astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim != 2 or len(probabilities) != len(truth_index) or not len(
            truth_index):
        raise EvaluationError(f"probabilities must be (n, k) with n = {len(truth_index)} "
                              f"rows, got shape {probabilities.shape}")
    top = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth_index
    which = np.clip((top * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(which, weights=top, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=n_bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] * np.abs(accuracy[filled] - confidence[filled]))
                / count.sum())
    return {"confidence": confidence, "accuracy": accuracy, "count": count, "ece": ece}
