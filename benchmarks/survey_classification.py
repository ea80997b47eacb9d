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
``simulate_mock``; the ``classic`` universe unless ``--preset`` names another, the figures
in the documents were measured on it), seen on a light-cone to z = 1.9 and photometered
(``cone_galaxies``: ``photometry.galaxies.mock_galaxies``), PD16 quasars and stars.
Training takes at most ``--train / 4`` sources of each class (20,000 by default), the
stars and galaxies from a cone of ``--area`` deg², the quasars (~4 % of the sources,
the high-z ones ~1 %) from ``--quasar-area`` deg² of PD16 quasars, so they are enriched
(``training_pool``, ``balanced``); the test is
every source of another ``--test-area`` deg² cone along another line of sight
(``TEST_AXIS``) at the survey's fractions, and the predictions are shifted to those
fractions (``predict_proba(..., priors)``). The two cones see different galaxies of the
box nearby, but the periodic box repeats along each cone, so the same galaxies (their
properties, not their redshifts or fluxes) recur in both samples. ``toy`` uses
``classifiers.toy_survey`` (parametric shapes at the filter pivots, equal class
fractions in training and test). Neither is J-PAS's own mock: the comparison is of the
method, not of a tuned number.

Learning curve (``--curve N1,N2,...``, instead of the above): the CNN and LightGBM (errors
as inputs) trained on at most N sources per class for each N (nested draws from the
same pool), scored on the same held-out cone (``sky``): F1 of both quasar classes per r
bin with the test's bootstrap σ, macro F1, fit seconds, epochs / rounds run; at the
largest N also with the faint bin drawn ``--faint-weight`` times as often, and with LONG
times the training length. Writes benchmarks/results/survey_learning_curve.json, the
block ``survey_learning_curve`` and docs/figures/survey_learning_curve.png.

Usage (``--threads``: of torch and LightGBM, 1 by default)::

    python benchmarks/survey_classification.py               # mixture, 80k train, 2 deg² test
    python benchmarks/survey_classification.py --quick       # 3k train, 1 deg² test
    python benchmarks/survey_classification.py --source toy  # the parametric toy survey
    python benchmarks/survey_classification.py --curve 500,2000,8000,20000
    python benchmarks/survey_classification.py --preset tng_hard   # galhalo's default universe

Prints the tables, writes JSON (benchmarks/results/survey_classification.json) and the
block ``survey_classification`` of docs/survey_classification.md.

Long file: the benchmark and its learning curve share the survey, the training pool,
the models and the tables, so they stay in one script.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from _docs import DOCS, markdown_table, rewrite_block
from _preset import NOT_RERUN, add_preset_option

from galhalo.catalog import Catalog
from galhalo.files import atomic_path, to_jsonable, write_json
from galhalo.photometry import CLASSES, jpas_like
from galhalo.photometry.boosting import BoostedClassifier
from galhalo.photometry.classifiers import QUASARS, feature_spec, toy_survey
from galhalo.photometry.cnn import CNNClassifier
from galhalo.photometry.observation import jpas_depths, observe
from galhalo.photometry.quasars import quasar_sources
from galhalo.photometry.survey_evaluation import PUBLISHED_F1, survey_scores
from galhalo.photometry.survey_metrics import R_BINS, class_scores

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "survey_classification.json"
DOCUMENT = DOCS / "survey_classification.md"
BLOCK = "survey_classification"
#: Martínez-Solaeche et al. 2023 (arXiv:2303.12684), ANN1, F1 per r bin (REFERENCES.md).
PUBLISHED = PUBLISHED_F1
#: The held-out cone's line of sight (the training cone's is ``light_cone``'s default
#: (1, 2, 3)): 38° away, so the two patches share no galaxy copy.
TEST_AXIS = (3.0, 1.0, 2.0)
#: True r range of every sample, and the faint bin's lower edge (``balanced``).
R_RANGE = (17.0, 23.6)
FAINT = R_BINS[-1][0]
#: Learning-curve variants at the largest size: the faint bin drawn ``faint_weight``
#: times as often (``balanced``), and LONG times the training length (``classifiers``).
LONG = 3
#: deg² the training quasars are drawn from: ~120 high-z quasars per deg² at r < 23.6.
QUASAR_AREA = 400.0
#: Bootstrap resamples of the test for the learning curve's σ.
BOOTSTRAP = 200
CURVE_BLOCK = "survey_learning_curve"
CURVE_OUT = DEFAULT_OUT.with_name("survey_learning_curve.json")
FIGURE = DOCS / "figures" / "survey_learning_curve.png"
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
    return mixed_sample(galaxies, area, filters, seed, r_range=R_RANGE)


def balanced(frame: pd.DataFrame, n: int, seed: int, faint_weight: float = 1.0
             ) -> pd.DataFrame:
    """At most ``n // 4`` rows of each class, drawn with ``seed`` without replacement; a
    row of true r >= ``FAINT`` (the faint bin) is ``faint_weight`` times as likely to be
    drawn as a brighter one (Efraimidis-Spirakis keys log(u) / w, largest first), so the
    rows drawn for a smaller ``n`` are among those drawn for a larger one."""
    rng = np.random.default_rng(seed)
    weight = np.where(frame["mag_r"].to_numpy(dtype=float) >= FAINT, faint_weight, 1.0)
    key = np.log(rng.random(len(frame))) / weight
    classes = frame["source_class"].to_numpy()
    rows = [members[np.argsort(-key[members], kind="stable")][:n // 4]
            for members in (np.flatnonzero(classes == c) for c in CLASSES)]
    return frame.iloc[np.sort(np.concatenate(rows))].reset_index(drop=True)


def training_pool(catalog: Catalog, args) -> tuple[pd.DataFrame, np.ndarray]:
    """(the sources training rows are drawn from, the survey's class fractions): the
    mixture over ``args.area`` deg² with its quasars replaced by those of
    ``args.quasar_area`` deg² (quasars are ~4 % of the sources: a larger area gives
    more of them; PD16, the mixture's own settings, another seed). The fractions are
    those of the mixture, before the replacement."""
    pool = mixture_sources(catalog, args.area, args.seed)
    counts = pool["source_class"].value_counts()
    priors = np.array([counts.get(c, 0) for c in CLASSES], dtype=float) / len(pool)
    if args.quasar_area > args.area:
        quasars = quasar_sources(args.quasar_area, jpas_like(),
                                 np.random.default_rng([args.seed, 7]), r_range=R_RANGE)
        others = pool[~pool["source_class"].isin(QUASARS)]
        pool = pd.concat([others, quasars], ignore_index=True, sort=False)
    return pool, priors


def survey(args) -> tuple[pd.DataFrame, pd.DataFrame, list[str], str, np.ndarray | None]:
    """(training sources, test sources, filter names, description, test class priors)."""
    names = list(jpas_like().names)
    if args.source == "mixture":
        from photometry import BOX, N_HALOS, Z_MAX, simulate_mock  # benchmarks/photometry.py

        start = time.process_time()
        catalog = simulate_mock(N_HALOS, BOX, args.seed, preset=args.preset)
        print(f"mock: {len(catalog):,} galaxies, {time.process_time() - start:.0f} CPU s",
              flush=True)
        pool, priors = training_pool(catalog, args)
        test = mixture_sources(catalog, args.test_area, args.seed + 1, axis=TEST_AXIS)
        satellites = int(np.count_nonzero(~catalog.table["is_central"].to_numpy()))
        text = (f"photometry.mixture (galaxies of a galhalo mock, `simulate({N_HALOS:,}, "
                f"{BOX:g}, {args.seed}, satellites=True)`: {len(catalog):,} galaxies of "
                f"which {satellites:,} satellites, on light-cones to z = {Z_MAX:g}; PD16 "
                f"quasars, stars); training: "
                + ("" if args.curve else f"at most {args.train // 4:,} per class, ")
                + f"stars and galaxies from {args.area:g} deg², quasars from "
                f"{max(args.quasar_area, args.area):g} deg²; test: all {len(test):,} "
                f"sources of another {args.test_area:g} deg² (survey fractions, "
                + ", ".join(f"{c} {p:.4f}" for c, p in zip(CLASSES, priors, strict=True))
                + "; predictions shifted to them with `priors`)")
        if args.curve:
            return pool, test, names, text, priors
        return balanced(pool, args.train, args.seed), test, names, text, priors
    wavelengths = {f.name: float(f.pivot) for f in jpas_like()}
    train = toy_survey(args.train, args.seed, wavelengths, r_range=(17.0, 23.6))
    test = toy_survey(args.test, args.seed + 1, wavelengths, r_range=(17.0, 23.6))
    return train, test, names, ("toy_survey (parametric shapes at the filter pivots, equal "
                                "class fractions)"), None


def mock_preset(args) -> str | None:
    """The galaxy truth (preset) of the mock the sources come from; None for the toy
    survey, which simulates no universe."""
    return args.preset if args.source == "mixture" else None


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


def classifiers(spec, args, long: bool = False) -> dict[str, Any]:
    """{"cnn": CNN, "lightgbm": LightGBM}, unfitted, on ``args.threads`` threads; ``long``:
    LONG times the CNN's epochs and early-stopping patience and LightGBM's rounds and
    early stopping."""
    cnn = dict(epochs=args.epochs, threads=args.threads)
    boosted = dict(threads=args.threads)
    if long:
        patience = CNNClassifier.defaults["patience"]
        cnn.update(epochs=LONG * args.epochs, patience=2 * patience)
        boosted.update(estimators=LONG * BoostedClassifier.defaults["estimators"],
                       early_stopping=2 * BoostedClassifier.defaults["early_stopping"])
    return {"cnn": CNNClassifier(spec, args.seed, **cnn),
            "lightgbm": BoostedClassifier(spec, args.seed, **boosted)}


def point_like(model, test: pd.DataFrame, priors) -> dict[str, Any]:
    """Scores on the test without its galaxies, none predicted (the galaxy column of the
    probabilities set to 0): the point-like sample of Martínez-Solaeche et al. 2023,
    as if a morphology cut removed every galaxy and nothing else."""
    proba = model.predict_proba(test, priors)
    proba[:, CLASSES.index("galaxy")] = 0.0
    kept = test["source_class"].to_numpy() != "galaxy"
    predicted = np.asarray(CLASSES)[proba.argmax(axis=1)][kept]
    truth = test["source_class"].to_numpy().astype(str)[kept]
    return class_scores(truth, predicted, CLASSES, test["mag_r"].to_numpy(dtype=float)[kept])


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
        "seed": seed, "preset": mock_preset(args), "shifts": SHIFTS,
        "depth_scatter": scatter, "models": {}}
    for errors in (True, False):
        spec = feature_spec(names, use_errors=errors)
        for label, model in classifiers(spec, args).items():
            start = time.perf_counter()
            model.fit(train)
            key = f"{label}{'' if errors else '_no_errors'}"
            entry = {"fit_seconds": time.perf_counter() - start,
                     "scores": {shift: scores(model, test, priors)
                                for shift, test in tests.items()}}
            if errors:
                entry["point_like"] = point_like(model, tests["sky"], priors)
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
            for key in ("cnn", "lightgbm"):
                s = result["models"][key]["point_like"]
                rows.append([name, f"{key}, no galaxies¹",
                             *[_f(b["scores"][name]["f1"]) for b in s["bins"]],
                             _f(s["all"][name]["f1"])])
            rows.append([name, "Martínez-Solaeche+23 ANN1", *map(_f, PUBLISHED[name]), "–"])
    return markdown_table(header, rows) + (
        "\n¹ The same models on the test without its galaxies, none predicted (as if a "
        "morphology cut removed every galaxy and nothing else: the paper's point-like "
        "sample).\n")


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


def f1_spread(truth: np.ndarray, predicted: np.ndarray, magnitude: np.ndarray, seed: int,
              resamples: int = BOOTSTRAP) -> dict[str, list[float]]:
    """{quasar class: [σ of its F1 per r bin]}: the standard deviation over ``resamples``
    bootstrap resamples of the test sources (the test's own sampling noise)."""
    rng = np.random.default_rng(seed)
    draws = {c: [] for c in QUASARS}
    for _ in range(resamples):
        rows = rng.integers(0, len(truth), len(truth))
        bins = class_scores(truth[rows], predicted[rows], QUASARS, magnitude[rows])["bins"]
        for c in QUASARS:
            draws[c].append([b["scores"][c]["f1"] for b in bins])
    return {c: np.nanstd(np.array(v, dtype=float), axis=0).tolist() for c, v in draws.items()}


def learning_curve(args) -> dict[str, Any]:
    """The CNN and LightGBM (errors as inputs) trained on at most ``size`` sources per
    class for each of ``args.curve``, scored on the same held-out cone (``sky``); at the
    largest size also with the faint bin drawn ``args.faint_weight`` times as often and
    with LONG times the training length."""
    pool, test_sources, names, description, priors = survey(args)
    test = observed(test_sources, names, args.seed + 3, "sky", args.depth_scatter)
    truth = test["source_class"].to_numpy().astype(str)
    magnitude = test["mag_r"].to_numpy(dtype=float)
    spec = feature_spec(names, use_errors=True)
    largest = max(args.curve)
    runs = [(size, "default", 1.0, False) for size in sorted(args.curve)]
    runs += [(largest, f"faint ×{args.faint_weight:g}", args.faint_weight, False),
             (largest, f"long ×{LONG}", 1.0, True)]
    rows = []
    for size, variant, faint_weight, long in runs:
        train = observed(balanced(pool, 4 * size, args.seed, faint_weight), names,
                         args.seed + 2, "sky", args.depth_scatter)
        for label, model in classifiers(spec, args, long).items():
            start = time.perf_counter()
            model.fit(train)
            seconds = time.perf_counter() - start
            s = survey_scores(model, test, priors)
            predicted = model.predict(test, priors)
            history = model.history
            length = (len(history) if isinstance(history, list)
                      else history["classifier_rounds"])
            rows.append({
                "size": size, "variant": variant, "model": label, "n_train": len(train),
                "train_classes": train["source_class"].value_counts().to_dict(),
                "fit_seconds": seconds, "length": length, "macro_f1": s["macro_f1"],
                "f1": {c: [b["scores"][c]["f1"] for b in s["classes"]["bins"]]
                       for c in QUASARS},
                "support": {c: [b["scores"][c]["support"] for b in s["classes"]["bins"]]
                            for c in QUASARS},
                "f1_sigma": f1_spread(truth, predicted, magnitude, args.seed)})
            print(f"curve {size:,} {variant} {label}: fit {seconds:.0f} s ({length}), "
                  f"macro F1 {s['macro_f1']:.3f}, faint qso_high "
                  f"{rows[-1]['f1']['qso_high'][-1]:.3f}", flush=True)
    return {"source": description, "n_test": len(test), "seed": args.seed,
            "preset": mock_preset(args),
            "threads": args.threads, "epochs": args.epochs, "rows": rows}


def curve_table(curve: dict[str, Any]) -> str:
    """F1 of both quasar classes per r bin (± the test's bootstrap σ), macro F1, fit s."""
    bins = [f"{lo:g}–{hi:g}" for lo, hi in R_BINS]
    header = ["per class", "variant", "model",
              *[f"{c} r {b}" for c in QUASARS for b in bins], "macro F1", "fit [s]",
              "epochs / rounds"]
    rows = []
    for row in curve["rows"]:
        cells = [f"{_f(v)} ± {_f(e)}" for c in QUASARS
                 for v, e in zip(row["f1"][c], row["f1_sigma"][c], strict=True)]
        rows.append([f"{row['size']:,}", row["variant"], row["model"], *cells,
                     _f(row["macro_f1"]), f"{row['fit_seconds']:.0f}", row["length"]])
    for c in QUASARS:
        published = [""] * (len(QUASARS) * len(bins))
        start = QUASARS.index(c) * len(bins)
        published[start:start + len(bins)] = map(_f, PUBLISHED[c])
        rows.append(["–", "–", "Martínez-Solaeche+23 ANN1", *published, "–", "–", "–"])
    first = curve["rows"][0]
    note = (f"Sources: {curve['source']}. Test: {curve['n_test']:,} sources (the same for "
            f"every row; supports per bin: "
            + "; ".join(f"{c} " + " / ".join(str(n) for n in first["support"][c])
                        for c in QUASARS)
            + f"); ± is the bootstrap σ of the test ({BOOTSTRAP} resamples), common to "
            f"all rows, so differences between rows are less noisy than it. Errors as "
            f"inputs, `sky` noise, seed {curve['seed']}, {curve['threads']} thread(s), "
            f"CNN at most {curve['epochs']} epochs (long: ×{LONG}, patience ×2; LightGBM "
            f"rounds ×{LONG}). Fit seconds are wall-clock on one core of a shared "
            "2-core machine.")
    return markdown_table(header, rows) + "\n" + note


def curve_figure(curve: dict[str, Any], path: Path) -> Path:
    """F1 of both quasar classes against the training size per class, one panel per r
    bin; the published ANN1 figures as horizontal lines."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11.0, 3.6), layout="constrained")
    axes = figure.subplots(1, len(R_BINS), sharey=True)
    default = [r for r in curve["rows"] if r["variant"] == "default"]
    for k, (axis, (lo, hi)) in enumerate(zip(axes, R_BINS, strict=True)):
        for i, c in enumerate(QUASARS):
            for label, style in (("cnn", "-o"), ("lightgbm", "--s")):
                chosen = [r for r in default if r["model"] == label]
                axis.errorbar([r["size"] for r in chosen], [r["f1"][c][k] for r in chosen],
                              yerr=[r["f1_sigma"][c][k] for r in chosen], fmt=style,
                              color=f"C{i}", ms=4, capsize=2, label=f"{c} {label}")
            axis.axhline(PUBLISHED[c][k], color=f"C{i}", lw=0.8, ls=":",
                         label=f"{c} ANN1 (M-S+23)")
        axis.set(xscale="log", xlabel="training sources per class",
                 title=f"r {lo:g}–{hi:g}", ylim=(0, 1.02))
    axes[0].set_ylabel("F1")
    axes[0].legend(fontsize="x-small", loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=80000,
                        help="training sources (at most a quarter of them per class)")
    parser.add_argument("--test", type=int, default=8000, help="held-out sources (toy)")
    parser.add_argument("--epochs", type=int, default=60, help="CNN maximum epochs")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--source", choices=("toy", "mixture"), default="mixture")
    add_preset_option(parser, NOT_RERUN)
    parser.add_argument("--area", type=float, default=16.0,
                        help="deg² of the mixture the training rows are drawn from")
    parser.add_argument("--test-area", type=float, default=2.0,
                        help="deg² of the held-out mixture (all its sources)")
    parser.add_argument("--depth-scatter", type=float, default=0.25,
                        help="σ (mag) of the per-source depth offsets (observe)")
    parser.add_argument("--quasar-area", type=float, default=QUASAR_AREA,
                        help="deg² the training quasars are drawn from (PD16)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of torch and LightGBM (fits and predictions)")
    parser.add_argument("--curve", type=lambda text: [int(v) for v in text.split(",")],
                        default=None, metavar="N1,N2,...",
                        help="learning curve instead: these training sizes per class "
                             "(block survey_learning_curve and its figure)")
    parser.add_argument("--faint-weight", type=float, default=2.0,
                        help="learning curve: the faint bin's draw weight of the variant")
    parser.add_argument("--quick", action="store_true",
                        help="3k training sources (2 deg²), 1 deg² / 3k test, 10 epochs")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON (default {DEFAULT_OUT.name}, or {CURVE_OUT.name} "
                             "with --curve, in benchmarks/results)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs")
    args = parser.parse_args(argv)
    DEFAULT_OUT.parent.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.train, args.test, args.epochs, args.area, args.test_area = 3000, 3000, 10, 2, 1
        args.quasar_area = min(args.quasar_area, 20.0)
    if args.curve and (args.source != "mixture" or min(args.curve) < 2):
        parser.error("--curve needs --source mixture and sizes >= 2")
    torch.set_num_threads(args.threads)
    command = "python benchmarks/survey_classification.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    if args.curve:
        curve = learning_curve(args)
        text = curve_table(curve)
        print(text)
        write_json(args.out or CURVE_OUT, to_jsonable(curve, nan_as_none=True))
        if not args.no_docs:
            curve_figure(curve, FIGURE)
            rewrite_block(DOCUMENT, CURVE_BLOCK, text + "\n\n![F1 against the training "
                          "size](figures/survey_learning_curve.png)", command=command.strip())
        return 0
    result = measure(args)
    text = "\n".join([f1_table(result), shift_table(result), redshift_table(result),
                      confusion_table(result), summary(result)])
    print(text)
    write_json(args.out or DEFAULT_OUT, to_jsonable(result, nan_as_none=True))
    if not args.no_docs:
        rewrite_block(DOCUMENT, BLOCK, text, command=command.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
