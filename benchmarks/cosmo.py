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
    python benchmarks/cosmo.py --suite suites/train --ood suites/ood

A suite still being generated is used as far as it goes (its finished universes).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from galhalo.cosmo import CosmoGNN, Systematics, evaluate_boxes, galaxies_from_suite
from galhalo.cosmo.metrics import posterior_metrics
from galhalo.files import write_json
from galhalo.report.cosmo_figure import write_predicted_vs_true
from galhalo.sim.suites import read_suite

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


def held_out_split(names: list[str], fraction: float, seed: int) -> tuple[list, list]:
    """(train names, test names): a seeded random ``fraction`` held out."""
    order = np.random.default_rng(seed).permutation(len(names))
    n_test = max(2, round(fraction * len(names)))
    test = sorted(names[i] for i in order[:n_test])
    return [name for name in names if name not in set(test)], test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, required=True, help="training suite")
    parser.add_argument("--ood", type=Path, default=None, help="out-of-distribution suite")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated subset of: {', '.join(SETTINGS)}")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (graphs this small scale better as one "
                             "process per setting with --threads 1)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cosmo.json"))
    parser.add_argument("--figures", type=Path, default=None,
                        help="directory for one predicted-vs-true figure per setting")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.settings.split(",")]
    unknown = [name for name in chosen if name not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; known: {list(SETTINGS)}")
    torch.set_num_threads(max(1, args.threads))

    suite = read_suite(args.suite).complete()
    train_names, test_names = held_out_split(suite.names, args.test_fraction, args.seed)
    train_boxes, train_values, _ = galaxies_from_suite(suite.subset(train_names), PARAMETERS)
    test_boxes, test_values, _ = galaxies_from_suite(suite.subset(test_names), PARAMETERS)
    suites = {"test": (test_boxes, test_values)}
    if args.ood is not None:
        ood = read_suite(args.ood).complete()
        ood_boxes, ood_values, _ = galaxies_from_suite(ood, PARAMETERS)
        suites["ood"] = (ood_boxes, ood_values)
    counts = np.array([len(box) for box in train_boxes])
    print(f"{len(train_boxes)} training universes (median {np.median(counts):.0f} galaxies, "
          f"{counts.min()}-{counts.max()}), {len(test_boxes)} held out"
          + (f", {len(suites['ood'][0])} out of distribution" if "ood" in suites else ""))

    rows = []
    for name in chosen:
        systematics, use_global = SETTINGS[name]
        model = CosmoGNN(systematics, hidden=args.hidden, layers=args.layers,
                         use_global=use_global, epochs=args.epochs)
        start = time.perf_counter()
        model.fit(train_boxes, train_values, PARAMETERS, seed=args.seed)
        fit_seconds = time.perf_counter() - start
        results = {label: evaluate_boxes(model, boxes, values, seed=args.seed + 1)
                   for label, (boxes, values) in suites.items()}
        if args.figures is not None:
            args.figures.mkdir(parents=True, exist_ok=True)
            slug = "".join(c if c.isalnum() else "_" for c in name).strip("_")
            write_predicted_vs_true(results, PARAMETERS, args.figures / f"{slug}.png",
                                    title=name)
        rows.append({"setting": name, "systematics": systematics.to_dict(),
                     "use_global": use_global, "fit_seconds": fit_seconds,
                     "epochs": model.metrics["epochs"],
                     "best_epoch": model.metrics["best_epoch"],
                     "metrics": {label: result["metrics"] for label, result in results.items()}})
        print(f"{name}: {fit_seconds:.0f} s, " + ", ".join(
            f"{label} Omega_m rel. error {r['metrics']['Omega_m']['mean_relative_error']:.3f}"
            f" cov {r['metrics']['Omega_m']['coverage_1sigma']:.2f}"
            for label, r in results.items()))

    # the prior-mean reference: R^2 = 0 by construction, its relative error for scale
    prior = {label: posterior_metrics(values, np.broadcast_to(train_values.mean(0),
                                                              values.shape),
                                      np.broadcast_to(train_values.std(0), values.shape),
                                      PARAMETERS)
             for label, (boxes, values) in suites.items()}

    table = Table(title=f"Omega_m from {len(train_boxes)} PM universes; targets in real "
                        f"space: rel. error <= {TARGET_ERROR:.0%}, 1σ coverage "
                        f"{TARGET_COVERAGE[0]:.2f}-{TARGET_COVERAGE[1]:.2f}")
    for column in ("setting", "suite", "R²", "rel. error", "⟨σ/μ⟩", "χ²", "1σ cov.",
                   "2σ cov.", "σ_8 R²", "fit s"):
        table.add_column(column, justify="right")
    for row in rows:
        for label, metrics in row["metrics"].items():
            om, s8 = metrics["Omega_m"], metrics["sigma_8"]
            table.add_row(row["setting"], label, f"{om['r2']:.3f}",
                          f"{om['mean_relative_error']:.3f}",
                          f"{om['mean_relative_uncertainty']:.3f}", f"{om['chi2']:.2f}",
                          f"{om['coverage_1sigma']:.2f}", f"{om['coverage_2sigma']:.2f}",
                          f"{s8['r2']:.3f}", f"{row['fit_seconds']:.0f}")
    for label, metrics in prior.items():
        om = metrics["Omega_m"]
        table.add_row("prior mean (reference)", label, f"{om['r2']:.3f}",
                      f"{om['mean_relative_error']:.3f}",
                      f"{om['mean_relative_uncertainty']:.3f}", f"{om['chi2']:.2f}",
                      f"{om['coverage_1sigma']:.2f}", f"{om['coverage_2sigma']:.2f}",
                      f"{metrics['sigma_8']['r2']:.3f}", "–")
    Console(width=170).print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "platform": platform.platform()},
        "suite": str(args.suite), "ood": None if args.ood is None else str(args.ood),
        "suite_settings": suite.settings.to_dict(), "train_universes": len(train_boxes),
        "test_universes": len(test_boxes),
        "ood_universes": len(suites["ood"][0]) if "ood" in suites else 0,
        "galaxies_per_universe": {"median": float(np.median(counts)),
                                  "min": int(counts.min()), "max": int(counts.max())},
        "hyperparameters": {"hidden": args.hidden, "layers": args.layers,
                            "epochs": args.epochs, "seed": args.seed},
        "rows": rows, "prior_mean_reference": prior})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
