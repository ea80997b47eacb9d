"""galhalo.photometry.survey_metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from galhalo.errors import EvaluationError
from galhalo.photometry.survey_metrics import (
    class_scores,
    confusion,
    purity_completeness_curve,
    redshift_scores,
    reliability,
)

TRUTH = np.array(["a", "a", "b", "b", "c"])
PREDICTED = np.array(["a", "b", "b", "b", "a"])


def test_class_scores_by_hand():
    scores = class_scores(TRUTH, PREDICTED, ["a", "b", "c", "d"])["all"]
    assert scores["a"]["purity"] == pytest.approx(0.5)
    assert scores["a"]["completeness"] == pytest.approx(0.5)
    assert scores["a"]["f1"] == pytest.approx(0.5)
    assert scores["b"]["purity"] == pytest.approx(2 / 3)
    assert scores["b"]["completeness"] == pytest.approx(1.0)
    assert scores["b"]["f1"] == pytest.approx(0.8)
    assert math.isnan(scores["c"]["purity"])  # nothing predicted c
    assert scores["c"]["completeness"] == 0.0 and scores["c"]["f1"] == 0.0
    assert scores["c"]["support"] == 1
    assert all(math.isnan(scores["d"][k]) for k in ("purity", "completeness", "f1"))


def test_class_scores_in_magnitude_bins():
    magnitude = np.array([18.0, 21.0, 18.5, 23.0, 30.0])
    result = class_scores(TRUTH, PREDICTED, ["a", "b"], magnitude)
    first, second, third = result["bins"]
    assert (first["low"], first["high"], first["n"]) == (17.0, 20.0, 2)
    assert first["scores"]["a"]["f1"] == pytest.approx(1.0)  # rows 0 and 2 both right
    assert second["n"] == 1 and second["scores"]["a"]["completeness"] == 0.0
    assert third["n"] == 1 and third["scores"]["b"]["purity"] == 1.0  # the 30 mag row is out


def test_confusion_matrix_rows_true_columns_predicted():
    matrix = confusion(TRUTH, PREDICTED, ["a", "b", "c"])
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    normalised = confusion(TRUTH, PREDICTED, ["a", "b", "c", "d"], normalize="true")
    assert normalised[0].tolist()[:3] == [0.5, 0.5, 0.0]
    assert np.isnan(normalised[3]).all()


def test_purity_completeness_curve_by_hand():
    curve = purity_completeness_curve([True, True, False, False], [0.9, 0.4, 0.6, 0.1],
                                      [0.0, 0.5, 0.95])
    assert curve["purity"][:2].tolist() == [0.5, 0.5] and np.isnan(curve["purity"][2])
    assert curve["completeness"].tolist() == [1.0, 0.5, 0.0]
    assert curve["selected"].tolist() == [4, 2, 0]
    assert curve["f1"][0] == pytest.approx(2 / 3)


def test_redshift_scores_by_hand():
    result = redshift_scores([0.0, 1.0, 2.0, 3.0], [0.01, 1.1, 2.0, 4.0])
    # |dz|/(1+z) = 0.01, 0.05, 0, 0.25: median 0.03
    assert result["sigma_nmad"] == pytest.approx(1.48 * 0.03)
    assert result["outlier_fraction"] == pytest.approx(0.25)
    assert result["bias"] == pytest.approx((0.01 + 0.05 + 0.25) / 4)
    with pytest.raises(EvaluationError, match="z_true"):
        redshift_scores([0.0], [0.1, 0.2])
    with pytest.raises(EvaluationError, match="finite"):
        redshift_scores([np.nan], [0.1])


def test_reliability_and_expected_calibration_error():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    result = reliability([0, 1, 1, 1], probabilities, n_bins=2)
    # all top probabilities in [0.5, 1): confidence 0.75, accuracy 2/4
    assert result["count"].tolist() == [0, 4]
    assert result["confidence"][1] == pytest.approx(0.75)
    assert result["accuracy"][1] == pytest.approx(0.5)
    assert result["ece"] == pytest.approx(0.25)
    perfect = reliability([0, 0], np.array([[1.0, 0.0], [1.0, 0.0]]))
    assert perfect["ece"] == 0.0
    with pytest.raises(EvaluationError, match="probabilities"):
        reliability([0, 1], probabilities)


def test_mismatched_lengths_raise():
    with pytest.raises(EvaluationError, match="truth has 5 rows"):
        class_scores(TRUTH, PREDICTED[:3], ["a"])
