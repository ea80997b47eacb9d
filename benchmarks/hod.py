"""Benchmark: the HOD baseline (family ``hod``: Zheng07, decorated) against the exact
satellite-count truth of the synthetic universe (galhalo issue #19, item 5).

A universe with satellites is simulated; its hosts (one central row each) are split
80/20 (seeded). On the 80% the HOD is fitted by Poisson maximum likelihood of ``N_sat``:
mass-only Zheng07 (``M_h``) and decorated with ``C_h`` (the secondary the universe's
counts depend on: its occupation assembly bias, ``SubhaloModel.count_assembly``),
``Delta3_h`` or ``z_h`` as the secondary. On the 20% held out, per host:

* **NLL**: mean -log P(N_sat | host) in nats (the held-out hosts are given to ``fit`` as
  the validation table, which only reports this number: nothing is fitted on them);
  infinite when a held-out host has satellites below the fitted M_0, where Zheng07 has
  none (**P = 0 hosts** counts them);
* **- truth**: the NLL minus the exact truth's (its negative binomial,
  ``SatelliteModel.satellite_count_log_prob``) over the hosts of non-zero probability,
  ± the standard error of that paired per-host difference;
* **Poisson(truth mean)**: a Poisson with the truth's exact mean, the best any Poisson
  occupation can do: the gap to it is the HOD's mean shape, the gap from it to the truth
  the cost of assuming Poisson scatter;
* the fitted parameters (log10 Msun/h) ± their Fisher errors, and fit seconds.

Default: 1e5 hosts in 205 Mpc/h, seed 42; ``--quick``: 2e4 hosts in a box of the same
density. Prints the table, writes JSON (benchmarks/results/hod.json) and the block
``hod`` of docs/models.md.

Usage::

    .venv/bin/python benchmarks/hod.py            # 1e5 hosts
    .venv/bin/python benchmarks/hod.py --quick    # 2e4 hosts
    .venv/bin/python benchmarks/hod.py --preset tng_hard   # galhalo's default universe
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _docs import DOCS, markdown_table
from _universe import HeldOut, add_universe_options, paired_difference, report, universe_size

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "hod.json"
DOCUMENT = DOCS / "models.md"
BLOCK = "hod"
CONDITIONS = ("M_h", "M_h,C_h", "M_h,Delta3_h", "M_h,z_h")


def measure(n_hosts: int, box: float, seed: int, *, preset: str) -> dict[str, Any]:
    """Everything of the module docstring on the universe of galaxy truth ``preset``,
    JSON-able."""
    from galhalo.models.hod import HODModel, poisson_log_pmf

    data = HeldOut(n_hosts, box, seed, preset=preset)
    train, test, truth = data.train, data.test, data.truth
    counts = test["N_sat"].to_numpy()
    truth_log_p = truth.satellite_count_log_prob(test, counts)
    poisson_log_p = poisson_log_pmf(counts, truth.satellite_count_mean(test))
    rows = [{"model": "truth (negative binomial)", "nll": float(-truth_log_p.mean()),
             "minus_truth": 0.0, "error": 0.0},
            {"model": "Poisson(truth mean)", "nll": float(-poisson_log_p.mean()),
             **dict(zip(("minus_truth", "error"), paired_difference(poisson_log_p, truth_log_p),
                        strict=True))}]
    for condition in CONDITIONS:
        start = time.perf_counter()
        model = HODModel().fit(train, condition, "N_sat", valid=test, seed=seed)
        seconds = time.perf_counter() - start
        log_p = model.log_prob(test, test)
        possible = np.isfinite(log_p)
        minus, error = paired_difference(log_p[possible], truth_log_p[possible])
        rows.append({"model": f"hod {condition}",
                     "nll": float(-log_p.mean()) if possible.all() else None,
                     "minus_truth": minus, "error": error, "fit_seconds": seconds,
                     "zero_probability_hosts": int((~possible).sum()),
                     "parameters": model.parameters, "errors": model.errors})
    return {"hosts": n_hosts, "box": box, "seed": seed, "train_hosts": len(train),
            "test_hosts": len(test),
            "satellites": int(train["N_sat"].sum() + test["N_sat"].sum()),
            "simulate_seconds": data.simulate_seconds, "rows": rows}


def parameter_text(row: dict[str, Any]) -> str:
    if "parameters" not in row:
        return ""
    parts = []
    for name, value in row["parameters"].items():
        error = row["errors"].get(name)
        parts.append(f"{name} {value:.3f}" + (f" ± {error:.3f}" if error else " (bound)"))
    return ", ".join(parts)


def table_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["model", "held-out NLL (nats/host)", "P = 0 hosts", "− truth (P > 0 hosts)",
              "parameters", "fit s"]
    rows = [[row["model"], "inf" if row["nll"] is None else f"{row['nll']:.4f}",
             str(row.get("zero_probability_hosts", 0)),
             f"{row['minus_truth']:+.4f} ± {row['error']:.4f}" if row["error"] else "0",
             parameter_text(row),
             f"{row['fit_seconds']:.1f}" if "fit_seconds" in row else ""]
            for row in result["rows"]]
    return header, rows


def summary(result: dict[str, Any]) -> str:
    return (f"{result['hosts']:,} hosts in {result['box']:.1f} Mpc/h (seed {result['seed']}), "
            f"{result['satellites']:,} satellites; hosts split 80/20 (seeded): "
            f"{result['train_hosts']:,} to fit, {result['test_hosts']:,} held out.")


NOTE = ("*P = 0 hosts*: held-out hosts with satellites below the fitted M_0, where "
        "Zheng07 (halotools' convention) has no satellites: their probability is 0 and "
        "the held-out NLL infinite. *− truth*: the NLL minus the exact truth's over the "
        "other held-out hosts, ± the standard error of the paired per-host difference. "
        "*Poisson(truth mean)*: the truth's exact mean with "
        "Poisson scatter, the best a Poisson occupation can do. Parameters: log10 Msun/h "
        "(alpha, the assembly-bias amplitude A dimensionless) ± the Fisher errors of the "
        "training hosts; *(bound)*: the optimum sits on a bound. `benchmarks/hod.py` "
        "documents every column.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_universe_options(parser, DEFAULT_OUT, "docs/models.md")
    args = parser.parse_args(argv)
    n_hosts, box = universe_size(args)
    result = measure(n_hosts, box, args.seed, preset=args.preset)
    header, rows = table_rows(result)
    print(markdown_table(header, rows))
    print(summary(result))
    report(args, "hod", result, DOCUMENT, BLOCK,
           markdown_table(header, rows) + "\n" + summary(result) + "\n\n" + NOTE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
