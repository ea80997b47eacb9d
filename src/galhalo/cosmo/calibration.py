"""Calibration of the GNN's posterior widths, and the labels of its validation scores.

:func:`calibration_factor` is the one factor per parameter that
:meth:`~galhalo.cosmo.training.CosmoGNN.fit` multiplies the network's std by: the
maximum-likelihood scale of a Gaussian posterior on the validation boxes ("temperature
scaling", Guo et al. 2017). On those boxes it makes chi^2 exactly 1 by construction, so
the validation scores are computed out of sample with :func:`leave_one_out_scale` (each
box with the factor of the other boxes), and :func:`validation_scores` labels the scores
of a model's ``metrics`` for tables (including models saved before, whose calibrated
scores are in-sample).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import CosmoError

__all__ = ["LEAVE_ONE_OUT", "calibration_factor", "leave_one_out_scale", "validation_scores"]

#: ``metrics["valid_calibration"]`` of models whose calibrated validation scores use, for
#: each box, the std factor fitted on the other validation boxes.
LEAVE_ONE_OUT = "leave-one-out"


def calibration_factor(truth: np.ndarray, mean: np.ndarray, raw_std: np.ndarray
                       ) -> np.ndarray:
    """``sqrt(<((truth - mean) / raw_std)^2>)`` over the boxes, one factor per parameter,
    shape (parameters,); inputs (boxes, parameters) in the parameters' units."""
    return np.sqrt(np.mean(((truth - mean) / raw_std) ** 2, axis=0))


def leave_one_out_scale(truth: np.ndarray, mean: np.ndarray, raw_std: np.ndarray
                        ) -> np.ndarray:
    """Calibration factor of each box fitted on the other boxes, (boxes, parameters).

    For box i and parameter j: ``sqrt(mean over boxes k != i of ((truth - mean) /
    raw_std)[k, j]^2)``, the factor :meth:`CosmoGNN.fit` would have found without box i.
    Scoring box i with it keeps the box out of the fit that calibrates it. All arrays
    (boxes >= 2, parameters), in the parameters' units.
    """
    squared = ((truth - mean) / raw_std) ** 2
    boxes = len(squared)
    if boxes < 2:
        raise CosmoError(f"a leave-one-out calibration needs at least 2 boxes, got {boxes}")
    return np.sqrt((squared.sum(axis=0) - squared) / (boxes - 1))


def validation_scores(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The validation scores of a fitted model's ``metrics``, labelled for tables.

    Returns label -> ``{"metrics": {parameter: scores}}`` (the form of
    :func:`evaluate_suites` results): the calibrated scores, labelled
    ``"validation, calibrated (leave-one-out)"`` for models that score each box with
    the std factor fitted on the other validation boxes, ``"validation, calibrated
    (in-sample: χ² = 1 by construction)"`` for models saved before that (their factor
    was fitted on the very boxes scored) and ``"validation"`` without calibration; then
    ``"validation, uncalibrated"`` when recorded.
    """
    rows: dict[str, dict[str, Any]] = {}
    calibration = metrics.get("valid_calibration")
    if "valid" in metrics:
        if calibration == LEAVE_ONE_OUT:
            label = "validation, calibrated (leave-one-out)"
        elif calibration is None and any(
                factor != 1.0 for factor in metrics.get("std_scale", {}).values()):
            label = "validation, calibrated (in-sample: χ² = 1 by construction)"
        else:
            label = "validation"
        rows[label] = {"metrics": metrics["valid"]}
    if "valid_uncalibrated" in metrics:
        rows["validation, uncalibrated"] = {"metrics": metrics["valid_uncalibrated"]}
    return rows
