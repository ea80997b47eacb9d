"""Benchmark: survey classification of stars, galaxies and low-/high-z quasars from
J-PAS-like photometry (galhalo issue #21), beside the published J-PAS mock figures.

A simulated survey (true fluxes in the J-PAS-like filters, r = 17-23.6) is observed with
the J-PAS-like depths (``observation.jpas_depths``) under the background-limited
``"sky"`` noise model. Four classifiers are trained on it (seed-fixed): the 1-D CNN and
LightGBM, each with and without the errors as inputs. On held-out sources it reports

* F1 per class in the r bins 17-20, 20-22.5, 22.5-23.6, beside Martínez-Solaeche et al.
  2023 (arXiv:2303.12684, ANN1 on J-PAS mocks; REFERENCES.md);
* quasar redshifts: σ_NMAD and the outlier fraction (|Δz|/(1+z) > 0.15); the expected
  calibration error of the class probabilities; the best F1 of a probability threshold
  on qso_high (the purity-completeness curve);
* domain shift: the same held-out sources observed with another noise model
  (``"poisson"``, source-to-sky ratio 3 at the depth) and with depths 0.5 mag shallower,
  classified by the models trained on ``"sky"``: the drop in macro F1 and how much of it
  the errors-as-input models recover (drop without errors − drop with errors).

Sources: ``--source mixture`` uses ``galhalo.photometry.mixture`` (P2's mixed sample)
when it exists; ``--source toy`` (the default fallback) uses
``classifiers.toy_survey`` (parametric shapes sampled at the J-PAS filter pivots, equal
class fractions), which is far easier than real J-PAS data: the comparison is of the
method, not of a tuned number. Test classes have the training's fractions.

Usage::

    python benchmarks/survey_classification.py             # 8k train, 8k test
    python benchmarks/survey_classification.py --quick     # 3k / 3k, few epochs

Prints the tables, writes JSON (benchmarks/results/survey_classification.json) and the
block ``survey_classification`` of docs/survey_classification.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _docs import DOCS, markdown_table, rewrite_block

from galhalo.files import write_json
from galhalo.photometry import CLASSES, jpas_like
from galhalo.photometry.boosting import BoostedClassifier
from galhalo.photometry.classifiers import class_index, feature_spec, toy_survey
from galhalo.photometry.cnn import CNNClassifier
from galhalo.photometry.observation import jpas_depths, observe
from galhalo.photometry.survey_metrics import (
    R_BINS,
    class_scores,
    purity_completeness_curve,
    redshift_scores,
    reliability,
)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "survey_classification.json"
DOCUMENT = DOCS / "survey_classification.md"
BLOCK = "survey_classification"
#: Martínez-Solaeche et al. 2023 (arXiv:2303.12684), ANN1, F1 per r bin (REFERENCES.md).
PUBLISHED = {"qso_high": (0.99, 0.93, 0.63), "qso_low": (0.97, 0.82, 0.61)}
SHIFTS = {"sky": {"noise": "sky"},
          "poisson": {"noise": "poisson", "source_to_sky": 3.0},
          "shallower": {"noise": "sky", "depth_offset": -0.5}}


def survey_sources(n: int, seed: int, source: str) -> tuple[pd.DataFrame, list[str], str]:
    """(true-flux catalog, filter names, description)."""
    filters = jpas_like()
    if source == "mixture":
        raise SystemExit("--source mixture: galhalo.photometry.mixture is not merged yet")
    wavelengths = {f.name: float(f.pivot) for f in filters}
    frame = toy_survey(n, seed, wavelengths, r_range=(17.0, 23.6))
    return frame, list(filters.names), "toy_survey (parametric shapes, equal class fractions)"


def observed(sources: pd.DataFrame, names: list[str], seed: int, shift: str) -> pd.DataFrame:
    settings = dict(SHIFTS[shift])
    offset = settings.pop("depth_offset", 0.0)
    depths = {k: v + offset for k, v in jpas_depths(names).items()}
    return observe(sources, depths, seed, names, **settings)


def scores(model, test: pd.DataFrame) -> dict[str, Any]:
    truth = test["source_class"].to_numpy()
    probabilities = model.predict_proba(test)
    predicted = np.asarray(CLASSES)[probabilities.argmax(axis=1)]
    by_class = class_scores(truth, predicted, CLASSES, test["mag_r"].to_numpy())
    quasar = np.isin(truth, ["qso_low", "qso_high"])
    curve = purity_completeness_curve(truth == "qso_high", probabilities[:, 3])
    best = int(np.nanargmax(curve["f1"]))
    return {
        "classes": by_class,
        "macro_f1": float(np.nanmean([by_class["all"][c]["f1"] for c in CLASSES])),
        "redshift": redshift_scores(test["redshift"].to_numpy()[quasar],
                                    model.predict_redshift(test)[quasar]),
        "ece": reliability(class_index(truth), probabilities)["ece"],
        "qso_high_best": {k: float(curve[k][best])
                          for k in ("threshold", "purity", "completeness", "f1")}}


def measure(n_train: int, n_test: int, seed: int, source: str, epochs: int) -> dict[str, Any]:
    train_sources, names, description = survey_sources(n_train, seed, source)
    test_sources, _, _ = survey_sources(n_test, seed + 1, source)
    train = observed(train_sources, names, seed + 2, "sky")
    tests = {shift: observed(test_sources, names, seed + 3, shift) for shift in SHIFTS}
    result: dict[str, Any] = {"source": description, "n_train": n_train, "n_test": n_test,
                              "seed": seed, "shifts": SHIFTS, "models": {}}
    for errors in (True, False):
        spec = feature_spec(names, use_errors=errors)
        for label, model in (("cnn", CNNClassifier(spec, seed, epochs=epochs, threads=1)),
                             ("lightgbm", BoostedClassifier(spec, seed, threads=1))):
            start = time.perf_counter()
            model.fit(train)
            key = f"{label}{'' if errors else '_no_errors'}"
            entry = {"fit_seconds": time.perf_counter() - start,
                     "scores": {shift: scores(model, test) for shift, test in tests.items()}}
            base = entry["scores"]["sky"]["macro_f1"]
            entry["drop"] = {shift: base - s["macro_f1"] for shift, s in entry["scores"].items()}
            result["models"][key] = entry
            print(f"{key}: fit {entry['fit_seconds']:.0f} s, macro F1 {base:.3f}", flush=True)
    for label in ("cnn", "lightgbm"):
        with_errors, without = result["models"][label], result["models"][f"{label}_no_errors"]
        result["models"][label]["recovered"] = {
            shift: without["drop"][shift] - with_errors["drop"][shift] for shift in SHIFTS}
    return result


def _f(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.2f}"


def f1_table(result: dict[str, Any]) -> str:
    header = ["class", "model", *[f"r {lo:g}–{hi:g}" for lo, hi in R_BINS], "all"]
    rows = []
    for name in CLASSES:
        for key in ("cnn", "lightgbm"):
            s = result["models"][key]["scores"]["sky"]["classes"]
            rows.append([name, key, *[_f(b["scores"][name]["f1"]) for b in s["bins"]],
                         _f(s["all"][name]["f1"])])
        if name in PUBLISHED:
            rows.append([name, "Martínez-Solaeche+23 ANN1", *map(_f, PUBLISHED[name]), "–"])
    return markdown_table(header, rows)


def shift_table(result: dict[str, Any]) -> str:
    header = ["model", "errors as input", "macro F1 (sky)", "poisson: F1 / drop",
              "shallower: F1 / drop", "qso_high F1 (sky)", "qso σ_NMAD", "outliers", "ECE",
              "fit [s]"]
    rows = []
    for key, entry in result["models"].items():
        s = entry["scores"]
        rows.append([key.split("_")[0], "no" if key.endswith("no_errors") else "yes",
                     _f(s["sky"]["macro_f1"]),
                     f"{_f(s['poisson']['macro_f1'])} / {entry['drop']['poisson']:+.3f}",
                     f"{_f(s['shallower']['macro_f1'])} / {entry['drop']['shallower']:+.3f}",
                     _f(s["sky"]["classes"]["all"]["qso_high"]["f1"]),
                     f"{s['sky']['redshift']['sigma_nmad']:.3f}",
                     f"{s['sky']['redshift']['outlier_fraction']:.3f}",
                     f"{s['sky']['ece']:.3f}", f"{entry['fit_seconds']:.0f}"])
    return markdown_table(header, rows)


def summary(result: dict[str, Any]) -> str:
    recovered = ", ".join(
        f"{label} {shift} {result['models'][label]['recovered'][shift]:+.3f}"
        for label in ("cnn", "lightgbm") for shift in ("poisson", "shallower"))
    return (f"Sources: {result['source']}; {result['n_train']:,} to train (20 % of them "
            f"validate), {result['n_test']:,} held out; seed {result['seed']}. Trained on "
            "the `sky` noise model; *drop* = macro F1 (sky) − macro F1 (shifted test). "
            f"Drop recovered by the errors as input (drop without − drop with): {recovered}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=8000, help="training sources")
    parser.add_argument("--test", type=int, default=8000, help="held-out sources")
    parser.add_argument("--epochs", type=int, default=30, help="CNN maximum epochs")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--source", choices=("toy", "mixture"), default="toy")
    parser.add_argument("--quick", action="store_true", help="3k/3k sources, 10 epochs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs")
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.test, args.epochs = 3000, 3000, 10
    result = measure(args.train, args.test, args.seed, args.source, args.epochs)
    text = f1_table(result) + "\n" + shift_table(result) + "\n" + summary(result)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    if not args.no_docs:
        command = "python benchmarks/survey_classification.py " + " ".join(
            argv if argv is not None else sys.argv[1:])
        rewrite_block(DOCUMENT, BLOCK, text, command=command.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
