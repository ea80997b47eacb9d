"""galhalo.photometry survey classifiers (1-D CNN, LightGBM) on a separable toy survey."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from galhalo.errors import ModelError, PhotometryError
from galhalo.photometry.boosting import BoostedClassifier
from galhalo.photometry.classifiers import (
    class_weights,
    feature_spec,
    features,
    load_classifier,
    toy_survey,
)
from galhalo.photometry.cnn import CNNClassifier
from galhalo.photometry.observation import observe

WAVELENGTHS = np.linspace(3800.0, 9500.0, 20)
NAMES = [f"J{int(w / 10):04d}" for w in WAVELENGTHS] + ["rSDSS"]
FAST_CNN = {"epochs": 15, "patience": 4}


def toy_sources(n: int, seed: int) -> pd.DataFrame:
    return toy_survey(n, seed, dict(zip(NAMES, [*WAVELENGTHS, 6250.0], strict=True)))


DEPTHS = {name: 22.0 for name in NAMES} | {"rSDSS": 23.5}


@pytest.fixture(scope="module")
def survey():
    train = observe(toy_sources(2000, 1), DEPTHS, seed=11)
    test = observe(toy_sources(1000, 2), DEPTHS, seed=12)
    return train, test


@pytest.fixture(scope="module")
def fitted(survey):
    train, _ = survey
    spec = feature_spec(NAMES)
    return {"cnn": CNNClassifier(spec, seed=3, **FAST_CNN).fit(train),
            "lightgbm": BoostedClassifier(spec, seed=3).fit(train)}


def test_feature_spec_and_scale_invariance(survey):
    _, test = survey
    spec = feature_spec(NAMES)
    assert spec.sequence == tuple(NAMES[:-1]) and spec.extra == ("rSDSS",)
    x = features(test, spec)
    assert x.shape == (len(test), 2 * 20 + 2 + 1)
    brighter = test.copy()
    for column in brighter.columns:
        if column.startswith("flux_"):
            brighter[column] *= 10
    y = features(brighter, spec)
    assert np.allclose(x[:, :-1], y[:, :-1], atol=1e-6)
    assert np.allclose(y[:, -1] - x[:, -1], 1.0, atol=1e-5)
    assert feature_spec(NAMES, use_errors=False).width == 20 + 1 + 1


@pytest.mark.parametrize("family", ["cnn", "lightgbm"])
def test_classifiers_learn_the_toy_survey(fitted, survey, family):
    _, test = survey
    model = fitted[family]
    truth = test["source_class"].to_numpy()
    accuracy = np.mean(model.predict(test) == truth)
    # chance is 1/4; 5 sigma of an accuracy of 1/4 on 1000 rows is 0.07
    assert accuracy > 0.25 + 5 * math.sqrt(0.25 * 0.75 / len(test))
    assert accuracy > 0.8
    probabilities = model.predict_proba(test)
    assert probabilities.shape == (len(test), 4)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    # a prior favouring stars 100:1 moves probability to the stars, rows still sum to 1
    shifted = model.predict_proba(test, priors=[100, 1, 1, 1])
    assert np.allclose(shifted.sum(axis=1), 1.0)
    assert np.mean(shifted[:, 0]) > np.mean(probabilities[:, 0])
    with pytest.raises(PhotometryError, match="priors"):
        model.predict_proba(test, priors=[1, 1, 1])
    quasar = np.isin(truth, ["qso_low", "qso_high"])
    z = test["redshift"].to_numpy()[quasar]
    error = np.abs(model.predict_redshift(test)[quasar] - z) / (1 + z)
    assert np.median(error) < 0.1


@pytest.mark.parametrize("family", ["cnn", "lightgbm"])
def test_save_load_round_trip_and_corrupt_files(fitted, survey, family, tmp_path):
    _, test = survey
    model = fitted[family]
    directory = model.save(tmp_path / family)
    loaded = load_classifier(directory)
    assert type(loaded) is type(model)
    assert np.array_equal(loaded.predict_proba(test), model.predict_proba(test))
    assert np.array_equal(loaded.predict_redshift(test), model.predict_redshift(test))
    other = BoostedClassifier if family == "cnn" else CNNClassifier
    with pytest.raises(ModelError, match="not 'survey_"):
        other.load(directory)
    part = directory / ("weights.pt" if family == "cnn" else "classifier.txt")
    part.write_bytes(part.read_bytes()[:-10])
    with pytest.raises(ModelError, match=part.name):
        load_classifier(directory)
    (directory / "config.json").unlink()
    with pytest.raises(ModelError, match=r"config\.json"):
        load_classifier(directory)


def test_cnn_same_seed_same_model(survey):
    train, test = survey
    spec = feature_spec(NAMES, use_errors=False)
    small = train.iloc[:600]
    first = CNNClassifier(spec, seed=5, epochs=3).fit(small)
    again = CNNClassifier(spec, seed=5, epochs=3).fit(small)
    assert np.array_equal(first.predict_proba(test), again.predict_proba(test))


def test_class_weights_balance():
    index = np.array([0] * 6 + [1] * 3 + [2] * 2 + [3])
    weights = class_weights(index, 1.0)
    counts = np.bincount(index)
    assert np.allclose(weights * counts, (weights * counts)[0])  # every class the same total
    assert np.sum(weights[index]) == pytest.approx(len(index))
    assert np.allclose(class_weights(index, 0.0), 1.0)


def test_bad_training_input_raises(survey):
    train, test = survey
    spec = feature_spec(NAMES)
    few = train[train["source_class"] != "qso_high"]
    with pytest.raises(PhotometryError, match="qso_high"):
        BoostedClassifier(spec).fit(few)
    wrong = train.copy()
    wrong.loc[wrong.index[0], "source_class"] = "comet"
    with pytest.raises(PhotometryError, match="comet"):
        BoostedClassifier(spec).fit(wrong)
    with pytest.raises(PhotometryError, match="flux_err_J0380"):
        features(test.drop(columns=["flux_err_J0380"]), spec)
    with pytest.raises(ModelError, match="not fitted"):
        CNNClassifier(spec).predict(test)
    with pytest.raises(ModelError, match="unknown hyperparameter"):
        CNNClassifier(spec, depth=3)
