"""Count models scored against the universe's exact satellite count law (CountTruth)."""

from __future__ import annotations

import numpy as np
import pytest

import galhalo
from galhalo.evaluate.run import evaluate_model
from galhalo.evaluate.truth import CountTruth, catalog_truth, truth_conditional
from galhalo.sim.truth import TruthModel

SEED = 5


@pytest.fixture(scope="module")
def hosts():
    """One row per host of a small universe with satellites (N_sat per host)."""
    return galhalo.simulate(3000, 80.0, SEED, satellites=True).centrals()


def test_count_truth_is_the_count_law(hosts):
    truth = TruthModel.from_dict(hosts.meta.truth)
    law = truth.satellite_model
    count_truth = truth_conditional(truth, ("N_sat",))
    assert isinstance(count_truth, CountTruth)
    table = hosts.table
    np.testing.assert_allclose(count_truth.log_prob(table, table),
                               law.satellite_count_log_prob(table, table["N_sat"]))
    draws = count_truth.sample(table, 400, seed=1)
    assert draws.shape == (400, len(table), 1)
    assert np.array_equal(draws, np.round(draws)) and draws.min() >= 0
    # the draws follow the exact mean and variance: 5 sigma over all hosts; a host whose
    # expected count underflows to zero gets no satellite
    mean, variance = law.satellite_count_mean(table), law.satellite_count_variance(table)
    empty = variance == 0
    assert (draws[:, empty] == 0).all() and (mean[empty] == 0).all()
    pulls = (draws[:, ~empty, 0].mean(axis=0) - mean[~empty]) / np.sqrt(variance[~empty] / 400)
    assert abs(pulls.mean()) < 5 / np.sqrt((~empty).sum())
    np.testing.assert_allclose(count_truth.predict(table)[:, 0], mean)
    # the catalog's truth covers N_sat only when the universe has satellites
    assert catalog_truth(hosts, ("N_sat",)) is not None
    plain = galhalo.simulate(300, 60.0, SEED)
    assert catalog_truth(plain, ("N_sat",)) is None


def test_a_count_model_is_scored_against_the_truth(hosts):
    train = hosts.select(np.arange(len(hosts)) % 2 == 0)
    held_out = hosts.select(np.arange(len(hosts)) % 2 == 1)
    model = galhalo.models.model_family("occupation")(epochs=3).fit(
        train, "M_h,C_h,S_h,z_h,Delta3_h", "N_sat", seed=0, progress=False)
    result = evaluate_model(model, held_out, scenarios=["whole"], n_samples=5,
                            importance=False, pit_samples=50)
    whole = result["scenarios"]["whole"]["metrics"]
    gap = whole["nll_vs_truth"]["joint"]
    # the truth's own NLL is the floor: a 3-epoch model is above it, within reason
    truth_lp = CountTruth(TruthModel.from_dict(hosts.meta.truth)).log_prob(
        held_out.table, held_out.table)
    model_lp = model.log_prob(held_out.table, held_out.table)
    assert gap["value"] == pytest.approx(float(np.mean(truth_lp - model_lp)), rel=1e-9)
    assert gap["value"] > -5 * gap["error"]
