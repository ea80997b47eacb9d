"""Benchmark: the de Santi et al. (2022) regressors on the synthetic universe.

For each regressor family (and optionally its SMOGN-augmented variant, ``name+smogn``):
held-out Pearson correlation (PCC), R^2 and RMSE of the point estimate per target, the
RMSE on the rare galaxies (held-out rows in the outer 2.5 % tails of each target), held-out
NLL of the residual-Gaussian density minus the exact truth's (nats per galaxy), and fit
time. References: the published PCC on TNG300 (0.98 stellar mass, 0.7-0.8 colour, sSFR
and radius) and the **ceiling** of this universe: the PCC of the truth's own conditional
mean E[y | halo] (estimated from ``--truth-draws`` draws per halo), which no regressor
can beat (the synthetic universe's intrinsic scatter differs from TNG's).

    .venv/bin/python benchmarks/regression.py                        # 2e4 halos, all five
    .venv/bin/python benchmarks/regression.py --quick                # 5e3 halos, no MLP
    .venv/bin/python benchmarks/regression.py --families lightgbm,lightgbm+smogn
    .venv/bin/python benchmarks/regression.py --preset tng_hard      # galhalo's default universe

The universe is the ``classic`` one unless ``--preset`` names another (the figures in the
documents were measured on it).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from _preset import NOT_RERUN, add_preset_option
from rich.console import Console
from rich.table import Table

import galhalo
from galhalo.files import write_json
from galhalo.models import ModelError, model_family
from galhalo.models.regression import PUBLISHED_THRESHOLDS
from galhalo.sim.truth import TruthModel

CONDITION = "M_h,C_h,S_h,z_h,Delta3_h"
TARGETS = ("smass", "color", "sSFR", "radius")
PUBLISHED_PCC = {"smass": "0.98", "color": "0.7-0.8", "sSFR": "0.7-0.8", "radius": "0.7-0.8"}
DEFAULT_FAMILIES = "knn,extra_trees,lightgbm,mlp_regression,stacked"
QUICK_FAMILIES = "knn,extra_trees,lightgbm"


def split(catalog, test_fraction: float, seed: int):
    """(train, test) catalogs: a seeded random held-out fraction."""
    held_out = np.random.default_rng(seed).random(len(catalog)) < test_fraction
    return catalog.select(~held_out), catalog.select(held_out)


def pcc_r2(predicted: np.ndarray, truth: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-column Pearson correlation and R^2 of (rows, d) predictions."""
    pcc = [float(np.corrcoef(p, t)[0, 1]) for p, t in zip(predicted.T, truth.T, strict=True)]
    r2 = (1 - ((predicted - truth) ** 2).mean(axis=0) / truth.var(axis=0)).tolist()
    return pcc, r2


def tail_rmse(predicted: np.ndarray, truth: np.ndarray, reference: np.ndarray) -> list[float]:
    """Per-column RMSE over the held-out rows in the outer 2.5 % tails (each side) of the
    training distribution ``reference`` (rows, d): the rare galaxies SMOGN is for."""
    out = []
    for j in range(truth.shape[1]):
        low, high = np.quantile(reference[:, j], [0.025, 0.975])
        tail = (truth[:, j] < low) | (truth[:, j] > high)
        out.append(float(np.sqrt(np.mean((predicted[tail, j] - truth[tail, j]) ** 2))))
    return out


def score(entry: str, train, test, truth_nll: np.ndarray, seed: int) -> dict:
    family, _, option = entry.partition("+")
    hyper = {"augment": "smogn"} if option == "smogn" else {}
    thresholds = dict(PUBLISHED_THRESHOLDS)
    while True:
        model = model_family(family)(**hyper)
        start = time.perf_counter()
        try:
            model.fit(train, CONDITION, ",".join(TARGETS), seed=seed, progress=False)
            break
        except ModelError as err:  # SMOGN finds nothing rare: fit that target raw
            name = str(err).split("'")[1] if str(err).startswith("SMOGN on target") else None
            if not option or thresholds.get(name) is None:
                raise
            print(f"{entry}: {err}; fitting {name} without SMOGN")
            thresholds[name] = None
            hyper["smogn_thresholds"] = thresholds
    fit_seconds = time.perf_counter() - start
    truth = test.table[list(TARGETS)].to_numpy()
    predicted = model.predict(test.table)
    pcc, r2 = pcc_r2(predicted, truth)
    tails = tail_rmse(predicted, truth, train.table[list(TARGETS)].to_numpy())
    excess = -model.log_prob(test.table, test.table) - truth_nll
    row = {"family": entry, "fit_seconds": fit_seconds, "hyperparameters": hyper,
           "pcc": dict(zip(TARGETS, pcc, strict=True)),
           "r2": dict(zip(TARGETS, r2, strict=True)),
           "rmse": dict(zip(TARGETS, np.sqrt(((predicted - truth) ** 2).mean(0)).tolist(),
                            strict=True)),
           "tail_rmse": dict(zip(TARGETS, tails, strict=True)),
           "nll_minus_truth": float(excess.mean()),
           "nll_minus_truth_error": float(excess.std() / np.sqrt(len(excess)))}
    if family == "stacked":
        row["members_pcc"] = {kind: dict(zip(TARGETS, pcc_r2(p, truth)[0], strict=True))
                              for kind, p in model.predict_members(test.table).items()}
        row["stacking_weights"] = model.config()["stacking_weights"]
    print(f"{entry}: {fit_seconds:.0f} s, PCC {np.round(pcc, 3)}, tail RMSE "
          f"{np.round(tails, 3)}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default=None, help=f"default {DEFAULT_FAMILIES}")
    parser.add_argument("--n-halos", type=int, default=None, help="default 2e4 (quick 5e3)")
    parser.add_argument("--seed", type=int, default=42)
    add_preset_option(parser, NOT_RERUN)
    parser.add_argument("--truth-draws", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="small universe, no MLP")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "regression.json")
    args = parser.parse_args()
    families = args.families or (QUICK_FAMILIES if args.quick else DEFAULT_FAMILIES)
    n_halos = args.n_halos or (5_000 if args.quick else 20_000)
    torch.set_num_threads(1)

    catalog = galhalo.simulate(n_halos=n_halos, seed=args.seed, preset=args.preset)
    train, test = split(catalog, 0.2, args.seed)
    truth_model = TruthModel.from_dict(catalog.meta.truth)
    truth_nll = -truth_model.log_prob(test.table, test.table)
    truth = test.table[list(TARGETS)].to_numpy()
    conditional_mean = truth_model.sample(test.table, args.truth_draws, seed=args.seed).mean(0)
    ceiling, ceiling_r2 = pcc_r2(conditional_mean, truth)
    ceiling_tail = tail_rmse(conditional_mean, truth, train.table[list(TARGETS)].to_numpy())
    rows = [score(entry, train, test, truth_nll, args.seed) for entry in families.split(",")]

    title = (f"{len(test):,} held-out of {n_halos:,} halos ({len(train):,} for fitting, 20 % "
             "of them for validation)")
    pcc_table = Table(title=f"held-out PCC per target; {title}")
    tail_table = Table(title="RMSE over all held-out rows / over the rare ones (outer 2.5 % "
                             "tails of each target)")
    for name in ("model", *TARGETS, "NLL - truth [nats]", "fit s"):
        pcc_table.add_column(name, justify="right")
    for name in ("model", *TARGETS):
        tail_table.add_column(name, justify="right")
    pcc_table.add_row("published (TNG300)", *PUBLISHED_PCC.values(), "", "")
    pcc_table.add_row("ceiling: truth E(y | halo)", *(f"{c:.3f}" for c in ceiling), "0", "")
    ceiling_rmse = np.sqrt(((conditional_mean - truth) ** 2).mean(0))
    tail_table.add_row("ceiling: truth E(y | halo)", *(
        f"{a:.3f} / {t:.3f}" for a, t in zip(ceiling_rmse, ceiling_tail, strict=True)))
    for row in rows:
        pcc_table.add_row(row["family"], *(f"{row['pcc'][t]:.3f}" for t in TARGETS),
                          f"{row['nll_minus_truth']:.3f} ± {row['nll_minus_truth_error']:.3f}",
                          f"{row['fit_seconds']:.0f}")
        tail_table.add_row(row["family"], *(f"{row['rmse'][t]:.3f} / {row['tail_rmse'][t]:.3f}"
                                            for t in TARGETS))
    Console(width=120).print(pcc_table, tail_table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average": os.getloadavg(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "preset": args.preset, "n_halos": n_halos, "train_rows": len(train), "test_rows": len(test),
        "truth_nll": float(truth_nll.mean()),
        "ceiling_pcc": dict(zip(TARGETS, ceiling, strict=True)),
        "ceiling_r2": dict(zip(TARGETS, ceiling_r2, strict=True)),
        "ceiling_tail_rmse": dict(zip(TARGETS, ceiling_tail, strict=True)),
        "published_pcc": PUBLISHED_PCC, "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
