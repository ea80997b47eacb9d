"""Every family refuses a training set too small to fit and validate (issue 17, section 1).

Pins the fix for ``galhalo train --model flow`` on a 3-row catalog, which used to train
and save a model (exit 0): ``fit`` now raises a ModelError naming the row count and the
minimum, in every family of the registry (parametrized over it, so a new family is
covered automatically), through the API and the CLI alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from galhalo.catalog import read_catalog, write_catalog
from galhalo.cli import app
from galhalo.models import FAMILIES, ModelError, model_family
from galhalo.models.base import MINIMUM_TRAIN_ROWS, MINIMUM_VALID_ROWS, rows_needed, split_rows

CONDITION, TARGET = "M_h,C_h", "color,sSFR"
#: The target of a family whose target is one column of counts (``target_kind``).
COUNT_TARGET = "N_sat"
#: Settings that make a fit of a few dozen rows quick (unknown keys are dropped per family).
QUICK = {"epochs": 2, "patience": 1, "hidden": (8,), "transforms": 1, "bins": 4,
         "trees_estimators": 3, "trees_min_leaf": 1, "lgbm_estimators": 3, "lgbm_min_leaf": 1,
         "lgbm_leaves": 4, "knn_neighbors": 3, "folds": 2, "classes": 3}


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mass = rng.uniform(11, 13, rows)
    return pd.DataFrame({"M_h": mass, "C_h": rng.lognormal(2.0, 0.3, rows),
                         "color": 0.3 * mass + rng.normal(0, 0.1, rows),
                         "sSFR": -10 - 0.5 * (mass - 12) + rng.normal(0, 0.3, rows),
                         "N_sat": rng.poisson(np.exp(mass - 11.5)),
                         "r_host": rng.uniform(0.05, 0.95, rows),
                         "v_r": rng.normal(0, 300, rows), "v_t": rng.rayleigh(300, rows)})


def target_of(family: str) -> tuple[str, int]:
    """(target columns, their number) a family is fitted to here: the columns a family
    with a ``required_target`` needs (nfw: r_host,v_r,v_t), counts for a count family
    (it refuses continuous targets), else the two galaxy columns."""
    required = getattr(model_family(family), "required_target", None)
    if required:
        return ",".join(required), len(required)
    if getattr(model_family(family), "target_kind", "continuous") == "count":
        return COUNT_TARGET, 1
    return TARGET, 2


def quick_model(family: str):
    cls = model_family(family)
    return cls(**{key: value for key, value in QUICK.items() if key in cls.defaults})


@pytest.mark.parametrize("family", list(FAMILIES))
def test_three_rows_are_refused_naming_the_count_and_the_minimum(family):
    model = model_family(family)()
    target, n_target = target_of(family)
    minimum = model.minimum_rows(valid=0.2, n_target=n_target)
    assert minimum >= MINIMUM_TRAIN_ROWS + MINIMUM_VALID_ROWS
    with pytest.raises(ModelError, match=rf"^3 rows are too few to fit a {family} model: it "
                                         rf"needs at least {minimum} "):
        model.fit(table(3), CONDITION, target, progress=False)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_minimum_is_exact(family):
    """One row below the minimum is refused; the minimum itself fits and is usable."""
    target, n_target = target_of(family)
    minimum = quick_model(family).minimum_rows(valid=0.2, n_target=n_target)
    with pytest.raises(ModelError, match=rf"{minimum - 1} rows are too few .* {minimum} "):
        quick_model(family).fit(table(minimum - 1), CONDITION, target, progress=False)
    model = quick_model(family).fit(table(minimum), CONDITION, target, progress=False)
    assert model.metrics["train_rows"] + model.metrics["valid_rows"] == minimum
    assert np.isfinite(model.log_prob(table(4, seed=1), table(4, seed=1))).all()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_given_validation_table_too_small_is_refused(family):
    model = quick_model(family)
    target, n_target = target_of(family)
    train_rows, valid_rows = model.row_minimums(n_target=n_target)
    with pytest.raises(ModelError, match=rf"validation table has {valid_rows - 1} rows; a "
                                         rf"{family} model needs at least {valid_rows}"):
        model.fit(table(train_rows + 50), CONDITION, target,
                  valid=table(valid_rows - 1, seed=2), progress=False)
    with pytest.raises(ModelError, match=rf"training table has {train_rows - 1} rows"):
        model.fit(table(train_rows - 1), CONDITION, target, valid=table(50, seed=2),
                  progress=False)


def test_family_minimums_follow_their_needs():
    """kNN needs more rows than neighbours; stacking, each fold's complement as many."""
    knn = model_family("knn")(knn_neighbors=40)
    assert knn.row_minimums(2)[0] == 41
    stacked = model_family("stacked")(members="knn,extra_trees", knn_neighbors=40, folds=4)
    # 4 folds: each member is fitted on n - ceil(n / 4) >= 41 rows -> n >= 55.
    assert stacked.row_minimums(2)[0] == 55
    # The MLP's own early-stopping split (mlp_valid=0.1) needs 46 rows: 5 held out.
    assert model_family("mlp_regression")().row_minimums(2)[0] == 46
    assert model_family("flow")().row_minimums(1) == (MINIMUM_TRAIN_ROWS, MINIMUM_VALID_ROWS)


def test_rows_needed_is_the_smallest_split_that_satisfies_both_parts():
    for valid in (0.05, 0.2, 0.5, 0.9):
        needed = rows_needed(valid, 10, 5)
        train, held_out = split_rows(needed, valid, seed=0)
        assert len(train) >= 10 and len(held_out) >= 5
        assert len(np.intersect1d(train, held_out)) == 0
        with pytest.raises(ModelError, match=f"{needed - 1} rows are too few"):
            split_rows(needed - 1, valid, seed=0)
    with pytest.raises(ModelError, match="valid must be a fraction"):
        rows_needed(1.5, 10, 5)


def test_cli_train_on_three_rows_exits_2_naming_the_count_and_the_minimum(tmp_path):
    runner = CliRunner()
    universe = tmp_path / "universe.parquet"
    assert runner.invoke(app, ["simulate", "--out", str(universe), "--n-halos", "300",
                               "--box", "50"]).exit_code == 0
    catalog = read_catalog(universe)
    tiny = write_catalog(catalog.select(np.arange(len(catalog)) < 3), tmp_path / "tiny.parquet")
    minimum = model_family("flow")().minimum_rows(valid=0.2)
    result = runner.invoke(app, ["train", "--model", "flow", "--catalog", str(tiny),
                                 "--out", str(tmp_path / "model"), "--epochs", "2"])
    assert result.exit_code == 2, result.output
    assert "3 rows are too few" in result.output and f"at least {minimum}" in result.output
    assert not (tmp_path / "model").exists()
