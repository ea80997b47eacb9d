"""Cosmology GNN benchmark: Omega_m (and sigma_8) from particle-mesh suites.

Trains the GNN on the universes of a training suite that were not held out, and scores
it on the held-out universes of the same Latin hypercube (in distribution) and on an
out-of-distribution suite whose galaxies follow the other stellar-to-halo-mass relation
(``--galaxy-model alternative``). One row per observing setting: real space with and
without the global feature log N_gal, redshift space, and redshift space with a mask
and errors. Targets (issue #10): in real space, Omega_m mean relative error <= 10% with
1-sigma coverage 68 +- 5%. The reference is the prior itself: a model that always
predicts the prior mean has R^2 = 0 (printed as the last row).

    galhalo suite --out suites/train --universes 400 --seed 1 --complete-particles 20
    galhalo suite --out suites/ood --universes 80 --seed 3 --complete-particles 20 \\
        --galaxy-model alternative
    python benchmarks/cosmo.py --suite suites/train --ood suites/ood [--folds 5]

Each model's stds are calibrated on its own validation boxes (``CosmoGNN(calibrate=True)``,
the default); the table also shows chi^2 and coverage before that calibration. With
``--folds K`` every universe of the suite is held out once and the held-out scores pool
all K folds (the binomial error of a coverage falls from 0.05 on 80 boxes to 0.023 on 400).

A suite still being generated is used as far as it goes (its finished universes).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from galhalo.cosmo import CosmoGNN, Systematics, evaluate_boxes, galaxies_from_suite
from galhalo.cosmo.metrics import posterior_metrics
from galhalo.files import write_json
from galhalo.report.console import rich_table
from galhalo.report.cosmo_figure import write_predicted_vs_true
from galhalo.sim.suites import held_out_names, read_suite

PARAMETERS = ("Omega_m", "sigma_8")
TARGET_ERROR = 0.10
TARGET_COVERAGE = (0.63, 0.73)

#: name -> (systematics, use the global feature)
SETTINGS = {
    "real": (Systematics(), True),
    "real without log N_gal": (Systematics(), False),
    "redshift space": (Systematics(redshift_space=True), True),
    "redshift space + 20% mask + errors": (
        Systematics(redshift_space=True, mask_fraction=0.2, position_error=0.5,
                    velocity_error=50.0), True),
}


def folds(names: list[str], n_folds: int, fraction: float, seed: int
          ) -> list[tuple[list[str], list[str]]]:
    """(train names, test names) per fold. One fold: a seeded random ``fraction`` held
    out. Several: a seeded partition into ``n_folds`` parts, each held out once, so every
    universe is scored exactly once (K-fold cross-validation)."""
    if n_folds == 1:
        return [held_out_names(names, fraction, seed)]
    splits = []
    for part in np.array_split(np.random.default_rng(seed).permutation(len(names)), n_folds):
        test = {names[i] for i in part}
        splits.append(([n for n in names if n not in test], [n for n in names if n in test]))
    return splits


def slug(name: str) -> str:
    """A setting's name as a file name."""
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def pooled(results: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate the truth/mean/std of several ``evaluate_boxes`` results."""
    return {key: np.concatenate([r[key] for r in results]) for key in ("truth", "mean", "std")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, required=True, help="training suite")
    parser.add_argument("--ood", type=Path, default=None, help="out-of-distribution suite")
    parser.add_argument("--folds", type=int, default=1,
                        help="K > 1: K-fold cross-validation, every universe of the suite "
                             "held out once (K fits per setting); 1: one held-out split of "
                             "--test-fraction")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help="comma-separated subset of: " + ", ".join(SETTINGS).replace("%", "%%"))
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--members", type=int, default=1, help="deep-ensemble members")
    parser.add_argument("--properties", default="",
                        help="comma-separated galaxy columns used as node features "
                             "(e.g. smass)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (graphs this small scale better as one "
                             "process per setting with --threads 1)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cosmo.json"))
    parser.add_argument("--save-dir", type=Path, default=None,
                        help="write each fitted model to DIR/<setting>/fold<k>")
    parser.add_argument("--figures", type=Path, default=None,
                        help="directory for one predicted-vs-true figure per setting")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.settings.split(",")]
    unknown = [name for name in chosen if name not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; known: {list(SETTINGS)}")
    if args.folds < 1:
        parser.error("--folds must be >= 1")
    torch.set_num_threads(max(1, args.threads))
    properties = tuple(p.strip() for p in args.properties.split(",") if p.strip())

    suite = read_suite(args.suite).complete()
    boxes, values, _ = galaxies_from_suite(suite, PARAMETERS, properties)
    row_of = {name: i for i, name in enumerate(suite.names)}
    splits = folds(suite.names, args.folds, args.test_fraction, args.seed)
    ood = None
    if args.ood is not None:
        ood_boxes, ood_values, _ = galaxies_from_suite(read_suite(args.ood).complete(),
                                                       PARAMETERS, properties)
        ood = (ood_boxes, ood_values)
    counts = np.array([len(box) for box in boxes])
    n_test = sum(len(test) for _, test in splits)
    print(f"{len(boxes)} universes (median {np.median(counts):.0f} galaxies, "
          f"{counts.min()}-{counts.max()}); {len(splits)} fold(s), {n_test} held out in all"
          + (f"; {len(ood[0])} out of distribution" if ood else ""))

    rows, frames = [], []
    for name in chosen:
        systematics, use_global = SETTINGS[name]
        per_fold: dict[str, list] = {"test": [], "ood": []}
        fit_seconds, scales, epochs = [], [], []
        for fold, (train_names, test_names) in enumerate(splits):
            train_rows = [row_of[n] for n in train_names]
            test_rows = [row_of[n] for n in test_names]
            model = CosmoGNN(systematics, hidden=args.hidden, layers=args.layers,
                             use_global=use_global, epochs=args.epochs,
                             members=args.members, properties=properties)
            start = time.perf_counter()
            model.fit([boxes[i] for i in train_rows], values[train_rows], PARAMETERS,
                      seed=args.seed + fold, progress=False)
            fit_seconds.append(time.perf_counter() - start)
            if args.save_dir is not None:
                (args.save_dir / slug(name)).mkdir(parents=True, exist_ok=True)
                model.save(args.save_dir / slug(name) / f"fold{fold}")
            scales.append(model.std_scale.tolist())
            epochs.append((model.metrics["epochs"], model.metrics["best_epoch"]))
            per_fold["test"].append(evaluate_boxes(
                model, [boxes[i] for i in test_rows], values[test_rows], seed=args.seed + 1))
            if ood:
                per_fold["ood"].append(evaluate_boxes(model, *ood, seed=args.seed + 1))
            print(f"{name}, fold {fold + 1}/{len(splits)}: {fit_seconds[-1]:.0f} s, std "
                  f"scale {np.round(model.std_scale, 3).tolist()}", flush=True)
        results = {}
        for label, found in per_fold.items():
            if not found:
                continue
            pool = pooled(found)
            raw_std = np.concatenate([r["std"] / np.array(s) for r, s
                                      in zip(found, scales, strict=True)])
            results[label] = {**pool, "metrics": posterior_metrics(
                pool["truth"], pool["mean"], pool["std"], PARAMETERS),
                "uncalibrated": posterior_metrics(pool["truth"], pool["mean"], raw_std,
                                                  PARAMETERS)}
        if args.figures is not None:
            args.figures.mkdir(parents=True, exist_ok=True)
            write_predicted_vs_true(results, PARAMETERS, args.figures / f"{slug(name)}.png",
                                    title=name)
        rows.append({"setting": name, "systematics": systematics.to_dict(),
                     "use_global": use_global, "fit_seconds": fit_seconds,
                     "epochs_and_best": epochs, "std_scale": scales,
                     "metrics": {label: r["metrics"] for label, r in results.items()},
                     "uncalibrated": {label: r["uncalibrated"]
                                      for label, r in results.items()}})
        for label, result in results.items():
            frames.append(summary_row(name, label, result["metrics"],
                                      result["uncalibrated"], float(np.mean(fit_seconds))))

    # the prior-mean reference: R^2 = 0 by construction, its relative error for scale
    held_out = values[[row_of[n] for _, test in splits for n in test]]
    reference = {"test": held_out} | ({"ood": ood[1]} if ood else {})
    prior = {label: posterior_metrics(truth, np.broadcast_to(values.mean(0), truth.shape),
                                      np.broadcast_to(values.std(0), truth.shape),
                                      PARAMETERS)
             for label, truth in reference.items()}
    for label, metrics in prior.items():
        frames.append(summary_row("prior mean (reference)", label, metrics, None, np.nan))
    title = (f"Omega_m from {len(boxes)} PM universes, {len(splits)} fold(s); targets in "
             f"real space: rel. error <= {TARGET_ERROR:.0%}, 1σ coverage "
             f"{TARGET_COVERAGE[0]:.2f}-{TARGET_COVERAGE[1]:.2f}")
    Console(width=190).print(rich_table(pd.DataFrame(frames), title))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "platform": platform.platform()},
        "suite": str(args.suite), "ood": None if args.ood is None else str(args.ood),
        "suite_settings": suite.settings.to_dict(), "universes": len(boxes),
        "folds": len(splits), "held_out_universes": n_test,
        "ood_universes": len(ood[0]) if ood else 0,
        "galaxies_per_universe": {"median": float(np.median(counts)),
                                  "min": int(counts.min()), "max": int(counts.max())},
        "hyperparameters": {"hidden": args.hidden, "layers": args.layers,
                            "epochs": args.epochs, "members": args.members,
                            "properties": list(properties),
                            "seed": args.seed},
        "rows": rows, "prior_mean_reference": prior})
    print(f"wrote {args.out}")


def summary_row(setting: str, label: str, metrics: dict, uncalibrated: dict | None,
                fit_seconds: float) -> dict:
    """One line of the printed table: Omega_m's scores (and sigma_8's R²)."""
    om = metrics["Omega_m"]
    raw = (uncalibrated or {}).get("Omega_m", {})
    return {"setting": setting, "suite": label, "boxes": int(om["boxes"]), "R²": om["r2"],
            "rel. error": om["mean_relative_error"],
            "⟨σ/μ⟩": om["mean_relative_uncertainty"], "χ²": om["chi2"],
            "1σ cov.": om["coverage_1sigma"], "2σ cov.": om["coverage_2sigma"],
            "χ² uncal.": raw.get("chi2", np.nan),
            "1σ cov. uncal.": raw.get("coverage_1sigma", np.nan),
            "σ_8 R²": metrics["sigma_8"]["r2"], "fit s (per fold)": fit_seconds}


if __name__ == "__main__":
    main()
