"""Shared by the benchmark scripts that simulate a universe: which galaxy truth (preset)
it draws.

The default universe of ``galhalo simulate`` is ``tng_hard`` since 2026-12-07 (issue
#20; ``galhalo.sim.presets.DEFAULT_PRESET``). A benchmark whose figures in the
documents were measured on the ``classic`` universe before that day, and not re-run
since, keeps ``classic`` as its own default (:data:`NOT_RERUN`), so that the command
printed beside its figures still reproduces them; ``--preset`` picks either universe.
A benchmark moves to the default when it is re-run and its blocks rewritten.

Usage from a benchmark script (run from the repository root; the scripts' directory is
on ``sys.path``)::

    from _preset import add_preset_option, universe_label

    add_preset_option(parser)                     # --preset, default tng_hard
    add_preset_option(parser, NOT_RERUN)          # --preset, default classic
    catalog = galhalo.simulate(n_halos, seed=seed, preset=args.preset)
"""

from __future__ import annotations

import argparse
from typing import Any

from galhalo.sim.presets import CLASSIC, DEFAULT_PRESET, GALAXY_PRESETS

__all__ = ["DEFAULT_PRESET", "NOT_RERUN", "add_preset_option", "preset_flag",
           "result_preset", "universe_label"]

#: The default of a benchmark not yet re-run on the default universe.
NOT_RERUN = CLASSIC


def add_preset_option(parser: argparse.ArgumentParser, default: str = DEFAULT_PRESET
                      ) -> None:
    """``--preset NAME``: the galaxy truth of the simulated universe."""
    parser.add_argument(
        "--preset", choices=list(GALAXY_PRESETS), default=default,
        help=f"galaxy truth of the synthetic universe (default {default}"
             + ("" if default == DEFAULT_PRESET else
                f": the figures in the documents were measured on it; galhalo's own "
                f"default is {DEFAULT_PRESET}") + ")")


def preset_flag(preset: str, default: str) -> str:
    """The ``--preset`` part of a reproducing command line: `` --preset NAME``, or
    nothing when ``preset`` is the script's ``default``."""
    return "" if preset == default else f" --preset {preset}"


def result_preset(result: dict[str, Any]) -> str:
    """The preset a saved result was measured on (results written before presets
    existed hold none: they come from the classic universe)."""
    return result.get("preset", CLASSIC)


def universe_label(preset: str) -> str:
    """How a document names the universe of ``preset``, e.g. ``the tng_hard universe``."""
    return f"the `{preset}` universe"
