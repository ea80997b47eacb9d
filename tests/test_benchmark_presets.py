"""benchmarks/_preset.py: every benchmark names the galaxy truth of the universe it
simulates, so no documented figure silently changes universe with galhalo's default."""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import pytest
from benchmark_modules import BENCHMARKS, load_benchmark

from galhalo.sim.presets import DEFAULT_PRESET, GALAXY_PRESETS


def _load_preset_module():
    return load_benchmark("_preset.py", "benchmark_preset")


def _simulate_calls(path: Path) -> list[ast.Call]:
    """Calls of a function named ``simulate`` (``simulate(...)``, ``galhalo.simulate(...)``)
    in one script, and calls that pass ``galhalo.simulate`` on as an argument."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", None))
        passed_on = any(getattr(arg, "attr", None) == "simulate" for arg in node.args)
        if name == "simulate" or passed_on:
            calls.append(node)
    return calls


def test_every_benchmark_simulation_names_its_preset():
    scripts = sorted(BENCHMARKS.glob("*.py"))
    checked = 0
    for path in scripts:
        for call in _simulate_calls(path):
            # preset=..., a UniverseConfig, or **options built with the preset (nnclass.py
            # runs an older galhalo without presets too)
            keywords = {keyword.arg for keyword in call.keywords}
            assert keywords & {"preset", "config", None}, (
                f"{path.name}:{call.lineno}: simulate(...) without preset=")
            checked += 1
    # the scan does find the calls (models.py, evaluation.py, the satellite universe, ...)
    assert checked >= 20


def test_preset_option_defaults_and_refuses_unknown_names(capsys):
    preset = _load_preset_module()
    for default in GALAXY_PRESETS:
        parser = argparse.ArgumentParser()
        preset.add_preset_option(parser, default)
        assert parser.parse_args([]).preset == default
        assert parser.parse_args(["--preset", "tng_hard"]).preset == "tng_hard"
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["--preset", "tng"])
    assert stopped.value.code == 2 and "invalid choice: 'tng'" in capsys.readouterr().err
    plain = argparse.ArgumentParser()
    preset.add_preset_option(plain)
    assert plain.parse_args([]).preset == DEFAULT_PRESET == preset.DEFAULT_PRESET
    assert preset.NOT_RERUN == "classic" != DEFAULT_PRESET


def test_results_without_a_preset_come_from_the_classic_universe():
    preset = _load_preset_module()
    assert preset.result_preset({}) == "classic"
    assert preset.result_preset({"preset": "tng_hard"}) == "tng_hard"
    assert preset.universe_label("tng_hard") == "the `tng_hard` universe"
    assert preset.preset_flag("classic", "classic") == ""
    assert preset.preset_flag("tng_hard", "classic") == " --preset tng_hard"
    assert "benchmark_preset" not in sys.modules  # loaded from its file, not imported
