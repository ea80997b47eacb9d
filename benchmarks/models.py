"""Conditional density models against the exact truth of the synthetic universe.

For each family: held-out mean negative log-likelihood minus the truth's (nats per
galaxy, with its standard error), fit time, and sampling throughput (galaxies/s). The
reference is the known truth model itself (the best any model can do); targets on 2 CPU
cores: the flow within 0.05 nats of the truth, trained in under 10 minutes on ~8e4
halos, sampling at least 1e5 galaxies/s.

Writes ``benchmarks/results/models.json`` and rewrites the block
``<!-- benchmark:models -->`` of ``docs/models.md`` and of ``benchmarks/README.md``
with the table made from that JSON (``--no-docs``: leave the documents alone;
``--from-json FILE``: measure nothing, rewrite the blocks from a saved result).
``--variants`` instead fits the flow once per hyperparameter set of ``VARIANTS`` (the
design history of the default flow, about 3 minutes each on 2 quiet cores) and rewrites
the block ``<!-- benchmark:flow-variants -->`` of ``docs/models.md``.

    python benchmarks/models.py                      # default universe, gauss and flow
    python benchmarks/models.py --preset classic     # the universe of before 2026-12-07
    python benchmarks/models.py --families flow --epochs 100 --out results/flow.json
    python benchmarks/models.py --save-dir DIR          # keep the fitted models, then
    python benchmarks/models.py --load-dir DIR          # re-score them without fitting
    python benchmarks/models.py --from-json benchmarks/results/models.json
    python benchmarks/models.py --variants             # the flow-variant table
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _docs import DOCS, markdown_table, rewrite_block
from _preset import add_preset_option, result_preset, universe_label
from simulate import machine_info

import galhalo
from galhalo.files import write_json
from galhalo.models import load_model, model_family
from galhalo.models.flow import PREVIOUS_DEFAULT_SHAPE as PREVIOUS
from galhalo.sim.truth import TruthModel

CONDITION = "M_h,C_h,S_h,z_h,Delta3_h"
TARGET = "smass,color,sSFR,radius"
TARGET_NATS = 0.05
TARGET_RATE = 1e5
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "models.json"
VARIANTS_OUT = ROOT / "benchmarks" / "results" / "models_variants.json"
#: Documents holding the block ``models`` (the results table).
RESULT_DOCS = (DOCS / "models.md", ROOT / "benchmarks" / "README.md")
#: Document holding the block ``flow-variants``.
VARIANTS_DOC = DOCS / "models.md"
LABELS = {"gauss": "NNgauss", "flow": "flow"}

#: The flow's design history: (label, hyperparameters that differ from the defaults).
#: Each step adds to the one before unless its label says otherwise; every step but the
#: last pins the network shape of its time (``PREVIOUS_DEFAULT_SHAPE``).
VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("autoregressive, 4 × (128, 128)",
     {**PREVIOUS, "passes": None, "average": 0.0, "affine": False}),
    ("+ weight decay 1e-3, batch 1024",
     {**PREVIOUS, "passes": None, "average": 0.0, "affine": False, "weight_decay": 1e-3,
      "batch_size": 1024}),
    ("coupling (`passes=2`)", {**PREVIOUS, "average": 0.0, "affine": False}),
    ("coupling + condition noise 0.1",
     {**PREVIOUS, "average": 0.0, "affine": False, "condition_noise": 0.1}),
    ("coupling + condition noise 0.05, target noise 0.03",
     {**PREVIOUS, "average": 0.0, "affine": False, "condition_noise": 0.05,
      "target_noise": 0.03}),
    ("coupling, (64, 64)",
     {**PREVIOUS, "average": 0.0, "affine": False, "hidden": [64, 64]}),
    ("coupling + weight average (`average=4`)", {**PREVIOUS, "affine": False}),
    ("+ `members=2` (mixture of two flows)", {**PREVIOUS, "affine": False, "members": 2}),
    ("+ conditional affine first (`affine=True`): the default until 2026-12-07",
     PREVIOUS),
    ("one autoregressive transform, 3 × 219, 12 bins: the default", {}),
)


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
          save_dir: Path | None = None, load_dir: Path | None = None,
          name: str | None = None) -> dict:
    """Fit one family (or load it from ``load_dir / name``) and measure it against the
    truth on the held-out rows; with ``save_dir`` the fitted model is saved to
    ``save_dir / name`` (``name`` defaults to the family). Sampling is timed at 1 and 10
    galaxies per halo; for the flow also with zuko's own sampler (the reference), in
    the same run."""
    name = family if name is None else name
    if load_dir is not None:
        model = load_model(load_dir / name)
        fit_seconds = sum(epoch["seconds"] for epoch in model.history)
    else:
        model = model_family(family)(**hyper)
        start = time.perf_counter()
        model.fit(train, CONDITION, TARGET, seed=seed, progress=True)
        fit_seconds = time.perf_counter() - start
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        model.save(save_dir / name)
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


def _excess(row: dict[str, Any]) -> str:
    return f"{row['nll_minus_truth']:.3f} ± {row['nll_minus_truth_error']:.3f}"


def _fit(row: dict[str, Any]) -> str:
    return f"{row['fit_seconds']:.0f}" + (" (saved)" if row["loaded"] else "")


def _reference_ratio(row: dict[str, Any]) -> str:
    if "reference_galaxies_per_second_1" not in row:
        return "–"
    return " / ".join(
        f"{row[f'sampling_galaxies_per_second_{k}'] / row[f'reference_galaxies_per_second_{k}']:.1f}×"  # noqa: E501
        for k in (1, 10))


def _conditions(result: dict[str, Any]) -> str:
    """One sentence: the sample, the machine and its load, the commit."""
    machine = result["machine"]
    load = result["load_average"]
    return (f"Held-out {result['test_rows']:,} galaxies of "
            f"{universe_label(result_preset(result))} ({result['n_halos']:,} centrals, "
            f"seed {result['seed']}; "
            f"{result['train_rows']:,} rows to train and validate, truth NLL "
            f"{result['truth_nll']:.3f} nats); {result['torch_threads']} torch threads on "
            f"{machine['cpu_count']} cores, 1-minute load average {load[0]:.1f} before and "
            f"{load[1]:.1f} after (other jobs share the cores); galhalo "
            f"{machine['galhalo']} at commit {machine['commit']}, {result['date']}.")


def results_table(result: dict[str, Any]) -> str:
    """The block ``models``: a Markdown table of every family in ``result`` (the JSON
    this script writes) and a sentence saying how and where it was measured."""
    rows = [[LABELS.get(r["family"], r["family"]), _excess(r), _fit(r),
             f"{r['epochs']} ({r['best_epoch']})",
             f"{r['sampling_galaxies_per_second_1']:,.0f}",
             f"{r['sampling_galaxies_per_second_1'] / TARGET_RATE:.2f}×",
             f"{r['sampling_galaxies_per_second_10']:,.0f}", _reference_ratio(r)]
            for r in result["rows"]]
    table = markdown_table(
        ["family", "NLL − truth [nats]", "fit s", "epochs (best)",
         "galaxies/s, 1 per halo", "vs 1e5 target", "galaxies/s, 10 per halo",
         "vs zuko's sampler (1 / 10)"], rows)
    return (f"{table}\n{_conditions(result)} NLL − truth ± its standard error; "
            f"sampling best of 3. Targets: the flow within {TARGET_NATS} nats, at least "
            f"{TARGET_RATE:,.0f} galaxies/s.")


def variants_table(result: dict[str, Any]) -> str:
    """The block ``flow-variants``: one row per variant of ``result`` (the JSON of
    ``--variants``)."""
    rows = [[r["variant"], _excess(r), _fit(r), f"{r['epochs']} ({r['best_epoch']})",
             f"{r['sampling_galaxies_per_second_1']:,.0f}"] for r in result["rows"]]
    table = markdown_table(["variant", "NLL − truth [nats]", "fit s", "epochs (best)",
                            "galaxies/s, 1 per halo"], rows)
    return f"{table}\n{_conditions(result)}"


def write_docs(result: dict[str, Any]) -> None:
    """Rewrite the blocks that ``result`` (a results or a ``--variants`` JSON) feeds."""
    if result.get("variants"):
        rewrite_block(VARIANTS_DOC, "flow-variants", variants_table(result),
                      command=result["command"])
        return
    for document in RESULT_DOCS:
        rewrite_block(document, "models", results_table(result),
                      command=result["command"])


def command_line(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The command that reproduces this run: the script and every option that differs
    from its default (output and documentation switches left out)."""
    parts = ["python benchmarks/models.py"]
    for option in ("variants", "preset", "families", "n_halos", "seed", "epochs", "set",
                   "threads", "load_dir"):
        value = getattr(args, option)
        if value == parser.get_default(option):
            continue
        flag = "--" + option.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag)
        elif isinstance(value, list):
            parts.extend(f"{flag} {item}" for item in value)
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def build_parser() -> argparse.ArgumentParser:
    """The command-line options of this script."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="gauss,flow")
    add_preset_option(parser)
    parser.add_argument("--n-halos", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=None, help="override the default")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="hyperparameter for every family (value read as JSON)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--variants", action="store_true",
                        help="fit the flow once per hyperparameter set of VARIANTS "
                             "(the flow-variant table of docs/models.md)")
    parser.add_argument("--save-dir", type=Path, default=None,
                        help="save each fitted model to SAVE_DIR/<family>")
    parser.add_argument("--load-dir", type=Path, default=None,
                        help="score the models saved in LOAD_DIR/<family> (by --save-dir) "
                             "instead of fitting; fit time is the saved training time")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON result (default {DEFAULT_OUT.relative_to(ROOT)}, "
                             f"with --variants {VARIANTS_OUT.relative_to(ROOT)})")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="measure nothing: rewrite the document blocks from this JSON")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.from_json is not None:
        write_docs(json.loads(args.from_json.read_text(encoding="utf-8")))
        print(f"rewrote the blocks from {args.from_json}")
        return
    torch.set_num_threads(args.threads)
    load_before, start = os.getloadavg()[0], time.perf_counter()

    catalog = galhalo.simulate(n_halos=args.n_halos, seed=args.seed, preset=args.preset)
    train, test = split(catalog, 0.2, args.seed)
    truth = TruthModel.from_dict(catalog.meta.truth)
    truth_nll = -truth.log_prob(test.table, test.table)
    hyper = {} if args.epochs is None else {"epochs": args.epochs}
    for item in args.set:
        key, _, value = item.partition("=")
        hyper[key.strip()] = json.loads(value)
    if args.variants:
        rows = []
        for number, (label, changes) in enumerate(VARIANTS):
            row = score("flow", train, test, truth_nll, {**changes, **hyper}, args.seed,
                        args.save_dir, args.load_dir, name=f"flow_variant_{number}")
            rows.append({"variant": label, **row})
            print(f"{label}: {_excess(row)} nats, fit {_fit(row)} s", flush=True)
    else:
        rows = [score(family, train, test, truth_nll, hyper, args.seed, args.save_dir,
                      args.load_dir)
                for family in args.families.split(",")]

    result = {
        "command": command_line(args, parser), "variants": args.variants,
        "preset": args.preset,
        "n_halos": args.n_halos, "seed": args.seed, "torch_threads": args.threads,
        "machine": machine_info(), "date": datetime.now(UTC).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "load_average": [load_before, os.getloadavg()[0]],
        "seconds": time.perf_counter() - start,
        "train_rows": len(train), "test_rows": len(test),
        "truth_nll": float(truth_nll.mean()), "rows": rows}
    out = args.out or (VARIANTS_OUT if args.variants else DEFAULT_OUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, result)
    print(variants_table(result) if args.variants else results_table(result))
    print(f"wrote {out}")
    if not args.no_docs:
        write_docs(result)


if __name__ == "__main__":
    main()
