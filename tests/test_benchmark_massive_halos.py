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
REGION_LABELS = load_benchmark("hard_universe.py", "benchmark_hard_universe_labels").REGION_LABELS


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


def _fit(gap: float, fit_seed: int, variant: str = "default") -> dict:
    populations = massive_halos.gap_by_population(
        np.array([gap, gap, gap, gap, gap]), np.array([-10.0, -10.7, -12.0, -13.0, -14.5]))
    regions = {label: {"gap": gap, "error": 0.01, "rows": 5}
               for label in REGION_LABELS}
    shares = {label: {"halos": 10, "truth": 0.04, "model": 0.02, "error": 0.01}
              for label in ("12–12.5", "12.5–13", "13–13.5", "≥ 13.5")}
    return {"variant": variant, "fit_seed": fit_seed, "family": "flow",
            "hyperparameters": {}, "fit_seconds": 300.0, "epochs": 40, "regions": regions,
            "massive_rows": 5, "massive_gap": gap, "populations": populations,
            "active_share": shares, "threads": 2, "load_average": [1.0, 2.0],
            "date": "2026-12-08 00:00 UTC"}


def test_each_fit_seed_is_a_row_of_every_table():
    assert massive_halos.fit_name("default", 0) == "default"
    assert massive_halos.fit_name("default", 2) == "default, seed 2"
    result = {"n_halos": 1000, "seed": 42, "test_halos": 4000, "draws": 4,
              "train_rows": 800, "test_rows": 4200,
              "variants": {"default": _fit(0.1, 0), "default, seed 1": _fit(0.2, 1)}}
    text = massive_halos.docs_block(result)
    # the region table, the populations table and the shares table each have both rows
    assert text.count("| `default, seed 1` |") == 3
    assert text.count("| `default` |") == 3
    # each of the five populations holds one of the five rows: contribution gap / 5
    assert "| `default, seed 1` | +0.040 (0.20) | +0.040 (0.20) |" in text
    assert "| truth | 0.0400 | 0.0400 | 0.0400 | 0.0400 |" in text
    assert text.count("`default`: the flow's defaults") == 1


def test_a_saved_result_rewrites_the_same_block():
    """A saved JSON has its keys sorted (galhalo.files.write_json): the block keeps the
    populations, the mass bins and the fits in their own order."""
    import json

    from galhalo.files import dumps_json

    result = {"n_halos": 1000, "seed": 42, "test_halos": 4000, "draws": 4,
              "train_rows": 800, "test_rows": 4200,
              "variants": {"default": _fit(0.1, 0), "default, seed 2": _fit(0.3, 2),
                           "single": _fit(0.2, 0, "single")}}
    result["variants"]["default"]["populations"]["active sSFR > −10.5"]["gap"] = 1.5
    saved = json.loads(dumps_json(result))
    assert list(saved["variants"]["default"]["populations"]) != list(
        result["variants"]["default"]["populations"])  # the round trip reorders
    assert massive_halos.docs_block(saved) == massive_halos.docs_block(result)
    text = massive_halos.docs_block(result)
    assert text.index("| `default, seed 2` |") > text.index("| `default` |")
    assert text.index("| `single` |") > text.index("| `default, seed 2` |")
    assert "| log10 M_h | 12–12.5 | 12.5–13 | 13–13.5 | ≥ 13.5 |" in text
