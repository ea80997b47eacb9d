"""Shared by the benchmarks on the synthetic universe with satellites (``hod.py``,
``occupation.py``, ``satellites.py``, ``satellite_properties.py``, ``satellite_mock.py``;
``simulate_satellites.py`` takes :func:`box_for`): its size at the default density, its
galaxy truth (``--preset``, default :data:`_preset.NOT_RERUN`: their figures in the
documents were measured on the ``classic`` universe), the held-out hosts, the
command-line options and the report.

Usage from a benchmark script (run from the repository root; the scripts' directory is
on ``sys.path``)::

    from _universe import HeldOut, add_universe_options, universe_size

    parser = argparse.ArgumentParser()
    add_universe_options(parser, DEFAULT_OUT, "docs/models.md")
    args = parser.parse_args()
    n_hosts, box = universe_size(args)
    data = HeldOut(n_hosts, box, args.seed, preset=args.preset)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _docs import rewrite_block
from _preset import NOT_RERUN, add_preset_option, preset_flag
from simulate import git_commit, machine_info

__all__ = ["QUICK_HOSTS", "REFERENCE_BOX", "REFERENCE_HOSTS", "HeldOut",
           "add_universe_options", "box_for", "paired_difference",
           "report", "universe_size"]

#: Hosts and box (Mpc/h) of the default universe (TNG300-like); other sizes keep its
#: density.
REFERENCE_HOSTS, REFERENCE_BOX = 100_000, 205.0
#: Hosts of a ``--quick`` run.
QUICK_HOSTS = 20_000
#: Share of the hosts held out.
TEST_SHARE = 0.2


def box_for(n_hosts: int) -> float:
    """Box side (Mpc/h) holding ``n_hosts`` at the default universe's density."""
    return REFERENCE_BOX * (n_hosts / REFERENCE_HOSTS) ** (1.0 / 3.0)


def add_universe_options(parser: argparse.ArgumentParser, default_out: Path,
                         document: str) -> None:
    """``--hosts --box --quick --seed --preset --out --no-docs`` (``document``: the file
    whose block the run rewrites, for the help; ``--preset`` defaults to
    :data:`_preset.NOT_RERUN`)."""
    parser.add_argument("--hosts", type=float, default=REFERENCE_HOSTS,
                        help="number of hosts (default 1e5)")
    parser.add_argument("--box", type=float, default=None,
                        help="box side in Mpc/h (default: 205 (hosts / 1e5)^(1/3))")
    parser.add_argument("--quick", action="store_true", help="2e4 hosts, box at the density")
    parser.add_argument("--seed", type=int, default=42)
    add_preset_option(parser, NOT_RERUN)
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--no-docs", action="store_true",
                        help=f"do not rewrite the block in {document}")


def universe_size(args: argparse.Namespace) -> tuple[int, float]:
    """(hosts, box side in Mpc/h) asked for by the options of :func:`add_universe_options`."""
    n_hosts = QUICK_HOSTS if args.quick else int(args.hosts)
    return n_hosts, args.box if args.box is not None else box_for(n_hosts)


class HeldOut:
    """A universe with satellites (``n_hosts`` hosts in a box of side ``box`` Mpc/h,
    galaxy truth ``preset``) and its hosts split, seeded, 80/20 into training and
    held-out hosts (one row per host, index reset), with the satellite truth (its count
    law): every benchmark scores its models on the same held-out hosts."""

    def __init__(self, n_hosts: int, box: float, seed: int, *, preset: str):
        import galhalo
        from galhalo.sim.truth import TruthModel

        start = time.perf_counter()
        self.universe = galhalo.simulate(n_hosts, box, seed, satellites=True,
                                         preset=preset)
        self.simulate_seconds = time.perf_counter() - start
        hosts = self.universe.centrals().table
        order = np.random.default_rng(seed).permutation(len(hosts))
        n_test = round(TEST_SHARE * len(hosts))
        self.test = hosts.iloc[order[:n_test]].reset_index(drop=True)
        self.train = hosts.iloc[order[n_test:]].reset_index(drop=True)
        self.truth = TruthModel.from_dict(self.universe.meta.truth).satellite_model


def paired_difference(log_prob: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Mean and standard error (ddof 1) of the per-host NLL difference
    ``-log_prob - (-reference)``, shapes (hosts,)."""
    difference = np.asarray(reference) - np.asarray(log_prob)
    return (float(difference.mean()),
            float(difference.std(ddof=1) / np.sqrt(len(difference))))


def report(args: argparse.Namespace, name: str, result: dict[str, Any], document: Path,
           block: str, text: str, extra_options: str = "") -> None:
    """Write the JSON (``args.out``: ``result`` with the benchmark, machine, commit and
    ``preset``) and, unless ``--no-docs``, the block ``block`` of ``document`` with
    ``text``, the commit and the command that reproduces it (``--preset`` when not the
    default)."""
    from galhalo.files import write_json

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {"benchmark": name, "machine": machine_info(),
                          "commit": git_commit(), "preset": args.preset, **result})
    print(f"wrote {args.out}", file=sys.stderr)
    if args.no_docs:
        return
    n_hosts, _ = universe_size(args)
    size = (" --quick" if args.quick else "" if n_hosts == REFERENCE_HOSTS
            and args.box is None else f" --hosts {n_hosts}")
    preset = preset_flag(args.preset, NOT_RERUN)
    rewrite_block(document, block, text + f" Commit {git_commit()}.",
                  command=f"python benchmarks/{name}.py{size}{preset}{extra_options}")
