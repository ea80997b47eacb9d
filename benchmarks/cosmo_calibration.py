"""Which σ-calibration estimator: compare them on fold models saved by benchmarks/cosmo.py.

For every fold model in ``DIR/fold<k>`` (written by ``benchmarks/cosmo.py --folds K
--save-dir``), the raw network σ (the saved calibration factor divided out) is scaled by
each candidate factor fitted on that fold's own validation boxes, and the held-out boxes
of the fold and the out-of-distribution suite are scored with it (pooled over folds):

* ``maximum likelihood`` -- sqrt(<z^2>), validation chi^2 = 1 (what ``CosmoGNN`` uses);
* ``quantile`` -- the 68.27% quantile of |z|, validation 1σ coverage = 68.27%;
* ``median`` -- median |z| / 0.6745, a robust Gaussian scale;
* ``none`` -- the raw σ.

    python benchmarks/cosmo.py --suite suites/train --ood suites/ood --folds 5 \\
        --settings real --save-dir models/cosmo
    python benchmarks/cosmo_calibration.py --models models/cosmo/real --folds 5 \\
        --suite suites/train --ood suites/ood

The folds, seeds and validation split must be those of the benchmark run (defaults).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))
from cosmo import PARAMETERS, folds

from galhalo.cosmo import CosmoGNN, galaxies_from_suite
from galhalo.cosmo.training import validation_split
from galhalo.files import write_json
from galhalo.report.console import rich_table
from galhalo.sim.suites import read_suite

ONE_SIGMA = 0.6827
ESTIMATORS = {
    "none": lambda z: np.ones(z.shape[1]),
    "maximum likelihood": lambda z: np.sqrt(np.mean(z**2, axis=0)),
    "quantile": lambda z: np.quantile(z, ONE_SIGMA, axis=0),
    "median": lambda z: np.median(z, axis=0) / 0.6745,
}


def raw_z(model: CosmoGNN, boxes: list, truth: np.ndarray, seed: int) -> np.ndarray:
    """|truth - mean| / σ_raw, (boxes, parameters), σ_raw without the saved factor."""
    mean, std = model.predict(boxes, seed)
    return np.abs(truth - mean) / (std / model.std_scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, required=True, help="DIR with fold<k>/")
    parser.add_argument("--folds", type=int, required=True)
    parser.add_argument("--suite", type=Path, required=True)
    parser.add_argument("--ood", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0, help="the benchmark's --seed")
    parser.add_argument("--valid", type=float, default=0.2, help="CosmoGNN.fit's valid")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/cosmo_calibration.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    suite = read_suite(args.suite).complete()
    boxes, values, _ = galaxies_from_suite(suite, PARAMETERS)
    ood = galaxies_from_suite(read_suite(args.ood).complete(), PARAMETERS)[:2] \
        if args.ood else None
    row_of = {name: i for i, name in enumerate(suite.names)}
    scored: dict[str, dict[str, list]] = {k: {"test": [], "ood": []} for k in ESTIMATORS}
    factors: dict[str, list] = {k: [] for k in ESTIMATORS}
    for fold, (train_names, test_names) in enumerate(
            folds(suite.names, args.folds, 0.2, args.seed)):
        model = CosmoGNN.load(args.models / f"fold{fold}")
        fit_seed = args.seed + fold
        train_rows = np.array([row_of[n] for n in train_names])
        # CosmoGNN.fit's validation split of this fold's training boxes
        valid = train_rows[validation_split(len(train_rows), args.valid, fit_seed)[1]]
        z_valid = raw_z(model, [boxes[i] for i in valid], values[valid], fit_seed)
        test = [row_of[n] for n in test_names]
        z_test = raw_z(model, [boxes[i] for i in test], values[test], args.seed + 1)
        z_ood = raw_z(model, *ood, args.seed + 1) if ood else None
        for name, estimator in ESTIMATORS.items():
            scale = estimator(z_valid)
            factors[name].append(scale.tolist())
            scored[name]["test"].append(z_test / scale)
            if z_ood is not None:
                scored[name]["ood"].append(z_ood / scale)

    rows = []
    for name in ESTIMATORS:
        for label, parts in scored[name].items():
            if not parts:
                continue
            z = np.concatenate(parts)[:, 0]          # Omega_m
            rows.append({"estimator": name, "suite": label, "boxes": len(z),
                         "χ²": float(np.mean(z**2)), "1σ cov.": float(np.mean(z < 1)),
                         "2σ cov.": float(np.mean(z < 2)),
                         "factors (Omega_m)": ", ".join(f"{f[0]:.2f}" for f in factors[name])})
    frame = pd.DataFrame(rows)
    Console(width=160).print(rich_table(frame, "σ calibration estimators, Omega_m, pooled "
                                               f"over {args.folds} folds"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {"models": str(args.models), "folds": args.folds,
                          "rows": rows, "factors": factors})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
