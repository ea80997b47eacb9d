"""Figure of merit of issue #8: do the models' mocks carry the truth's tracer bias?

Train (or load) each model family on one synthetic universe (seed ``--train-seed``,
80 % of its centrals, as ``benchmarks/models.py`` does), then paint galaxies with each
model onto every halo of an **independent** universe (seed ``--test-seed``) and compare
the large-scale bias (10-40 Mpc/h, relative to all halos) of colour-quartile populations
with that of the universe's true galaxies. The reference is the truth model itself
resampled on the same halos: its ratio to the truth shows the scatter that galaxy
stochasticity alone produces (the noise floor of the comparison). Target: the flow
within 2 % of the truth in every quartile; NNgauss shows by how much it misses. Both
universes draw the galaxy truth ``--preset`` (default galhalo's, ``tng_hard``); models
loaded with ``--models`` must have been trained on the same preset (``models.py``, whose
default is the same). Writes ``benchmarks/results/bias.json`` and rewrites the block
``<!-- benchmark:bias -->`` of docs/clustering.md (``--no-docs``: leave it alone;
``--from-json FILE``: measure nothing, rewrite the block from a saved result).

    .venv/bin/python benchmarks/bias.py --models /tmp/bench/models42   # saved by models.py
    .venv/bin/python benchmarks/bias.py --quick                          # 2e4 halos, 3 epochs
    .venv/bin/python benchmarks/bias.py                          # ~10 min on 2 cores
    .venv/bin/python benchmarks/bias.py --preset classic         # the universe until 2026-12-07
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import pandas as pd
import torch
from _docs import DOCS, markdown_table, rewrite_block
from _preset import (
    DEFAULT_PRESET,
    add_preset_option,
    preset_flag,
    result_preset,
    universe_label,
)
from models import CONDITION, TARGET, split
from rich.console import Console
from rich.table import Table
from simulate import git_commit

import galhalo
from galhalo.evaluate.clustering_comparison import compare_clustering
from galhalo.evaluate.population_clustering import BiasSettings
from galhalo.evaluate.truth import TruthConditional
from galhalo.files import write_json
from galhalo.mock import make_mock
from galhalo.models import load_model, model_family
from galhalo.sim.truth import TruthModel

TARGET_FRACTION = 0.02
#: Labels of the mocks in the docs table.
LABELS = {"truth resampled": "truth model redrawn", "flow": "flow", "gauss": "NNgauss"}


def docs_block(result: dict) -> str:
    """The block ``bias`` of docs/clustering.md: b_mock / b_reference per colour quartile
    for every (reference, model) pair of ``result`` (the JSON this script writes), the
    largest miss, and how it was measured."""
    groups: dict[tuple[str, str], dict[str, dict]] = {}
    for row in result["comparison"]:
        groups.setdefault((row["reference"], row["model"]), {})[row["population"]] = row
    populations = sorted({row["population"] for row in result["comparison"]})
    rows = []
    for (reference, model), by_population in groups.items():
        cells = [f"{by_population[p]['ratio']:.3f} ± {by_population[p]['ratio_error']:.3f}"
                 for p in populations]
        worst = max(by_population.values(), key=lambda r: abs(r["ratio"] - 1))
        miss = f"{abs(worst['ratio'] - 1):.1%} ({abs(worst['deviation_sigma']):.1f} σ)"
        if model == "flow" and abs(worst["ratio"] - 1) <= TARGET_FRACTION:
            miss = f"**{miss}**"
        rows.append([reference, LABELS.get(model, model), *cells, miss])
    settings = result["settings"]
    header = ["reference", "model", *[p.replace("color ", "") for p in populations],
              "largest miss"]
    return (markdown_table(header, rows).strip() + "\n\n"
            f"b_mock / b_reference of the large-scale bias (10–40 Mpc/h, relative to all "
            f"halos) with paired jackknife errors (27 sub-volumes); "
            f"{universe_label(result_preset(result))}: models trained with their defaults "
            f"on 80% of seed {settings['train_seed']}, painted with K = "
            f"{settings['realizations']} realisations onto every halo of seed "
            f"{settings['test_seed']} ({settings['n_halos']:,} centrals); bold: the flow "
            f"within {TARGET_FRACTION:.0%} (the target). Commit {result.get('commit')}, "
            f"{result.get('date')}.")


def fitted(family: str, models: Path | None, train_seed: int, n_halos: int,
           epochs: int | None, say, *, preset: str) -> tuple[object, dict]:
    """A saved model ``models / family`` or one trained now on the training universe
    (``n_halos`` centrals of galaxy-truth preset ``preset``, seed ``train_seed``)."""
    if models is not None and (models / family).is_dir():
        say(f"loading {models / family}")
        return load_model(models / family), {"loaded": str(models / family)}
    catalog = galhalo.simulate(n_halos=n_halos, seed=train_seed, preset=preset)
    train, _ = split(catalog, 0.2, train_seed)
    hyper = {} if epochs is None else {"epochs": epochs}
    start = time.perf_counter()
    model = model_family(family)(**hyper).fit(train, CONDITION, TARGET, seed=train_seed,
                                              progress=True)
    info = {"trained_rows": len(train), "fit_seconds": time.perf_counter() - start}
    if models is not None:
        models.mkdir(parents=True, exist_ok=True)
        model.save(models / family)
    return model, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="flow,gauss")
    parser.add_argument("--models", type=Path, default=None,
                        help="directory with <family>/ model dirs (trained and saved there "
                             "when missing)")
    parser.add_argument("--n-halos", type=int, default=100_000)
    add_preset_option(parser, DEFAULT_PRESET)
    parser.add_argument("--train-seed", type=int, default=42)
    parser.add_argument("--test-seed", type=int, default=7)
    parser.add_argument("--realizations", type=int, default=4,
                        help="K mock realisations per halo (averaged)")
    parser.add_argument("--split", default="color:quantiles=4")
    parser.add_argument("--epochs", type=int, default=None, help="override when training")
    parser.add_argument("--quick", action="store_true", help="2e4 halos, 3 epochs, K = 2")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bias.json"))
    parser.add_argument("--no-docs", action="store_true",
                        help="do not rewrite the block in docs/clustering.md")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="measure nothing: rewrite the docs block from this JSON")
    args = parser.parse_args()
    if args.from_json is not None:
        result = json.loads(args.from_json.read_text(encoding="utf-8"))
        rewrite_block(DOCS / "clustering.md", "bias", docs_block(result),
                      command=result["command"])
        return
    if args.quick:
        args.n_halos, args.epochs, args.realizations = 20_000, 3, 2
    console = Console(width=150)

    def say(message: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}")

    say(f"test universe: {args.n_halos:,} centrals, seed {args.test_seed}, "
        f"preset {args.preset}")
    truth_catalog = galhalo.simulate(n_halos=args.n_halos, seed=args.test_seed,
                                     preset=args.preset)
    mocks, info = {}, {}
    truth = TruthConditional(TruthModel.from_dict(truth_catalog.meta.truth))
    mocks["truth resampled"] = make_mock(truth, truth_catalog, args.realizations, seed=1)
    for family in args.families.split(","):
        model, info[family] = fitted(family, args.models, args.train_seed, args.n_halos,
                                     args.epochs, say, preset=args.preset)
        start = time.perf_counter()
        mocks[family] = make_mock(model, truth_catalog, args.realizations, seed=1)
        info[family]["sampling_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    say("A: the universe's true galaxies vs each mock")
    single = compare_clustering(truth_catalog, mocks, args.split, settings=BiasSettings(),
                                shuffle_seed=None, progress=say)
    say(f"B: the truth model averaged over {2 * args.realizations} draws vs each model")
    expected = make_mock(truth, truth_catalog, 2 * args.realizations, seed=2)
    averaged = compare_clustering(expected, {k: v for k, v in mocks.items() if k in info},
                                  args.split, settings=BiasSettings(), shuffle_seed=None,
                                  progress=say)
    seconds = time.perf_counter() - start
    single.table["reference"] = "truth catalog"
    averaged.table["reference"] = f"truth model, K = {2 * args.realizations}"
    table = pd.concat([single.table, averaged.table], ignore_index=True)
    table["miss"] = (table["ratio"] - 1).abs()

    out = Table(title=f"large-scale bias b(10-40 Mpc/h) vs all halos, {args.split}, "
                      f"{args.n_halos:,} halos, mocks K = {args.realizations}; target: flow "
                      f"within {TARGET_FRACTION:.0%}")
    for name in ("reference", "model", "population", "b reference", "b mock",
                 "mock / reference", "dev (sigma)", "within 2%"):
        out.add_column(name, justify="right")
    for _, row in table.iterrows():
        out.add_row(row["reference"], row["model"], row["population"],
                    f"{row['b_truth']:.3f} ± {row['b_truth_error']:.3f}",
                    f"{row['b_mock']:.3f} ± {row['b_mock_error']:.3f}",
                    f"{row['ratio']:.3f} ± {row['ratio_error']:.3f}",
                    f"{row['deviation_sigma']:+.1f}",
                    "yes" if row["miss"] <= TARGET_FRACTION else "no")
    console.print(out)
    worst = table.groupby(["reference", "model"])["miss"].max()
    for (reference, model_name), value in worst.items():
        console.print(f"{model_name} vs {reference}: largest |ratio - 1| = {value:.3f}")
    command = ("python benchmarks/bias.py" + (" --quick" if args.quick else "")
               + preset_flag(args.preset, DEFAULT_PRESET)
               + ("" if args.models is None else f" --models {args.models}"))
    result = {
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "platform": platform.platform(),
                    "load_average": os.getloadavg()[0]},
        "preset": args.preset,
        "settings": vars(args) | {"models": str(args.models), "out": str(args.out)},
        "models": info, "clustering_seconds": seconds,
        "largest_miss": [{"reference": r, "model": m, "value": float(v)}
                         for (r, m), v in worst.items()],
        "comparison": single.to_dict()["table"] + averaged.to_dict()["table"],
        "command": command, "commit": git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"wrote {args.out}")
    if not args.no_docs:
        rewrite_block(DOCS / "clustering.md", "bias", docs_block(result), command=command)


if __name__ == "__main__":
    main()
