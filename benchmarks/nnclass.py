"""Benchmark: NNclass held-out NLL against the exact truth, before and after the
early-stopping fix of issue 17 (early stopping on the held-out mixture NLL instead of a
cross-entropy against the validation rows' nearest generators).

Both runs fit NNclass with the same seed, data and hyperparameters on a small synthetic
universe (``galhalo.simulate``) and score the held-out rows against the exact truth
(``TruthModel.log_prob``): mean NLL minus the truth's, in nats per galaxy, with its
standard error. "before" runs the source of the base commit (``git archive`` of
``--base`` into a temporary directory, imported through ``PYTHONPATH``), "after" this
checkout's ``src``. The class count is fixed (``--classes``) so that both use a level of
the same size; the "after" hierarchy also has the certified ray-cast geometry and the
paper's oracle PCC rule (neither changes the level chosen by ``classes``' nearest
count, but the geometry changes the classes themselves).

Writes ``benchmarks/results/nnclass.json`` and the block ``nnclass-early-stopping`` of
docs/hival.md.

The universe is the ``classic`` one unless ``--preset`` names another (the figures in the
documents were measured on it); the default ``--base``'s galhalo predates the presets and
draws only that one, so ``--preset tng_hard`` needs a later ``--base``.

    .venv/bin/python benchmarks/nnclass.py                 # 20000 halos, <= 80 epochs
    .venv/bin/python benchmarks/nnclass.py --n-halos 5000 --classes 100   # smaller
    .venv/bin/python benchmarks/nnclass.py --preset tng_hard --base COMMIT  # galhalo's default
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _docs import DOCS, markdown_table, rewrite_block
from child import run_child_json
from simulate import machine_info

ROOT = Path(__file__).resolve().parent.parent
BASE_COMMIT = "f6ec311"
CONDITION = "M_h,C_h,S_h,z_h,Delta3_h"
TARGET = "smass,color,sSFR,radius"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "nnclass.json"


def run_child(options: dict[str, Any]) -> dict[str, Any]:
    """Fit and score NNclass with the galhalo found on this process's path.

    ``options["preset"]``: the galaxy truth passed to ``galhalo.simulate``, or None for a
    galhalo from before the presets (it takes no ``preset`` and draws the classic
    universe)."""
    import galhalo
    from galhalo.models import model_family
    from galhalo.models.hival import hival
    from galhalo.sim.truth import TruthModel

    universe = {} if options["preset"] is None else {"preset": options["preset"]}
    catalog = galhalo.simulate(n_halos=options["n_halos"], seed=options["seed"], **universe)
    held_out = np.random.default_rng(options["seed"]).random(len(catalog)) < 0.2
    train, test = catalog.select(~held_out), catalog.select(held_out)
    truth = TruthModel.from_dict(catalog.meta.truth)
    truth_nll = -truth.log_prob(test.table, test.table)
    hyper = {"epochs": options["epochs"], "classes": options["classes"],
             "hidden": tuple(options["hidden"]), "patience": options["patience"],
             "learning_rate": options["learning_rate"]}
    start = time.perf_counter()
    model = model_family("nnclass")(**hyper).fit(train, CONDITION, TARGET,
                                                 seed=options["seed"], progress=False)
    seconds = time.perf_counter() - start
    excess = -model.log_prob(test.table, test.table) - truth_nll
    valid = [h["valid"] for h in model.history]
    # the two labellings on the training targets: own class vs nearest generator
    targets = train.table[TARGET.split(",")].to_numpy(dtype=float)
    hierarchy = hival(targets, TARGET.split(","))
    agree = float(np.mean(hierarchy.assign(targets, model.level)
                          == hierarchy.labels[model.level]))
    return {"galhalo": galhalo.__file__, "level": model.level, "classes": model.n_classes,
            "nll_minus_truth": float(excess.mean()),
            "nll_minus_truth_error": float(excess.std() / np.sqrt(len(excess))),
            "valid_nll": model.metrics["valid_nll"], "labels_agree": agree,
            "excess": excess.tolist(),
            "epochs": len(model.history),
            "best_epoch": model.metrics["best_epoch"], "valid_history": valid,
            "fit_seconds": seconds, "train_rows": model.metrics["train_rows"],
            "valid_rows": model.metrics["valid_rows"],
            "test_rows": int(held_out.sum())}


def base_source(directory: Path, commit: str) -> Path:
    """The ``src`` tree of ``commit`` extracted into ``directory`` (git archive)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    return directory / "src"


def has_presets(source: Path) -> bool:
    """Whether the galhalo of ``source`` (a ``src`` tree) has the galaxy-truth presets
    (``galhalo.simulate(..., preset=...)``); without them it draws the classic universe."""
    return (source / "galhalo" / "sim" / "presets.py").is_file()


def document(result: dict[str, Any], command: str) -> str:
    """The docs/hival.md block: one row per run."""
    options = result["options"]
    rows = []
    for name in ("before", "after"):
        run = result[name]
        if "error" in run:
            rows.append([name, "failed", "", "", "", "", ""])
            continue
        rows.append([name, f"{run['nll_minus_truth']:.3f} ± {run['nll_minus_truth_error']:.3f}",
                     f"{run['best_epoch']} of {run['epochs']}", f"{run['level']}",
                     f"{run['classes']}", f"{run['labels_agree']:.0%}",
                     f"{run['fit_seconds']:.0f}"])
    after = result["after"]
    paired = ""
    if "paired_difference" in result:
        difference = result["paired_difference"]
        paired = (f"\nAfter − before, row by row on the same held-out galaxies: "
                  f"{difference['mean']:.3f} ± {difference['error']:.3f} nats. Fit seconds "
                  "are wall times on the shared 2 cores (load-dependent).\n")
    return (f"`{command}` ({options['n_halos']:,} halos: {after.get('train_rows', '?')} "
            f"training, {after.get('valid_rows', '?')} validation and "
            f"{after.get('test_rows', '?')} held-out rows; halo → smass, color, sSFR, radius; "
            f"`classes={options['classes']}`, `hidden={tuple(options['hidden'])}`, "
            f"`epochs={options['epochs']}`, `patience={options['patience']}`, "
            f"`learning_rate={options['learning_rate']}`, seed "
            f"{options['seed']}; before = commit {options['base']}):\n\n"
            + markdown_table(["run", "held-out NLL − truth [nats]", "best epoch",
                              "level", "classes", "labels agree", "fit s"], rows)
            + paired)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # run under the base commit's galhalo too: no _preset
        print(json.dumps(run_child(json.loads(argv[1]))))
        return 0
    from _preset import NOT_RERUN, add_preset_option

    from galhalo.sim.presets import CLASSIC

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-halos", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--classes", type=int, default=300)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    parser.add_argument("--seed", type=int, default=0)
    add_preset_option(parser, NOT_RERUN)
    parser.add_argument("--base", default=BASE_COMMIT, help="commit of the 'before' run")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/hival.md")
    args = parser.parse_args(argv)
    options = {"n_halos": args.n_halos, "epochs": args.epochs, "patience": args.patience,
               "classes": args.classes, "hidden": args.hidden, "seed": args.seed,
               "learning_rate": args.learning_rate,
               "base": args.base, "preset": args.preset}
    result: dict[str, Any] = {"benchmark": "nnclass", "machine": machine_info(),
                              "preset": args.preset, "options": options}
    with tempfile.TemporaryDirectory(prefix="galhalo-nnclass-") as tmp:
        sources = {"before": base_source(Path(tmp), args.base), "after": ROOT / "src"}
        if not has_presets(sources["before"]) and args.preset != CLASSIC:
            parser.error(f"the galhalo of --base {args.base} predates the presets and "
                         f"draws only the {CLASSIC} universe: use --preset {CLASSIC} or "
                         "a later --base")
        for name, source in sources.items():
            print(f"{name}: fitting NNclass with {source} ...", file=sys.stderr, flush=True)
            run = {**options, "preset": args.preset if has_presets(source) else None}
            command = ["env", f"PYTHONPATH={source}", sys.executable,
                       str(Path(__file__).resolve()), "--child", json.dumps(run)]
            result[name] = run_child_json(command, args.timeout)
            print(json.dumps({k: v for k, v in result[name].items()
                              if k not in ("valid_history", "excess")}), file=sys.stderr)
    if all("excess" in result[name] for name in ("before", "after")):
        difference = (np.array(result["after"]["excess"])
                      - np.array(result["before"]["excess"]))
        result["paired_difference"] = {
            "mean": float(difference.mean()),
            "error": float(difference.std() / np.sqrt(len(difference)))}
    from galhalo.files import write_json

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    command = " ".join(["python benchmarks/nnclass.py", *argv])
    if not args.no_docs:
        rewrite_block(DOCS / "hival.md", "nnclass-early-stopping", document(result, command))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all("error" not in result[name] for name in ("before", "after")) else 1


if __name__ == "__main__":
    sys.exit(main())
