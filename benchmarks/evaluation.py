"""Benchmark: what ``evaluate_model`` costs per model family, with its default settings.

Simulates a training universe and an independent evaluation universe (default 2e4 and
1e4 rows, seeds 1 and 2), fits NNgauss and the flow briefly on the first (``--epochs``,
default 5: the timing of the evaluation, not the quality of the fit, is measured here),
then times ``galhalo.evaluate.run.evaluate_model`` on the second for the truth model and
each fitted family with the defaults: every preset scenario that selects enough rows,
permutation importance on 2,000 rows, ``n_samples`` = 10 draws per row for the
distribution metrics, and the conditional PIT / coverage from the exact CDF (truth) or
``pit_samples`` = 800 draws per row (the others). Reports wall and CPU seconds (CPU
counts every thread of this process) and the PIT method.

Writes ``benchmarks/results/evaluation.json`` and rewrites the block
``<!-- benchmark:evaluation-timings -->`` of ``docs/evaluation.md`` (``--no-docs``:
leave the document alone).

Usage::

    .venv/bin/python benchmarks/evaluation.py                     # ~5 min on 2 cores
    .venv/bin/python benchmarks/evaluation.py --rows 20000 --families truth,gauss
    .venv/bin/python benchmarks/evaluation.py --preset classic    # the earlier universe
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch
from _docs import add_docs_options, markdown_table, publish, rewrote_saved
from _preset import DEFAULT_PRESET, add_preset_option, preset_flag, universe_label

import galhalo
from galhalo.evaluate.run import evaluate_model
from galhalo.models import model_family
from galhalo.sim.truth import TruthModel

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "evaluation.json"
DOC = ROOT / "docs" / "evaluation.md"
CONDITION = ("M_h", "C_h", "S_h", "z_h", "Delta3_h")
TARGET = ("smass", "color", "sSFR", "radius")
LABELS = {"truth": "truth model", "gauss": "NNgauss", "flow": "flow"}


def measure(family: str, train, catalog, epochs: int, seed: int) -> dict[str, Any]:
    """Fit ``family`` (nothing for the truth) and time one default evaluation."""
    fit_seconds = 0.0
    if family == "truth":
        model: Any = TruthModel.from_dict(catalog.meta.truth)
    else:
        start = time.perf_counter()
        model = model_family(family)(epochs=epochs)
        model.fit(train, CONDITION, TARGET, seed=seed, progress=False)
        fit_seconds = time.perf_counter() - start
    wall, cpu = time.perf_counter(), time.process_time()
    result = evaluate_model(model, catalog, seed=seed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    settings = result["settings"]
    return {"family": family, "fit_seconds": fit_seconds, "evaluate_seconds": wall,
            "evaluate_cpu_seconds": cpu, "scenarios": len(result["scenarios"]),
            "rows": result["catalog"]["rows"], "n_samples": settings["n_samples"],
            "pit_method": settings["pit_method"],
            "importance_rows": settings["importance_rows"]}


def table(rows: list[dict[str, Any]]) -> str:
    return markdown_table(
        ["model", "PIT and coverage from", "evaluate s (wall)", "evaluate s (CPU)",
         "scenarios"],
        [[LABELS.get(r["family"], r["family"]), r["pit_method"],
          f"{r['evaluate_seconds']:.0f}", f"{r['evaluate_cpu_seconds']:.0f}",
          r["scenarios"]] for r in rows])


def docs_block(result: dict[str, Any]) -> str:
    """The docs block of a result: the table and what was measured, from the JSON alone."""
    before, after = result["load_average"]
    return (f"{table(result['rows'])}\n{int(result['evaluation_rows']):,}-row evaluation "
            f"catalog of {universe_label(result['preset'])} (seed 2), NNgauss and flow "
            f"fitted for {result['epochs']} epochs on {int(result['train_rows']):,} rows of "
            f"another universe; {result['threads']} torch threads; 1-minute load average "
            f"{before:.1f} before and {after:.1f} after (other jobs share the "
            f"{result['machine']['cpus']} cores).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=float, default=1e4, help="evaluation catalog rows")
    parser.add_argument("--train-rows", type=float, default=2e4)
    parser.add_argument("--epochs", type=int, default=5, help="training epochs per family")
    parser.add_argument("--families", default="truth,gauss,flow")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    add_preset_option(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    add_docs_options(parser)
    args = parser.parse_args()
    if rewrote_saved(args, DOC, "evaluation-timings", docs_block):
        return
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    train = galhalo.simulate(n_halos=int(args.train_rows), seed=1, preset=args.preset)
    catalog = galhalo.simulate(n_halos=int(args.rows), seed=2, preset=args.preset)
    rows = []
    for family in args.families.split(","):
        rows.append(measure(family, train, catalog, args.epochs, args.seed))
        print(f"{family}: fit {rows[-1]['fit_seconds']:.0f} s, evaluate "
              f"{rows[-1]['evaluate_seconds']:.0f} s wall, "
              f"{rows[-1]['evaluate_cpu_seconds']:.0f} s CPU ({rows[-1]['pit_method']})",
              flush=True)
    load_after = os.getloadavg()[0]
    command = "python benchmarks/evaluation.py" + (
        "" if (args.rows, args.train_rows, args.epochs, args.threads) == (1e4, 2e4, 5, 2)
        else f" --rows {int(args.rows)} --train-rows {int(args.train_rows)} "
             f"--epochs {args.epochs} --threads {args.threads}") + preset_flag(
        args.preset, DEFAULT_PRESET)
    result = {
        "command": command, "preset": args.preset, "rows": rows,
        "evaluation_rows": int(args.rows), "train_rows": int(args.train_rows),
        "epochs": args.epochs, "threads": args.threads,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__, "galhalo": galhalo.__version__},
        "load_average": [load_before, load_after]}
    publish(args, result, DOC, "evaluation-timings", docs_block, command)


if __name__ == "__main__":
    main()
