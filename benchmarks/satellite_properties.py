"""Benchmark: satellite property models, p(satellite galaxy | sub-halo, host, central),
against the synthetic universe's exact satellite truth, and whether conditioning on the
central learns galactic conformity (galhalo issue #19, item 2).

A universe with satellites is simulated and its hosts split 80/20 with the seed
(``_universe.HeldOut``: the same held-out hosts as the other satellite benchmarks). The
central columns are derived from the whole catalog (``with_central_columns``), then two
conditional flows (default hyperparameters, their own 20 % early-stopping split) learn
the four galaxy columns of the training hosts' *satellites*:

* **with the central**: condition ``SATELLITE_CONDITION`` = M_h, M_peak, M_sub,
  z_infall, r_host, sSFR_central (exactly what the truth conditions on);
* **without the central**: the same minus ``sSFR_central``.

On the held-out hosts' satellites it reports the NLL per galaxy (nats) of each flow, of
the exact truth (``TruthConditional``: the satellite mixture of
``sim.satellite_truth``), and flow − truth ± the standard error of the paired
per-galaxy difference (an estimate of the KL divergence; issue #19's target: within
0.05 nats per galaxy). Galaxies of one host share their host, so the error treats
galaxies as independent given their conditions, which the truth makes them.

**Conformity**: f_Q (sSFR < −11) of the satellites of quenched centrals minus that of
the satellites of star-forming centrals, in 0.25-dex host-mass bins, combined by inverse
variance (``evaluate.satellite_quenching.conformity``; hosts as the sampling unit), on
the held-out hosts: for the catalog itself, then with the satellites' galaxy columns
redrawn ``--draws`` times from the truth and from each flow (the centrals keep theirs);
the drawn figures are means over the draws ± the mean draw's error over sqrt(draws)
(the hosts are the same in every draw, so this is the error of the draws alone).

Default: 2e5 hosts (about 6e4 training satellites; with 1e5 the flows overfit to
~0.08 nats above the truth) in 258 Mpc/h, seed 42, about 6 minutes on 2 cores (15
when they are shared); ``--quick``: 2e4 hosts at the same density, under 3 minutes.
Prints the tables, writes JSON (benchmarks/results/satellite_properties.json) and the
block ``satellite_properties`` of docs/satellites.md.

Usage::

    python benchmarks/satellite_properties.py            # 2e5 hosts
    python benchmarks/satellite_properties.py --quick    # 2e4 hosts, < 3 min
    python benchmarks/satellite_properties.py --preset tng_hard  # galhalo's default universe
    python benchmarks/satellite_properties.py --experts 2 --no-docs --out F.json
                                                         # flows of two experts
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _docs import DOCS, markdown_table
from _universe import HeldOut, add_universe_options, paired_difference, report, universe_size

from galhalo.models.flow import SINGLE_FLOW_SHAPE

#: Issue #19's target for flow − truth, nats per satellite galaxy.
TARGET_NATS = 0.05
#: Quenched: sSFR below this (log10 1/yr).
QUENCHED_SSFR = -11.0
#: Hosts of the default run (the other satellite benchmarks use 1e5).
HOSTS = 200_000
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "satellite_properties.json"
DOCUMENT = DOCS / "satellites.md"
BLOCK = "satellite_properties"


def conditions() -> dict[str, tuple[str, ...]]:
    """The two flows' condition columns: with and without the central's sSFR."""
    from galhalo.sim.satellite_truth import SATELLITE_CONDITION

    return {"with the central": tuple(SATELLITE_CONDITION),
            "without the central": tuple(n for n in SATELLITE_CONDITION
                                         if n != "sSFR_central")}


def held_out_tables(data: HeldOut) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training satellites, held-out hosts' galaxies: centrals then satellites), both
    with ``sSFR_central`` derived from the whole catalog."""
    from galhalo.catalog.hosts import with_central_columns

    table = with_central_columns(data.universe.table, ("sSFR_central",))
    host = table["host_id"].to_numpy()
    central = table["is_central"].to_numpy(bool)
    train = np.isin(host, data.train["halo_id"].to_numpy()) & ~central
    test = np.isin(host, data.test["halo_id"].to_numpy())
    return (table[train].reset_index(drop=True), table[test].reset_index(drop=True))


def conformity_of(table: pd.DataFrame) -> tuple[float, float]:
    """Combined conformity (difference of satellite f_Q, quenched minus star-forming
    centrals, at fixed host mass) and its error, of a table with hosts."""
    from galhalo.evaluate.satellite_quenching import conformity

    frame = conformity(table, by="sSFR", cut=QUENCHED_SSFR)
    combined = frame[frame["scope"] == "combined"].iloc[0]
    return float(combined["difference"]), float(combined["difference_error"])


def drawn_conformity(model: Any, test: pd.DataFrame, draws: int, seed: int
                     ) -> dict[str, float]:
    """Conformity with the satellites' galaxy columns drawn ``draws`` times from
    ``model`` (the centrals keep theirs): mean, error of the mean, and the satellites'
    quenched fraction."""
    satellite = ~test["is_central"].to_numpy(bool)
    rows = test[satellite].reset_index(drop=True)
    samples = np.asarray(model.sample(rows, draws, seed))
    index = list(model.target).index("sSFR")
    values, errors = [], []
    for draw in range(draws):
        table = test.copy()
        table.loc[satellite, "sSFR"] = samples[draw, :, index]
        difference, error = conformity_of(table)
        values.append(difference)
        errors.append(error)
    return {"conformity": float(np.mean(values)),
            "conformity_error": float(np.mean(errors) / np.sqrt(draws)),
            "quenched_fraction": float((samples[..., index] < QUENCHED_SSFR).mean())}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(n_hosts: int, box: float, seed: int, settings: dict[str, Any],
            draws: int, *, preset: str) -> dict[str, Any]:
    """Everything of the module docstring on the universe of galaxy truth ``preset``,
    JSON-able."""
    import torch

    from galhalo.catalog.schema import GALAXY
    from galhalo.evaluate.truth import TruthConditional
    from galhalo.models import model_family
    from galhalo.sim.truth import TruthModel

    data = HeldOut(n_hosts, box, seed, preset=preset)
    _say(f"simulated {n_hosts:,} hosts in {data.simulate_seconds:.0f} s")
    train, test = held_out_tables(data)
    satellites = test[~test["is_central"].to_numpy(bool)].reset_index(drop=True)
    truth = TruthConditional(TruthModel.from_dict(data.universe.meta.truth), GALAXY)
    truth_lp = truth.log_prob(satellites, satellites)
    observed, observed_error = conformity_of(test)
    result: dict[str, Any] = {
        "n_hosts": n_hosts, "box": box, "seed": seed, "draws": draws,
        "torch_threads": torch.get_num_threads(),
        "settings": settings, "train_satellites": len(train),
        "test_satellites": len(satellites), "test_hosts": len(data.test),
        "truth_nll": float(-truth_lp.mean()),
        "truth_nll_error": float(truth_lp.std(ddof=1) / np.sqrt(len(truth_lp))),
        "observed": {"conformity": observed, "conformity_error": observed_error,
                     "quenched_fraction": float(
                         (satellites["sSFR"] < QUENCHED_SSFR).mean())},
        "truth": drawn_conformity(truth, test, draws, seed + 1),
        "models": {}, "seconds": {"simulate": data.simulate_seconds},
    }
    for number, (label, condition) in enumerate(conditions().items()):
        start = time.perf_counter()
        model = model_family("flow")(**settings).fit(train, condition, GALAXY, seed=seed)
        seconds = time.perf_counter() - start
        _say(f"flow {label}: fitted in {seconds:.0f} s")
        log_prob = model.log_prob(satellites, satellites)
        minus, error = paired_difference(log_prob, truth_lp)
        result["models"][label] = {
            "condition": list(condition), "nll": float(-log_prob.mean()),
            "minus_truth": minus, "error": error, "fit_seconds": seconds,
            "epochs": model.metrics.get("epochs"),
            "best_epoch": model.metrics.get("best_epoch"),
            **drawn_conformity(model, test, draws, seed + 2 + number)}
    return result


def nll_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["model", "condition", "held-out NLL [nats/galaxy]", "− truth [nats/galaxy]",
              "satellite f_Q", "conformity (f_Q quenched − star-forming centrals)"]
    observed, truth = result["observed"], result["truth"]
    rows = [["held-out catalog", "–", "–", "–", f"{observed['quenched_fraction']:.3f}",
             f"{observed['conformity']:+.3f} ± {observed['conformity_error']:.3f}"],
            ["exact truth", "M_h, M_peak, M_sub, z_infall, r_host, sSFR_central",
             f"{result['truth_nll']:.4f} ± {result['truth_nll_error']:.4f}", "0",
             f"{truth['quenched_fraction']:.3f}",
             f"{truth['conformity']:+.3f} ± {truth['conformity_error']:.3f}"]]
    for label, entry in result["models"].items():
        rows.append([f"flow {label}", ", ".join(entry["condition"]),
                     f"{entry['nll']:.4f}",
                     f"{entry['minus_truth']:+.4f} ± {entry['error']:.4f}",
                     f"{entry['quenched_fraction']:.3f}",
                     f"{entry['conformity']:+.3f} ± {entry['conformity_error']:.3f}"])
    return header, rows


def summary(result: dict[str, Any]) -> str:
    models = result["models"]
    central = models["with the central"]
    verdict = "within" if central["minus_truth"] < TARGET_NATS else "outside"
    fits = ", ".join(f"{label} {entry['fit_seconds']:.0f} s ({entry['epochs']} epochs, "
                     f"best {entry['best_epoch']})" for label, entry in models.items())
    return (f"{result['n_hosts']:,} hosts in {result['box']:.0f} Mpc/h, seed "
            f"{result['seed']}: flows trained on the {result['train_satellites']:,} "
            f"satellites of the training hosts, scored on the {result['test_satellites']:,} "
            f"satellites of {result['test_hosts']:,} held-out hosts. Flow with the central "
            f"− truth {central['minus_truth']:+.4f} ± {central['error']:.4f} nats per "
            f"galaxy: {verdict} issue #19's {TARGET_NATS} target. Conformity from "
            f"{result['draws']} draws per satellite: truth "
            f"{result['truth']['conformity']:+.3f}, with the central "
            f"{central['conformity']:+.3f}, without "
            f"{models['without the central']['conformity']:+.3f}. Fits: {fits}; "
            f"simulation {result['seconds']['simulate']:.0f} s.")


NOTE = ("NLL ± its standard error (the truth's: of the mean over galaxies; the "
        "differences: of the paired per-galaxy difference). f_Q: the quenched fraction "
        f"(sSFR < {QUENCHED_SSFR:g}) of the held-out satellites, in the catalog or in the "
        "draws. Conformity: f_Q of the satellites of quenched centrals minus star-forming "
        "centrals in 0.25-dex host-mass bins, combined by inverse variance (hosts as the "
        "sampling unit); for the truth and the flows the mean over the draws ± the mean "
        "draw's error over sqrt(draws) (same hosts in every draw). "
        "`benchmarks/satellite_properties.py` documents every column.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     conflict_handler="resolve")
    add_universe_options(parser, DEFAULT_OUT, "docs/satellites.md")
    parser.add_argument("--hosts", type=float, default=HOSTS,
                        help=f"number of hosts (default {HOSTS:.0e})")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs")
    parser.add_argument("--experts", type=int, default=1,
                        help="flows as mixtures of this many experts (docs/models.md; "
                             "default 1: one flow)")
    parser.add_argument("--draws", type=int, default=10,
                        help="draws per held-out satellite for the conformity (default 10)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on shared cores more threads wait "
                             "on each other)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, args.threads))
    n_hosts, box = universe_size(args)
    # the flow shape of the documented run (one flow of one transform)
    settings = {**SINGLE_FLOW_SHAPE, **({} if args.epochs is None else {"epochs": args.epochs})}
    if args.experts != 1:
        settings["experts"] = args.experts
    result = measure(n_hosts, box, args.seed, settings, args.draws, preset=args.preset)
    table = markdown_table(*nll_table(result))
    print(table)
    print(summary(result))
    extra = (f" --epochs {args.epochs}" if args.epochs is not None else "") + (
        f" --experts {args.experts}" if args.experts != 1 else "") + (
        f" --draws {args.draws}" if args.draws != 10 else "")
    report(args, "satellite_properties", result, DOCUMENT, BLOCK,
           table + "\n\n" + summary(result) + "\n\n" + NOTE, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
