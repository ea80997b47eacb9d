"""Model settings a user can change: the stellar-mass-cut support width (issue 17,
section 4: it was a module constant that ``--set`` could not change) and bad settings
reported as ModelError (one line) instead of a bare ValueError."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from galhalo.catalog import read_catalog, write_catalog
from galhalo.cli import app
from galhalo.columns import STELLAR_MASS_CUT
from galhalo.errors import GalhaloError
from galhalo.models import ModelError, model_family
from galhalo.models.training import TrainingConfig
from galhalo.models.transforms import SMASS_CUT_WIDTH, Support


def above_the_cut(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    mass = rng.uniform(11, 13, rows)
    return pd.DataFrame({"M_h": mass, "smass": STELLAR_MASS_CUT + rng.exponential(0.5, rows)})


@pytest.mark.parametrize("family", ["gauss", "knn"])
def test_smass_cut_width_is_a_hyperparameter(family):
    """The softplus support above the cut bends over ``smass_cut_width`` dex (default
    unchanged), and the density moves with it."""
    options = {"gauss": {"epochs": 2, "hidden": (8,)}, "knn": {"knn_neighbors": 5}}[family]
    default = model_family(family)(**options).fit(above_the_cut(300), "M_h", "smass",
                                                  progress=False)
    wide = model_family(family)(**options, smass_cut_width=1.0).fit(
        above_the_cut(300), "M_h", "smass", progress=False)
    assert default.target_scaler.supports[0] == Support("softplus", STELLAR_MASS_CUT,
                                                        SMASS_CUT_WIDTH)
    assert wide.target_scaler.supports[0] == Support("softplus", STELLAR_MASS_CUT, 1.0)
    probe = above_the_cut(20)
    assert not np.allclose(default.log_prob(probe, probe), wide.log_prob(probe, probe))
    with pytest.raises(ModelError, match="smass_cut_width must be a width > 0"):
        model_family(family)(smass_cut_width=0)


def test_cli_set_changes_the_smass_cut_width(tmp_path):
    runner = CliRunner()
    universe = tmp_path / "universe.parquet"
    assert runner.invoke(app, ["simulate", "--out", str(universe), "--n-halos", "300",
                               "--box", "50"]).exit_code == 0
    catalog = read_catalog(universe)
    write_catalog(catalog, tmp_path / "cat.parquet")
    result = runner.invoke(app, ["train", "--model", "gauss", "--catalog",
                                 str(tmp_path / "cat.parquet"), "--out", str(tmp_path / "m"),
                                 "--condition", "M_h", "--target", "smass", "--epochs", "2",
                                 "--hidden", "8", "--set", "smass_cut_width=0.7"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["hyperparameters"]["smass_cut_width"] == 0.7
    assert config["target_scaler"]["supports"][0]["width"] == 0.7


@pytest.mark.parametrize(("make", "message"), [
    (lambda: TrainingConfig(epochs=0), "epochs must be >= 1, got 0"),
    (lambda: TrainingConfig(learning_rate="fast"), "learning_rate must be a number"),
    (lambda: TrainingConfig(average=-1.0), "average must be >= 0 epochs"),
    (lambda: Support("cubic"), "unknown support kind 'cubic'"),
    (lambda: Support("log"), "needs a lower bound"),
    (lambda: model_family("flow")(members=0).build(1, 1), "members must be >= 1"),
])
def test_bad_settings_are_model_errors_on_one_line(make, message):
    with pytest.raises(ModelError, match=message) as caught:
        make()
    assert isinstance(caught.value, GalhaloError) and "\n" not in str(caught.value)
