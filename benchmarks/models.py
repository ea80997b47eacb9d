"""Conditional density models against the exact truth of the synthetic universe.

For each family: held-out mean negative log-likelihood minus the truth's (nats per
galaxy, with its standard error), fit time, and sampling throughput (galaxies/s). The
reference is the known truth model itself (the best any model can do); targets on 2 CPU
cores: the flow within 0.05 nats of the truth, trained in under 10 minutes on ~8e4
halos, sampling at least 1e5 galaxies/s.

    python benchmarks/models.py                      # default universe, gauss and flow
    python benchmarks/models.py --families flow --epochs 100 --out results/flow.json
    python benchmarks/models.py --save-dir DIR          # keep the fitted models, then
    python benchmarks/models.py --load-dir DIR          # re-score them without fitting
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
from galhalo.models import load_model, model_family
from galhalo.sim.truth import TruthModel

CONDITION = "M_h,C_h,S_h,z_h,Delta3_h"
TARGET = "smass,color,sSFR,radius"
TARGET_NATS = 0.05
TARGET_RATE = 1e5


def split(catalog, test_fraction: float, seed: int):
    """(train, test) catalogs: a seeded random held-out fraction."""
    held_out = np.random.default_rng(seed).random(len(catalog)) < test_fraction
    return catalog.select(~held_out), catalog.select(held_out)


def sampling_rate(model, table, draws: int, seed: int, repeats: int = 3) -> float:
    """Best of ``repeats`` galaxies/s for ``draws`` galaxies per row of ``table``."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        model.sample(table, draws, seed=seed)
        best = max(best, draws * len(table) / (time.perf_counter() - start))
    return best


def score(family: str, train, test, truth_nll: np.ndarray, hyper: dict, seed: int,
          save_dir: Path | None = None, load_dir: Path | None = None) -> dict:
    """Fit one family (or load it from ``load_dir / family``) and measure it against the
    truth on the held-out rows; with ``save_dir`` the fitted model is saved to
    ``save_dir / family``. Sampling is timed at 1 and 10 galaxies per halo; for the flow
    also with zuko's own sampler (the reference), in the same run."""
    if load_dir is not None:
        model = load_model(load_dir / family)
        fit_seconds = sum(epoch["seconds"] for epoch in model.history)
    else:
        model = model_family(family)(**hyper)
        start = time.perf_counter()
        model.fit(train, CONDITION, TARGET, seed=seed, progress=True)
        fit_seconds = time.perf_counter() - start
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        model.save(save_dir / family)
    nll = -model.log_prob(test.table, test.table)
    excess = nll - truth_nll
    rates = {f"sampling_galaxies_per_second_{k}": sampling_rate(model, test.table, k, seed)
             for k in (1, 10)}
    if family == "flow":
        model.sampler = "zuko"
        rates.update({f"reference_galaxies_per_second_{k}":
                      sampling_rate(model, test.table, k, seed) for k in (1, 10)})
        model.sampler = "fast"
    return {"family": family, "hyperparameters": model.hyperparameters,
            "fit_seconds": fit_seconds, "loaded": load_dir is not None,
            "epochs": model.metrics["epochs"], "best_epoch": model.metrics["best_epoch"],
            "nll": float(nll.mean()), "nll_minus_truth": float(excess.mean()),
            "nll_minus_truth_error": float(excess.std() / np.sqrt(len(excess))),
            "sampling_galaxies_per_second": rates["sampling_galaxies_per_second_1"], **rates}


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
    parser.add_argument("--load-dir", type=Path, default=None,
                        help="score the models saved in LOAD_DIR/<family> (by --save-dir) "
                             "instead of fitting; fit time is the saved training time")
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
    rows = [score(family, train, test, truth_nll, hyper, args.seed, args.save_dir,
                  args.load_dir)
            for family in args.families.split(",")]

    table = Table(title=f"held-out NLL vs the exact truth ({len(test):,} galaxies; truth NLL "
                        f"{truth_nll.mean():.4f} nats); targets: flow within {TARGET_NATS} "
                        f"nats, >= {TARGET_RATE:.0e} galaxies/s")
    for name in ("family", "NLL - truth [nats]", "fit s", "epochs (best)",
                 "galaxies/s (1 per halo)", "vs rate target", "galaxies/s (10 per halo)",
                 "vs zuko's sampler (1 / 10)"):
        table.add_column(name, justify="right")
    for row in rows:
        ratio = "–"
        if "reference_galaxies_per_second_1" in row:
            ratio = " / ".join(
                f"{row[f'sampling_galaxies_per_second_{k}'] / row[f'reference_galaxies_per_second_{k}']:.1f}x"  # noqa: E501
                for k in (1, 10))
        table.add_row(row["family"],
                      f"{row['nll_minus_truth']:.4f} ± {row['nll_minus_truth_error']:.4f}",
                      f"{row['fit_seconds']:.0f}" + (" (saved)" if row["loaded"] else ""),
                      f"{row['epochs']} ({row['best_epoch']})",
                      f"{row['sampling_galaxies_per_second_1']:,.0f}",
                      f"{row['sampling_galaxies_per_second_1'] / TARGET_RATE:.2f}x",
                      f"{row['sampling_galaxies_per_second_10']:,.0f}", ratio)
    Console(width=170).print(table)
    write_json(args.out.parent.mkdir(parents=True, exist_ok=True) or args.out, {
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "platform": platform.platform()},
        "train_rows": len(train), "test_rows": len(test),
        "truth_nll": float(truth_nll.mean()), "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
