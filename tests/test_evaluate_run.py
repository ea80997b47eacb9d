"""evaluate_model, compare, scenarios and permutation importance on a small synthetic
catalog: the truth model scores at the noise floor, a mis-specified truth does not."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import stats

import galhalo
from galhalo.columns import GALAXY, HALO
from galhalo.evaluate.distributions import EvaluationError
from galhalo.evaluate.importance import permutation_importance
from galhalo.evaluate.run import (
    DEFAULT_METRICS,
    METRICS,
    TruthConditional,
    compare,
    evaluate_model,
    results_table,
)
from galhalo.evaluate.scenarios import (
    PRESETS,
    Clause,
    ScenarioError,
    parse_selection,
    scenario,
    scenarios,
)
from galhalo.files import dumps_json
from galhalo.models import ModelError
from galhalo.sim.truth import TruthModel

REPEATED = {"ks", "wasserstein", "ks2d", "energy2d", "energy", "pcc"}  # floors from draws
SCENARIOS = ["whole", "low_mass"]
# Every metric entry of a truth evaluation is one test of "value == floor"; with 84 of
# them a Bonferroni threshold at family-wise 1e-3. Repeated-draw metrics: (value - floor)
# / combined error ~ Student t with 2 (R - 1) = 8 dof; the others are ~ normal.
N_TESTS = 84  # 42 entries per scenario (4 targets, 6 pairs) x 2 scenarios
T_NULL = stats.t.isf(1e-3 / (2 * N_TESTS), df=8)
Z_NULL = stats.norm.isf(1e-3 / (2 * N_TESTS))


@pytest.fixture(scope="module")
def catalog():
    return galhalo.simulate(n_halos=3000, box=50.0, seed=5)


@pytest.fixture(scope="module")
def truth(catalog):
    return TruthModel.from_dict(catalog.meta.truth)


@pytest.fixture(scope="module")
def shifted(truth):
    """The truth with stellar masses 0.1 dex too high (~0.15 sd): a mis-specified model."""
    return TruthConditional(dataclasses.replace(truth, shmr_norm=truth.shmr_norm + 0.1))


# Smaller subsample caps than the defaults keep the test fast; the floors use the same.
FAST = {"scenarios": SCENARIOS, "importance": False, "seed": 3, "max_points": 600}


@pytest.fixture(scope="module")
def truth_result(catalog, truth):
    return evaluate_model(truth, catalog, **FAST)


@pytest.fixture(scope="module")
def shifted_result(catalog, shifted):
    return evaluate_model(shifted, catalog, **FAST)


# ----------------------------------------------------------------------------- evaluate_model
def test_the_truth_scores_at_the_noise_floor(truth_result):
    assert truth_result["settings"]["floor"] == "truth draws"
    checked = 0
    for name in SCENARIOS:
        metrics = truth_result["scenarios"][name]["metrics"]
        assert set(metrics) == set(DEFAULT_METRICS)
        for metric, entries in metrics.items():
            for key, est in entries.items():
                if metric in ("nll", "nll_vs_truth"):
                    assert est["value"] == pytest.approx(est["floor"], abs=1e-12)
                    continue
                limit = T_NULL if metric in REPEATED else Z_NULL
                assert abs(est["z"]) < limit, (name, metric, key, est)
                checked += 1
    assert checked <= N_TESTS


def test_a_mis_specified_model_is_told_apart_from_the_floor(shifted_result):
    """The statistics that see stellar mass in 1 or 2 dimensions (in 4-D, at 600 points,
    the shift is diluted). Seven checks, each beyond what the null gives with
    family-wise probability 1e-3."""
    t_signal, z_signal = stats.t.isf(1e-3 / 14, df=8), stats.norm.isf(1e-3 / 14)
    whole = shifted_result["scenarios"]["whole"]["metrics"]
    for metric in ("ks", "wasserstein", "ks2d", "energy2d"):
        smass = next(entry for key, entry in whole[metric].items() if "smass" in key)
        assert smass["z"] > t_signal, metric
    assert whole["pit"]["smass"]["z"] > z_signal
    assert whole["coverage68"]["smass"]["z"] < -z_signal
    assert whole["nll_vs_truth"]["joint"]["z"] > z_signal
    assert whole["nll_vs_truth"]["joint"]["value"] > 0
    assert whole["c2st"]["joint"]["value"] > 0.5


def test_result_layout_scenarios_and_json(truth_result, catalog):
    text = dumps_json(truth_result)  # strict JSON: no NaN or inf anywhere
    assert json.loads(text) == json.loads(dumps_json(json.loads(text)))
    whole = truth_result["scenarios"]["whole"]
    assert whole["rows"] == len(catalog) and whole["selection"] == ""
    low = truth_result["scenarios"]["low_mass"]
    assert low["rows"] == int((catalog.table["M_h"] <= 11.25).sum())
    assert set(whole["metrics"]["ks2d"]) == {"smass:color", "smass:sSFR", "smass:radius",
                                             "color:sSFR", "color:radius", "sSFR:radius"}
    histogram = whole["details"]["pit_histogram"]["sSFR"]
    assert sum(histogram["counts"]) == len(catalog)
    assert truth_result["model"] == {"family": "truth", "condition": list(HALO),
                                     "target": list(GALAXY)}
    table = results_table(truth_result)
    assert len(table) == sum(len(entries) for s in truth_result["scenarios"].values()
                             for entries in s["metrics"].values())
    assert list(table.columns[:4]) == ["scenario", "rows", "metric", "key"]


def test_compare_puts_models_side_by_side_and_names_the_best(truth_result, shifted_result):
    table = compare({"truth": truth_result, "shifted": shifted_result})
    assert {"truth", "truth_error", "shifted", "shifted_error", "floor", "best",
            "clear"} <= set(table.columns)
    row = table.set_index(["scenario", "metric", "key"]).loc[("whole", "ks", "smass")]
    assert row["best"] == "truth" and row["clear"]
    assert row["floor"] == truth_result["scenarios"]["whole"]["metrics"]["ks"]["smass"]["floor"]
    kl = table.set_index(["scenario", "metric", "key"]).loc[("whole", "nll_vs_truth", "joint")]
    assert kl["best"] == "truth" and kl["clear"]
    assert len(table) == len(results_table(truth_result))


def test_compare_refuses_results_from_different_catalogs(truth_result, catalog, truth):
    other = evaluate_model(truth, catalog.select(catalog.table["M_h"].to_numpy() < 12.5),
                           scenarios=["whole"], metrics=["ks"], importance=False)
    with pytest.raises(EvaluationError, match="different catalogs"):
        compare({"a": truth_result, "b": other})
    with pytest.raises(EvaluationError, match="not an evaluate_model result"):
        compare({"a": {"rows": 3}})


def test_same_seed_same_numbers_other_seed_other_numbers(catalog, shifted):
    def run(seed):
        return evaluate_model(shifted, catalog, scenarios=["mass_and_age"], seed=seed,
                              metrics=["ks2d", "energy", "c2st"], importance=False)

    first = run(1)
    assert run(1) == first
    assert run(2)["scenarios"] != first["scenarios"]


def test_without_a_truth_floors_come_from_split_halves(catalog, shifted):
    result = evaluate_model(shifted, catalog.table, scenarios=["whole"], importance_rows=500,
                            metrics=["ks", "pcc", "nll", "nll_vs_truth"])
    assert result["settings"]["floor"] == "split halves" and not result["catalog"]["truth"]
    metrics = result["scenarios"]["whole"]["metrics"]
    assert "nll_vs_truth" not in metrics
    assert metrics["pcc"]["smass"]["floor"] is None
    assert metrics["nll"]["joint"]["floor"] is None
    assert metrics["ks"]["smass"]["note"] == "floor from split halves"
    assert metrics["ks"]["smass"]["z"] > 3  # the 0.1 dex shift is still detected
    importance = json.loads(dumps_json(result))["importance"]
    assert importance["rows"] == 500
    assert importance["log_likelihood"]["M_h"]["value"] > 0
    assert importance["log_likelihood"]["C_h"]["value"] == 0.0


def test_presets_too_small_for_the_catalog_are_skipped_and_listed(catalog, truth):
    small = catalog.select(np.arange(len(catalog)) < 400)
    result = evaluate_model(truth, small, metrics=["ks"], importance=False)
    assert "high_mass" in result["skipped"] and "high_mass" not in result["scenarios"]
    assert "at least 20" in result["skipped"]["high_mass"]
    assert set(result["scenarios"]) | set(result["skipped"]) == set(PRESETS)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"scenarios": ["M_h>16"]}, ScenarioError, "M_h>16 selects 0 of 3000 rows"),
    ({"scenarios": ["M_h>14.3"]}, ScenarioError, "at least 20 are needed"),
    ({"scenarios": ["heavy"]}, ScenarioError, "unknown scenario 'heavy'"),
    ({"metrics": ["ks", "kl"]}, EvaluationError, r"unknown metrics \['kl'\]"),
    ({"repeats": 1}, EvaluationError, "repeats must be an integer >= 2"),
    ({"n_samples": 3}, EvaluationError, "n_samples must be an integer >= 5"),
    ({"min_rows": 2}, EvaluationError, "min_rows"),
    ({"truth": "yes"}, EvaluationError, "truth must be"),
])
def test_bad_settings_fail_clearly(catalog, truth, kwargs, error, message):
    with pytest.raises(error, match=message):
        evaluate_model(truth, catalog, importance=False, **{"metrics": ["ks"], **kwargs})


def test_bad_catalogs_and_models_fail_clearly(catalog, truth):
    with pytest.raises(ModelError, match="'smass'"):
        evaluate_model(truth, catalog.table.drop(columns="smass"), metrics=["ks"])
    broken = catalog.table.copy()
    broken.loc[7, "color"] = np.nan
    with pytest.raises(ModelError, match="'color': 1 of 3000 rows are NaN"):
        evaluate_model(truth, broken, metrics=["ks"])
    with pytest.raises(EvaluationError, match="not a conditional model"):
        evaluate_model("flow", catalog, metrics=["ks"])


# ----------------------------------------------------------------------------- importance
def test_importance_ranks_a_feature_that_matters_above_one_that_does_not(catalog, truth):
    """The truth uses M_h strongly, z_h (formation time) somewhat, and never C_h."""
    result = permutation_importance(TruthConditional(truth), catalog.table, repeats=3, seed=2,
                                    max_rows=1500)
    ll = result["log_likelihood"]
    assert ll["C_h"].value == 0.0 and ll["C_h"].error == 0.0
    assert ll["M_h"].value > ll["z_h"].value > 0
    assert ll["z_h"].value > 5 * ll["z_h"].error
    smass = result["pcc"]["smass"]
    assert smass["M_h"].value > 5 * smass["M_h"].error
    assert smass["S_h"].value == 0.0  # spin moves only the radius
    assert result["pcc"]["radius"]["S_h"].value > 0
    assert result["rows"] == 1500
    again = permutation_importance(TruthConditional(truth), catalog.table, repeats=3, seed=2,
                                   max_rows=1500)
    assert again["log_likelihood"]["z_h"] == ll["z_h"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"columns": ["smass"]}, "not condition columns"),
    ({"repeats": 1}, "repeats"),
    ({"scores": ["auc"]}, "unknown importance scores"),
])
def test_importance_bad_input(catalog, truth, kwargs, message):
    with pytest.raises(EvaluationError, match=message):
        permutation_importance(TruthConditional(truth), catalog.table, **kwargs)


# ----------------------------------------------------------------------------- scenarios
@pytest.mark.parametrize(("text", "clauses"), [
    ("11.2<M_h<11.5", [("M_h", ">", 11.2), ("M_h", "<", 11.5)]),
    ("M_h>12", [("M_h", ">", 12.0)]),
    ("11<M_h<=12 & z_h>1", [("M_h", ">", 11.0), ("M_h", "<=", 12.0), ("z_h", ">", 1.0)]),
    ("12 >= M_h > 11", [("M_h", "<=", 12.0), ("M_h", ">", 11.0)]),
    ("12 < M_h", [("M_h", ">", 12.0)]),
    ("Delta3_h>=2.5e-1", [("Delta3_h", ">=", 0.25)]),
    ("vx > -1E2", [("vx", ">", -100.0)]),
    ("11.95<M_h<=12.05 & z_h>median", [("M_h", ">", 11.95), ("M_h", "<=", 12.05),
                                       ("z_h", ">", "median")]),
])
def test_selections_parse(text, clauses):
    parsed = parse_selection(text)
    assert parsed.clauses == tuple(Clause(*c) for c in clauses)
    assert parsed.name == parsed.selection == text.replace(" ", "").replace("&", " & ")


def test_selection_masks_match_the_arithmetic(catalog):
    table = catalog.table
    mass, age = table["M_h"].to_numpy(), table["z_h"].to_numpy()
    mask = parse_selection("11<M_h<=12 & z_h>1").mask(catalog)
    np.testing.assert_array_equal(mask, (mass > 11) & (mass <= 12) & (age > 1))
    expected = {
        "whole": np.ones(len(table), dtype=bool), "high_mass": mass > 12.75,
        "intermediate_mass": (mass > 11.95) & (mass <= 12.05), "low_mass": mass <= 11.25,
        "fixed_mass": (mass > 11.2) & (mass < 11.5), "fixed_age": (age > 0.2) & (age < 1.5),
        "mass_and_age": (mass > 11.2) & (mass < 11.5) & (age > 1.0) & (age < 1.5)}
    for name, want in expected.items():
        np.testing.assert_array_equal(PRESETS[name].mask(table), want, err_msg=name)


def test_old_and_young_split_the_intermediate_bin_at_its_median_age(catalog):
    table = catalog.table
    bin_ = PRESETS["intermediate_mass"].mask(table)
    old, young = PRESETS["old_intermediate"].mask(table), PRESETS["young_intermediate"].mask(
        table)
    assert not (old & young).any() and np.array_equal(old | young, bin_)
    median = np.median(table["z_h"][bin_])
    assert (table["z_h"][old] > median).all() and abs(old.sum() - young.sum()) <= 1


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty selection"),
    ("M_h", "is not a comparison"),
    ("M_h >> 12", "is not a comparison"),
    ("M_h = 12", "operator '=' .* not supported"),
    ("11 < M_h > 12", "mixes directions"),
    ("12 < 11", "exactly one column"),
    ("M_h < C_h", "exactly one column"),
    ("mass > 12", "unknown column 'mass'"),
    ("12 < M_h < 11", "exclude every value"),
    ("M_h > 12 &", "empty clause"),
    ("M_h > 12 # heavy", "cannot read '# heavy'"),
    ("M_h > 1e999", "not finite"),
    ("11 < 12 < M_h", "between the two bounds"),
])
def test_malformed_selections_fail_clearly(text, message):
    with pytest.raises(ScenarioError, match=message):
        parse_selection(text)


def test_scenario_lookup_and_missing_columns(catalog):
    assert scenario("high_mass") is PRESETS["high_mass"]
    assert scenario("M_h>12").name == "M_h>12"
    with pytest.raises(ScenarioError, match="appear more than once: whole"):
        scenarios(["whole", "whole"])
    with pytest.raises(ScenarioError, match=r"fixed_age \(0.2<z_h<1.5\): column 'z_h' is not"):
        PRESETS["fixed_age"].rows(catalog.table.drop(columns="z_h"))


def test_metric_registry_describes_every_metric():
    assert set(DEFAULT_METRICS) < set(METRICS)
    assert all(m.kind in ("target", "pair", "joint") and m.better in ("lower", "higher",
                                                                        "closest")
               for m in METRICS.values())


def test_the_pit_method_is_recorded_in_settings_and_notes(catalog, truth, truth_result):
    """Coverage and PIT say how they were computed: the truth's exact CDF, or the
    randomised rank among ``pit_samples`` draws for a model that can only sample."""
    assert truth_result["settings"]["pit_method"] == "exact CDF"
    entry = truth_result["scenarios"]["whole"]["metrics"]["coverage95"]["smass"]
    assert entry["note"] == "exact CDF"

    exact = TruthConditional(truth)

    class SamplesOnly:
        condition, target, family = exact.condition, exact.target, "samples only"
        sample, log_prob = exact.sample, exact.log_prob

    result = evaluate_model(SamplesOnly(), catalog, scenarios=["whole"], importance=False,
                            metrics=("coverage95", "pit"), pit_samples=40, seed=3)
    assert result["settings"]["pit_samples"] == 40
    method = "randomised rank among 40 draws"
    assert result["settings"]["pit_method"] == method
    metrics = result["scenarios"]["whole"]["metrics"]
    assert {metrics[m][t]["note"] for m in metrics for t in GALAXY} == {method}
    with pytest.raises(EvaluationError, match="pit_samples must be an integer >= 1"):
        evaluate_model(SamplesOnly(), catalog, scenarios=["whole"], pit_samples=0)
