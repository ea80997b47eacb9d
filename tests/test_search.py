"""Model selection by validation NLL over a hyperparameter grid (models/search.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galhalo.models import ModelError, model_family
from galhalo.models.search import MAX_CANDIDATES, expand_grid, grid_search


def test_the_grid_expands_to_every_combination_last_name_fastest():
    assert expand_grid({"bins": [4, 8], "hidden": [[8], [16, 16]]}) == [
        {"bins": 4, "hidden": [8]}, {"bins": 4, "hidden": [16, 16]},
        {"bins": 8, "hidden": [8]}, {"bins": 8, "hidden": [16, 16]}]


@pytest.mark.parametrize(("grid", "message"), [
    ([4, 8], "must map hyperparameter names"), ({}, "must map hyperparameter names"),
    ({"bins": 8}, "'bins' needs a non-empty list"), ({"bins": []}, "non-empty list"),
    ({"a": list(range(9)), "b": list(range(8))}, f"at most {MAX_CANDIDATES}"),
])
def test_bad_grids_are_refused(grid, message):
    with pytest.raises(ModelError, match=message):
        expand_grid(grid)


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mass = rng.uniform(11, 14, n)
    return pd.DataFrame({"M_h": mass, "smass": 0.6 * mass + rng.normal(2.5, 0.2, n),
                         "color": 0.2 * (mass - 11) + rng.normal(0.4, 0.1, n)})


def test_the_winner_is_the_lowest_validation_nll_and_equals_a_lone_fit():
    table = _table(1200, 1)
    fixed = {"epochs": 3, "batch_size": 128}
    seen = []
    best = grid_search("gauss", table, "M_h", "smass,color", {"hidden": [[4], [32, 32]]},
                       fixed=fixed, seed=2, progress=False,
                       report=lambda i, n, c: seen.append((i, n, c["hidden"])))
    rows = best.metrics["search"]
    assert seen == [(0, 2, [4]), (1, 2, [32, 32])]
    nll = [row["valid_nll"] for row in rows]
    assert nll[0] != nll[1]
    winner = rows[int(np.argmin(nll))]["hyperparameters"]
    assert list(best.hyperparameters["hidden"]) == winner["hidden"]
    # the same seed gives the same split and fit as a lone training run
    alone = model_family("gauss")(**fixed, **winner).fit(table, "M_h", "smass,color", seed=2,
                                                          progress=False)
    assert alone.metrics["valid_nll"] == best.metrics["valid_nll"] == min(nll)
    np.testing.assert_array_equal(alone.log_prob(table, table), best.log_prob(table, table))


def test_unknown_names_fail_before_any_fit():
    calls = []
    with pytest.raises(ModelError, match=r"unknown gauss hyperparameters \['leaves'\]"):
        grid_search("gauss", _table(300, 3), "M_h", "smass", {"hidden": [[4]], "leaves": [1]},
                    report=lambda *a: calls.append(a))
    assert calls == []
    with pytest.raises(ModelError, match="hidden set both"):
        grid_search("gauss", _table(300, 3), "M_h", "smass", {"hidden": [[4]]},
                    fixed={"hidden": (8,)})
