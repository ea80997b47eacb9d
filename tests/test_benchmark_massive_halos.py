"""benchmarks/massive_halos.py: the sSFR populations split the massive halos' gap
exactly, and the star-forming share of draws is compared with the truth's exact
expectation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from benchmark_modules import load_benchmark

import galhalo
from galhalo.sim.truth import GALAXY, TruthModel

massive_halos = load_benchmark("massive_halos.py", "benchmark_massive_halos")


def test_populations_partition_the_rows_at_their_boundaries():
    ssfr = np.array([-15.0, -14.0, -13.9, -12.5, -12.4, -11.0, -10.75, -10.5, -10.49, -9.0])
    masks = massive_halos.population_masks(ssfr)
    counts = np.sum([mask for mask in masks.values()], axis=0)
    assert counts.tolist() == [1] * len(ssfr)
    labels = [next(label for label, mask in masks.items() if mask[i]).split()[0]
              for i in range(len(ssfr))]
    assert labels == ["near", "low", "low", "quenched", "quenched", "green", "green",
                      "green", "active", "active"]


def test_contributions_add_up_to_the_gap():
    rng = np.random.default_rng(3)
    ssfr = rng.uniform(-15, -9, 2_000)
    excess = rng.normal(0.1, 0.5, 2_000) + (ssfr > -10.5)
    split = massive_halos.gap_by_population(excess, ssfr)
    assert np.isclose(sum(p["contribution"] for p in split.values()), excess.mean(),
                      rtol=0, atol=1e-12)
    assert np.isclose(sum(p["share"] for p in split.values()), 1.0, rtol=0, atol=1e-12)
    active = split["active sSFR > −10.5"]
    assert np.isclose(active["gap"], excess[ssfr > -10.5].mean(), rtol=0, atol=1e-12)
    # an empty population has no gap, and contributes nothing
    empty = massive_halos.gap_by_population(excess[ssfr < -11], ssfr[ssfr < -11])
    assert empty["active sSFR > −10.5"]["gap"] is None
    assert empty["active sSFR > −10.5"]["contribution"] == 0.0


class _TruthDraws:
    """A model whose draws are the truth's own (so its share must match the truth's
    expectation within the binomial error)."""

    target = GALAXY

    def __init__(self, truth: TruthModel):
        self.truth = truth

    def sample(self, halos: pd.DataFrame, n_per_row: int, seed: int) -> np.ndarray:
        return self.truth.sample(halos, n=n_per_row, seed=seed)


def test_draws_of_the_truth_match_its_exact_star_forming_share():
    catalog = galhalo.simulate(n_halos=20_000, seed=5, preset="tng_hard")
    truth = TruthModel.from_dict(catalog.meta.truth)
    shares = massive_halos.active_shares(_TruthDraws(truth), truth, catalog.table,
                                         draws=8, seed=1)
    assert list(shares) == ["12–12.5", "12.5–13", "13–13.5", "≥ 13.5"]
    for label, share in shares.items():
        assert share["halos"] > 0, label
        assert 0 < share["truth"] < 1
        # binomial error of the draws at the truth's share (not the draws' own)
        error = np.sqrt(share["truth"] * (1 - share["truth"]) / (8 * share["halos"]))
        assert abs(share["model"] - share["truth"]) < 4 * error, (label, share)
