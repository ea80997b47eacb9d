"""Edges found in the data (``edges="auto"``, the flow's default): a target piled up
against a floor or a ceiling gets a softplus support just beyond its sample extreme; a
smooth tail, a column that has a support already and a discrete column get none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galhalo.errors import ModelError
from galhalo.models import load_model, model_family
from galhalo.models.transforms import (
    BOUND_WIDTH,
    EDGE_MARGIN,
    Support,
    edge_supports,
)


def _floored(rng: np.random.Generator, n: int, floor: float = -15.0) -> np.ndarray:
    """A bulk N(floor + 5, 0.5) and a quarter of the rows pushed against ``floor`` by a
    softplus of width 0.25, like the sSFR of galaxies without resolved star formation."""
    bulk = rng.normal(floor + 5.0, 0.5, n)
    dead = rng.random(n) < 0.25
    latent = rng.normal(floor + 0.5, 0.6, n)
    bulk[dead] = floor + 0.25 * np.logaddexp(0.0, (latent[dead] - floor) / 0.25)
    return bulk


def _spread(column: np.ndarray) -> float:
    low, high = np.quantile(column, [0.01, 0.99])
    return high - low


def test_a_floor_and_a_ceiling_get_a_support_just_beyond_the_sample():
    rng = np.random.default_rng(3)
    n = 20_000
    floor = _floored(rng, n)
    ceiling = 1.19 - _floored(rng, n, floor=0.0)  # mirrored: piled up under 1.19
    y = np.column_stack([floor, ceiling])
    supports = edge_supports(y, [Support(), Support()], [None, None])
    assert supports[0] == Support("softplus", floor.min() - EDGE_MARGIN * _spread(floor),
                                  BOUND_WIDTH)
    assert supports[1] == Support("softplus", None, BOUND_WIDTH,
                                  ceiling.max() + EDGE_MARGIN * _spread(ceiling))
    # within 1% of the 6-dex spread of the true floor, on the side of the data
    assert -15.06 < supports[0].lower < -15.0 < floor.min()
    assert ceiling.max() < 1.19 < supports[1].upper
    assert supports[0].inside(floor).all() and supports[1].inside(ceiling).all()


@pytest.mark.parametrize("n", [500, 5_000, 100_000])
def test_smooth_tails_discrete_columns_and_existing_supports_get_no_edge(n):
    rng = np.random.default_rng(n)
    # unbounded tails, one of them skewed (a Gumbel's left tail falls doubly
    # exponentially); a gamma would have an edge at 0, and be found to
    gaussian, skewed = rng.normal(0.0, 1.0, n), rng.gumbel(0.0, 1.0, n)
    levels = rng.integers(0, 5, n).astype(float)  # piles up at 0 and 4: a grid
    cut = 8.75 + rng.exponential(0.5, n)          # the stellar-mass cut, supported
    y = np.column_stack([gaussian, skewed, levels, cut])
    given = [Support(), Support(), Support(), Support("softplus", 8.75, 0.2)]
    grids = [None, None, np.unique(levels), None]
    assert edge_supports(y, given, grids) == given


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mass = rng.uniform(11.0, 13.0, n)
    return pd.DataFrame({"M_h": mass, "sSFR": _floored(rng, n),
                         "radius": rng.normal(0.5 + 0.1 * (mass - 12.0), 0.1, n)})


def test_the_flow_learns_its_edges_and_keeps_them_on_disk(tmp_path):
    table = _table(4_000, 1)
    hyper = {"epochs": 2, "hidden": (16, 16), "bins": 4, "average": 0.0}
    flow = model_family("flow")(**hyper).fit(table, "M_h", "sSFR,radius", seed=0,
                                               progress=False)
    support = flow.target_scaler.supports[0]
    assert flow.hyperparameters["edges"] == "auto"
    assert support.kind == "softplus" and support.upper is None
    assert flow.metrics["edges"] == {"sSFR": {"lower": support.lower}}
    assert support.lower < table["sSFR"].min()
    assert flow.target_scaler.supports[1] == Support()  # radius: no edge
    held_out = _table(2_000, 2)
    inside = held_out["sSFR"] > support.lower
    log_p = flow.log_prob(held_out, held_out)
    assert np.isfinite(log_p[inside]).all() and inside.mean() > 0.99
    assert (flow.sample(held_out, 3, seed=1)[..., 0] > support.lower).all()
    flow.save(tmp_path / "flow")
    again = load_model(tmp_path / "flow")
    assert again.target_scaler.supports == flow.target_scaler.supports
    np.testing.assert_array_equal(again.log_prob(held_out, held_out), log_p)
    # without edge detection, or with a declared bound, the sample's edge is not used
    plain = model_family("flow")(**hyper, edges="none").fit(table, "M_h", "sSFR,radius",
                                                            seed=0, progress=False)
    assert plain.target_scaler.supports[0] == Support()
    declared = model_family("flow")(**hyper, bounds={"sSFR": [-15.5, None]}).fit(
        table, "M_h", "sSFR,radius", seed=0, progress=False)
    assert declared.target_scaler.supports[0] == Support("softplus", -15.5, BOUND_WIDTH)


def test_edges_is_auto_or_none_and_other_families_keep_none():
    with pytest.raises(ModelError, match="edges must be one of auto, none, got 'yes'"):
        model_family("flow")(edges="yes")
    assert model_family("gauss")().hyperparameters["edges"] == "none"
    assert model_family("flow_rodrigues25")().hyperparameters["edges"] == "none"


@pytest.mark.slow
def test_the_synthetic_universes_edges():
    """tng_hard's sSFR floor and colour ceiling are found (its 20,000 galaxies put tens
    of rows in each window), and the classic universe has none: its flows are unchanged."""
    import galhalo
    from galhalo.models.transforms import default_supports

    names = ("smass", "color", "sSFR", "radius")
    found = {}
    for preset in ("classic", "tng_hard"):
        catalog = galhalo.simulate(20_000, 164.0, 4, preset=preset)
        y = catalog.table[list(names)].to_numpy()
        given = default_supports(names, 8.75)
        found[preset] = edge_supports(y, given, [None] * 4)
        assert found[preset][0] == given[0]  # the stellar-mass cut is kept
    assert found["classic"] == default_supports(names, 8.75)
    color, ssfr = found["tng_hard"][1], found["tng_hard"][2]
    assert color.upper is not None and 1.19 < color.upper < 1.20
    assert ssfr.lower is not None and -15.05 < ssfr.lower < -15.0
    assert found["tng_hard"][3] == Support()


def test_train_says_which_edges_it_found(tmp_path):
    """``galhalo train`` names the found edges (the output is compared with its line
    breaks undone: rich wraps to the terminal width)."""
    from typer.testing import CliRunner

    import galhalo
    from galhalo.catalog import write_catalog
    from galhalo.cli import app

    catalog = galhalo.simulate(1_500, 70.0, 5)
    catalog.table["sSFR"] = _floored(np.random.default_rng(5), len(catalog))
    path = tmp_path / "floored.parquet"
    write_catalog(catalog, path)
    result = CliRunner().invoke(app, [
        "train", "--model", "flow", "--catalog", str(path), "--out", str(tmp_path / "m"),
        "--epochs", "2", "--hidden", "16,16", "--bins", "4"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    lower = load_model(tmp_path / "m").metrics["edges"]["sSFR"]["lower"]
    assert f"edges found in the training rows: sSFR > {lower:.4g}" in text
    assert "color" not in text.split("edges found")[1]  # 1,500 rows: too few to tell
