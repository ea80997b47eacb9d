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

Sources (``--source``): ``mixture`` (default) is the mixed sample of
``galhalo.photometry.mixture``: the galaxies of a galhalo mock, simulated once per run
(``galhalo.simulate`` with satellites, 1e5 hosts in 205 Mpc/h: benchmarks/photometry.py's
``simulate_mock``), seen on a light-cone to z = 1.9 and photometered
(``cone_galaxies``: ``photometry.galaxies.mock_galaxies``), PD16 quasars and stars.
Training takes at most ``--train / 4`` sources of each class from a cone of ``--area``
deg² (the high-z quasars are ~1e-2 of the sources, so they are enriched); the test is
every source of another ``--test-area`` deg² cone along another line of sight
(``TEST_AXIS``) at the survey's fractions, and the predictions are shifted to those
fractions (``predict_proba(..., priors)``). The two cones see different galaxies of the
box nearby, but the periodic box repeats along each cone, so the same galaxies (their
properties, not their redshifts or fluxes) recur in both samples. ``toy`` uses
``classifiers.toy_survey`` (parametric shapes at the filter pivots, equal class
fractions in training and test). Neither is J-PAS's own mock: the comparison is of the
method, not of a tuned number.

Usage::

    python benchmarks/survey_classification.py               # mixture, 8k train, 2 deg² test
    python benchmarks/survey_classification.py --quick       # 3k train, 1 deg² test
    python benchmarks/survey_classification.py --source toy  # the parametric toy survey

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

from galhalo.catalog import Catalog
from galhalo.files import write_json
from galhalo.photometry import CLASSES, jpas_like
from galhalo.photometry.boosting import BoostedClassifier
from galhalo.photometry.classifiers import feature_spec, toy_survey
from galhalo.photometry.cnn import CNNClassifier
from galhalo.photometry.observation import jpas_depths, observe
from galhalo.photometry.survey_evaluation import PUBLISHED_F1, finite, survey_scores
from galhalo.photometry.survey_metrics import R_BINS

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "survey_classification.json"
DOCUMENT = DOCS / "survey_classification.md"
BLOCK = "survey_classification"
#: Martínez-Solaeche et al. 2023 (arXiv:2303.12684), ANN1, F1 per r bin (REFERENCES.md).
PUBLISHED = PUBLISHED_F1
#: The held-out cone's line of sight (the training cone's is ``light_cone``'s default
#: (1, 2, 3)): 38° away, so the two patches share no galaxy copy.
TEST_AXIS = (3.0, 1.0, 2.0)
SHIFTS = {"sky": {"noise": "sky"},
          "poisson": {"noise": "poisson", "source_to_sky": 3.0},
          "shallower": {"noise": "sky", "depth_offset": -0.5}}


def mixture_sources(catalog: Catalog, area: float, seed: int,
                    axis: tuple[float, float, float] | None = None) -> pd.DataFrame:
    """P2's mixed sample over ``area`` deg²: the galaxies of ``catalog`` on a light-cone
    (benchmarks/photometry.py's ``cone_galaxies``, along ``axis``), quasars (PD16) and
    stars, true r 17-23.6."""
    from photometry import cone_galaxies  # benchmarks/photometry.py

    from galhalo.photometry.mixture import mixed_sample

    filters = jpas_like()
    galaxies = cone_galaxies(catalog, filters, area, axis=axis)
    return mixed_sample(galaxies, area, filters, seed, r_range=(17.0, 23.6))


def balanced(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most n / 4 rows of each class, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    rows = [rng.permutation(np.flatnonzero(frame["source_class"].to_numpy() == c))[:n // 4]
            for c in CLASSES]
    return frame.iloc[np.sort(np.concatenate(rows))].reset_index(drop=True)


def survey(args) -> tuple[pd.DataFrame, pd.DataFrame, list[str], str, np.ndarray | None]:
    """(training sources, test sources, filter names, description, test class priors)."""
    names = list(jpas_like().names)
    if args.source == "mixture":
        from photometry import BOX, N_HALOS, Z_MAX, simulate_mock  # benchmarks/photometry.py

        start = time.process_time()
        catalog = simulate_mock(N_HALOS, BOX, args.seed)
        print(f"mock: {len(catalog):,} galaxies, {time.process_time() - start:.0f} CPU s",
              flush=True)
        pool = mixture_sources(catalog, args.area, args.seed)
        test = mixture_sources(catalog, args.test_area, args.seed + 1, axis=TEST_AXIS)
        counts = pool["source_class"].value_counts()
        priors = np.array([counts.get(c, 0) for c in CLASSES], dtype=float) / len(pool)
        satellites = int(np.count_nonzero(~catalog.table["is_central"].to_numpy()))
        text = (f"photometry.mixture (galaxies of a galhalo mock, `simulate({N_HALOS:,}, "
                f"{BOX:g}, {args.seed}, satellites=True)`: {len(catalog):,} galaxies of "
                f"which {satellites:,} satellites, on light-cones to z = {Z_MAX:g}; PD16 "
                f"quasars, stars); training: at most {args.train // 4:,} per class from "
                f"{args.area:g} deg²; test: all {len(test):,} sources of another "
                f"{args.test_area:g} deg² (survey fractions, "
                + ", ".join(f"{c} {p:.4f}" for c, p in zip(CLASSES, priors, strict=True))
                + "; predictions shifted to them with `priors`)")
        return balanced(pool, args.train, args.seed), test, names, text, priors
    wavelengths = {f.name: float(f.pivot) for f in jpas_like()}
    train = toy_survey(args.train, args.seed, wavelengths, r_range=(17.0, 23.6))
    test = toy_survey(args.test, args.seed + 1, wavelengths, r_range=(17.0, 23.6))
    return train, test, names, ("toy_survey (parametric shapes at the filter pivots, equal "
                                "class fractions)"), None


def observed(sources: pd.DataFrame, names: list[str], seed: int, shift: str,
             depth_scatter: float) -> pd.DataFrame:
    settings = dict(SHIFTS[shift])
    offset = settings.pop("depth_offset", 0.0)
    depths = {k: v + offset for k, v in jpas_depths(names).items()}
    return observe(sources, depths, seed, names, depth_scatter=depth_scatter, **settings)


def scores(model, test: pd.DataFrame, priors) -> dict[str, Any]:
    """Every score of ``model`` on ``test`` (``photometry.survey_evaluation``, the one
    place `galhalo survey evaluate` scores too)."""
    return survey_scores(model, test, priors)


def measure(args) -> dict[str, Any]:
    train_sources, test_sources, names, description, priors = survey(args)
    seed = args.seed
    scatter = args.depth_scatter
    train = observed(train_sources, names, seed + 2, "sky", scatter)
    tests = {shift: observed(test_sources, names, seed + 3, shift, scatter)
             for shift in SHIFTS}
    result: dict[str, Any] = {
        "source": description, "n_train": len(train), "n_test": len(test_sources),
        "train_classes": train["source_class"].value_counts().to_dict(),
        "test_classes": test_sources["source_class"].value_counts().to_dict(),
        "seed": seed, "shifts": SHIFTS, "depth_scatter": scatter, "models": {}}
    epochs = args.epochs
    for errors in (True, False):
        spec = feature_spec(names, use_errors=errors)
        for label, model in (("cnn", CNNClassifier(spec, seed, epochs=epochs, threads=1)),
                             ("lightgbm", BoostedClassifier(spec, seed, threads=1))):
            start = time.perf_counter()
            model.fit(train)
            key = f"{label}{'' if errors else '_no_errors'}"
            entry = {"fit_seconds": time.perf_counter() - start,
                     "scores": {shift: scores(model, test, priors)
                                for shift, test in tests.items()}}
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
    """F1 per class and r bin (true members of the class in the bin in brackets)."""
    header = ["class", "model", *[f"r {lo:g}–{hi:g}" for lo, hi in R_BINS], "all"]
    rows = []
    for name in CLASSES:
        for key in ("cnn", "lightgbm"):
            s = result["models"][key]["scores"]["sky"]["classes"]
            rows.append([name, key, *[f"{_f(b['scores'][name]['f1'])} "
                                      f"({b['scores'][name]['support']:,})" for b in s["bins"]],
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


def redshift_table(result: dict[str, Any]) -> str:
    """Quasar redshifts per r bin: σ_NMAD / outlier fraction (quasars in the bin)."""
    header = ["model", *[f"r {lo:g}–{hi:g}" for lo, hi in R_BINS]]
    rows = []
    for key in ("cnn", "lightgbm"):
        cells = []
        for entry in result["models"][key]["scores"]["sky"]["redshift_bins"]:
            cells.append("–" if entry is None else f"{entry['sigma_nmad']:.3f} / "
                         f"{entry['outlier_fraction']:.2f} ({entry['n']:,})")
        rows.append([key, *cells])
    return markdown_table(header, rows)


def confusion_table(result: dict[str, Any], key: str = "cnn") -> str:
    """The row-normalised confusion matrix of one model on the in-domain test."""
    matrix = result["models"][key]["scores"]["sky"]["confusion"]
    header = [f"true \\ predicted ({key})", *CLASSES]
    return markdown_table(header, [[name, *(_f(v) for v in row)]
                                   for name, row in zip(CLASSES, matrix, strict=True)])


def summary(result: dict[str, Any]) -> str:
    recovered = ", ".join(
        f"{label} {shift} {result['models'][label]['recovered'][shift]:+.3f}"
        for label in ("cnn", "lightgbm") for shift in ("poisson", "shallower"))
    return (f"Sources: {result['source']}; {result['n_train']:,} to train (20 % of them "
            f"validate), {result['n_test']:,} held out; seed {result['seed']}. Trained on "
            f"the `sky` noise model with a per-source depth scatter of "
            f"{result['depth_scatter']:g} mag (kept in every test); *drop* = macro F1 "
            "(sky) − macro F1 (shifted test). "
            f"Drop recovered by the errors as input (drop without − drop with): {recovered}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=8000, help="training sources")
    parser.add_argument("--test", type=int, default=8000, help="held-out sources (toy)")
    parser.add_argument("--epochs", type=int, default=60, help="CNN maximum epochs")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--source", choices=("toy", "mixture"), default="mixture")
    parser.add_argument("--area", type=float, default=8.0,
                        help="deg² of the mixture the training rows are drawn from")
    parser.add_argument("--test-area", type=float, default=2.0,
                        help="deg² of the held-out mixture (all its sources)")
    parser.add_argument("--depth-scatter", type=float, default=0.25,
                        help="σ (mag) of the per-source depth offsets (observe)")
    parser.add_argument("--quick", action="store_true",
                        help="3k training sources (2 deg²), 1 deg² / 3k test, 10 epochs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs")
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.test, args.epochs, args.area, args.test_area = 3000, 3000, 10, 2, 1
    result = measure(args)
    text = "\n".join([f1_table(result), shift_table(result), redshift_table(result),
                      confusion_table(result), summary(result)])
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, finite(result))
    if not args.no_docs:
        command = "python benchmarks/survey_classification.py " + " ".join(
            argv if argv is not None else sys.argv[1:])
        rewrite_block(DOCUMENT, BLOCK, text, command=command.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
