"""Conditional density models against the exact truth of the synthetic universe.

For each family: held-out mean negative log-likelihood minus the truth's (nats per
galaxy, with its standard error), fit time, and sampling throughput (galaxies/s). The
reference is the known truth model itself (the best any model can do); targets on 2 CPU
cores: the flow within 0.05 nats of the truth, trained in under 10 minutes on ~8e4
halos, sampling at least 1e5 galaxies/s.

    python benchmarks/models.py                      # default universe, gauss and flow
    python benchmarks/models.py --families flow --epochs 100 --out results/flow.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

import galhalo
from galhalo.files import write_json
from galhalo.models import model_family
from galhalo.sim.truth import TruthModel

CONDITION = "M_h,C_h,S_h,z_h,Delta3_h"
TARGET = "smass,color,sSFR,radius"
TARGET_NATS = 0.05
TARGET_RATE = 1e5


def split(catalog, test_fraction: float, seed: int):
    """(train, test) catalogs: a seeded random held-out fraction."""
    held_out = np.random.default_rng(seed).random(len(catalog)) < test_fraction
    return catalog.select(~held_out), catalog.select(held_out)


def score(family: str, train, test, truth_nll: np.ndarray, hyper: dict, seed: int,
          save_dir: Path | None = None) -> dict:
    """Fit one family and measure it against the truth on the held-out rows; with
    ``save_dir`` the fitted model is saved to ``save_dir / family``."""
    model = model_family(family)(**hyper)
    start = time.perf_counter()
    model.fit(train, CONDITION, TARGET, seed=seed, progress=True)
    fit_seconds = time.perf_counter() - start
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        model.save(save_dir / family)
    nll = -model.log_prob(test.table, test.table)
    excess = nll - truth_nll
    draws = 10
    start = time.perf_counter()
    model.sample(test.table, draws, seed=seed)
    rate = draws * len(test) / (time.perf_counter() - start)
    return {"family": family, "hyperparameters": model.hyperparameters,
            "fit_seconds": fit_seconds, "epochs": model.metrics["epochs"],
            "best_epoch": model.metrics["best_epoch"], "nll": float(nll.mean()),
            "nll_minus_truth": float(excess.mean()),
            "nll_minus_truth_error": float(excess.std() / np.sqrt(len(excess))),
            "sampling_galaxies_per_second": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="gauss,flow")
    parser.add_argument("--n-halos", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=None, help="override the default")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="hyperparameter for every family (value read as JSON)")
    parser.add_argument("--save-dir", type=Path, default=None,
                        help="save each fitted model to SAVE_DIR/<family>")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/models.json"))
    args = parser.parse_args()

    catalog = galhalo.simulate(n_halos=args.n_halos, seed=args.seed)
    train, test = split(catalog, 0.2, args.seed)
    truth = TruthModel.from_dict(catalog.meta.truth)
    truth_nll = -truth.log_prob(test.table, test.table)
    hyper = {} if args.epochs is None else {"epochs": args.epochs}
    for item in args.set:
        key, _, value = item.partition("=")
        hyper[key.strip()] = json.loads(value)
    rows = [score(family, train, test, truth_nll, hyper, args.seed, args.save_dir)
            for family in args.families.split(",")]

    table = Table(title=f"held-out NLL vs the exact truth ({len(test):,} galaxies; truth NLL "
                        f"{truth_nll.mean():.4f} nats); targets: flow within {TARGET_NATS} "
                        f"nats, >= {TARGET_RATE:.0e} galaxies/s")
    for name in ("family", "NLL - truth [nats]", "fit s", "epochs (best)", "galaxies/s",
                 "vs rate target"):
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(row["family"],
                      f"{row['nll_minus_truth']:.4f} ± {row['nll_minus_truth_error']:.4f}",
                      f"{row['fit_seconds']:.0f}", f"{row['epochs']} ({row['best_epoch']})",
                      f"{row['sampling_galaxies_per_second']:,.0f}",
                      f"{row['sampling_galaxies_per_second'] / TARGET_RATE:.2f}x")
    Console().print(table)
    write_json(args.out.parent.mkdir(parents=True, exist_ok=True) or args.out, {
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "platform": platform.platform()},
        "train_rows": len(train), "test_rows": len(test),
        "truth_nll": float(truth_nll.mean()), "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
