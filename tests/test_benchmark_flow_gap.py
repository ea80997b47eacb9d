"""benchmarks/flow_gap.py: results scored on different test sets are never merged, and
a result scored on extra test halos goes to its own JSON and docs block."""

from __future__ import annotations

import pytest
from benchmark_modules import load_benchmark

flow_gap = load_benchmark("flow_gap.py", "benchmark_flow_gap")


def _row(gap: float) -> dict:
    regions = {label: {"gap": gap, "error": 0.01, "rows": 100}
               for label in flow_gap.REGION_LABELS}
    return {"family": "flow", "hyperparameters": {}, "threads": 2, "fit_seconds": 300.0,
            "epochs": 40, "train_rows": 800, "test_rows": 5200, "load_average": [1.0, 2.0],
            "date": "2026-12-07 21:00 UTC", "regions": regions}


def test_results_of_another_test_set_are_not_merged():
    cached = flow_gap.merged(None, {"default": _row(0.02)}, 1000, 42, test_halos=4000)
    assert cached["test_halos"] == 4000
    assert cached["command"].endswith("--variants default --test-halos 4000")
    both = flow_gap.merged(cached, {"single": _row(0.03)}, 1000, 42, test_halos=4000)
    assert list(both["variants"]) == ["default", "single"]
    with pytest.raises(SystemExit, match="test_halos=4000"):
        flow_gap.merged(cached, {"single": _row(0.03)}, 1000, 42)
    # a cache written before the option existed is one of no extra test halos
    old = {key: value for key, value in cached.items() if key != "test_halos"}
    assert flow_gap.merged(old, {}, 1000, 42)["test_halos"] == 0


def test_extra_test_halos_have_their_own_json_block_and_wording():
    assert flow_gap.default_out(0) == flow_gap.DEFAULT_OUT
    assert flow_gap.default_out(4000).name == "flow_gap_test4000.json"
    assert (flow_gap.block_name(0), flow_gap.block_name(4000)) == ("flow_gap",
                                                                   "flow_gap_precise")
    text = flow_gap.docs_block(flow_gap.merged(None, {"default": _row(0.02)}, 1000, 42,
                                               test_halos=4000))
    assert "scored on 5,200: the held-out 20% and every central of an independent " \
           "universe of 4,000 halos, seed 43" in text
    plain = flow_gap.docs_block(flow_gap.merged(None, {"default": _row(0.02)}, 1000, 42))
    assert "scored on 5,200)" in plain
