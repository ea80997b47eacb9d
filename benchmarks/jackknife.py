"""Benchmark: how honest are the delete-one jackknife errors of ``galhalo.clustering.xi``?

For independent realisations of three kinds of point sets in a periodic box of side
100 Mpc/h, jackknife 3 (27 cubes of side 33.3 Mpc/h), measures xi(r) in the 14 bins
1.25 * 2^(k/3), k = 0..14 (1.25 to 31.7 Mpc/h) and reports, per bin, the ratio

    (standard deviation of xi over the realisations, ddof 1) / (mean jackknife error)

(1 = honest, < 1 = the jackknife overestimates the error). The ratio of an sd from m
realisations is uncertain by about 1 / sqrt(2 (m - 1)) (16% for 20, 24% for 10).

- ``Poisson``: 3,000 uniform points, ``--realisations`` sets (default 20, seeds 0..);
- ``Thomas``: a Thomas process, 375 Poisson parents with Poisson(8) children offset by a
  2 Mpc/h Gaussian (about 3,000 points), same number of sets;
- ``universe``: the synthetic universe (``galhalo.simulate``, ``--universe-rows``
  centrals, default 20,000, box 100 Mpc/h, ``--universes`` seeds, default 10, galaxy
  truth ``--preset``, default galhalo's, ``tng_hard``): its spread includes cosmic
  variance. Also the large-scale bias b_LS
  (fit 10-31.7 Mpc/h) of its colour quartiles relative to all centrals.

Writes ``benchmarks/results/jackknife.json`` and rewrites the block
``<!-- benchmark:jackknife -->`` of ``docs/clustering.md`` (``--no-docs``: leave the
document alone; ``--from-json FILE``: measure nothing, rewrite the block from a saved
result).

Usage::

    .venv/bin/python benchmarks/jackknife.py                 # ~3 min on 2 cores
    .venv/bin/python benchmarks/jackknife.py --universes 4 --realisations 10
    .venv/bin/python benchmarks/jackknife.py --preset classic    # the universe until 2026-12-07
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from _docs import markdown_table, rewrite_block
from _preset import (
    DEFAULT_PRESET,
    add_preset_option,
    preset_flag,
    result_preset,
    universe_label,
)

import galhalo
from galhalo.clustering import xi
from galhalo.evaluate.population_clustering import BiasSettings, measure_populations
from galhalo.files import write_json

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "jackknife.json"
DOC = ROOT / "docs" / "clustering.md"
BOX = 100.0
JACKKNIFE = 3
EDGES = 1.25 * 2.0 ** (np.arange(15) / 3.0)  # 1.25 ... 31.7 Mpc/h, below the cube side
POINTS = 3000
SPLIT = "color:quantiles=4"


def poisson(seed: int) -> np.ndarray:
    """``POINTS`` uniform positions (POINTS, 3) in [0, BOX)."""
    return np.random.default_rng(seed).uniform(0.0, BOX, (POINTS, 3))


def thomas(seed: int, parents: int = POINTS // 8, children: float = 8.0,
           sigma: float = 2.0) -> np.ndarray:
    """A Thomas process: Poisson parents, Poisson(children) each, Gaussian offsets."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0.0, BOX, (parents, 3))
    parent = np.repeat(np.arange(parents), rng.poisson(children, parents))
    points = np.mod(centre[parent] + rng.normal(0.0, sigma, (len(parent), 3)), BOX)
    points[points >= BOX] = 0.0
    return points


def ratio(values: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """sd over realisations (axis 0, ddof 1) / mean jackknife error, per bin."""
    return np.std(values, axis=0, ddof=1) / np.mean(errors, axis=0)


def point_sets(make, realisations: int, threads: int) -> dict[str, Any]:
    measured = [xi(make(seed), BOX, EDGES, jackknife=JACKKNIFE, nthreads=threads)
                for seed in range(realisations)]
    values = np.array([m.value for m in measured])
    errors = np.array([m.error for m in measured])
    return {"realisations": realisations, "ratio": ratio(values, errors).tolist(),
            "mean_points": float(np.mean([m.n_points[0] for m in measured]))}


def universes(count: int, rows: int, threads: int, *, preset: str) -> dict[str, Any]:
    """``count`` universes (seeds 0..count-1) of ``rows`` centrals in the BOX-side box,
    galaxy truth ``preset``: the sd / jackknife-error ratio of xi of all centrals per bin,
    and that of the large-scale bias of each colour quartile (``SPLIT``)."""
    settings = BiasSettings(edges=tuple(float(e) for e in EDGES),
                            fit_range=(10.0, float(EDGES[-1])), jackknife=JACKKNIFE,
                            nthreads=threads)
    xi_values, xi_errors, bias_values, bias_errors = [], [], [], []
    for seed in range(count):
        catalog = galhalo.simulate(n_halos=rows, box=BOX, seed=seed, preset=preset)
        measured = measure_populations(catalog, SPLIT, settings=settings)
        xi_values.append(measured.reference.value)
        xi_errors.append(measured.reference.error)
        bias_values.append([p.large_scale.value for p in measured.populations.values()])
        bias_errors.append([p.large_scale.error for p in measured.populations.values()])
        names = list(measured.populations)
        print(f"universe seed {seed}: done", flush=True)
    return {"universes": count, "rows": rows,
            "ratio": ratio(np.array(xi_values), np.array(xi_errors)).tolist(),
            "bias_ratio": dict(zip(names, ratio(np.array(bias_values),
                                                np.array(bias_errors)).tolist(),
                                   strict=True))}


def block(result: dict[str, Any]) -> str:
    centers = np.sqrt(EDGES[:-1] * EDGES[1:])
    poisson_ratio, thomas_ratio = result["poisson"]["ratio"], result["thomas"]["ratio"]
    universe = result["universe"]
    rows = [[f"{c:.2g}" if c < 10 else f"{c:.0f}", f"{c / (BOX / JACKKNIFE):.2f}",
             f"{p:.2f}", f"{t:.2f}", f"{u:.2f}"]
            for c, p, t, u in zip(centers, poisson_ratio, thomas_ratio, universe["ratio"],
                                  strict=True)]
    header = ["r [Mpc/h]", "r / a",
              f"Poisson, {POINTS:,} points, {result['poisson']['realisations']} sets",
              f"Thomas, ~{result['thomas']['mean_points']:,.0f} points, "
              f"{result['thomas']['realisations']} sets",
              f"universe, {universe['rows']:,} centrals, {universe['universes']} seeds"]
    bias = universe["bias_ratio"]
    low, high = min(bias.values()), max(bias.values())
    m_sets, m_universes = result["poisson"]["realisations"], universe["universes"]
    every = np.array([poisson_ratio, thomas_ratio, universe["ratio"]])
    fraction = centers / (BOX / JACKKNIFE)
    small, large = every[:, fraction < 0.2], every[:, fraction > 0.3]
    return (markdown_table(header, rows, align="rrrrr") + "\n"
            f"Below a/5 the ratios lie between {small.min():.2f} and {small.max():.2f}; "
            f"from a/3 to a between {large.min():.2f} and {large.max():.2f}: there the "
            f"jackknife overestimates the standard deviation by a factor "
            f"{1 / large.max():.1f} to {1 / large.min():.1f}. "
            f"Large-scale bias b_LS (10–{EDGES[-1]:.1f} Mpc/h) of the colour quartiles of "
            f"{universe_label(result_preset(result))}: ratio {low:.2f}–{high:.2f} "
            f"({', '.join(f'{k}: {v:.2f}' for k, v in bias.items())}). Each ratio is "
            f"uncertain by about {1 / math.sqrt(2 * (m_sets - 1)):.0%} ({m_sets} sets) to "
            f"{1 / math.sqrt(2 * (m_universes - 1)):.0%} ({m_universes} universes).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--realisations", type=int, default=20)
    parser.add_argument("--universes", type=int, default=10)
    parser.add_argument("--universe-rows", type=int, default=20_000)
    add_preset_option(parser, DEFAULT_PRESET)
    parser.add_argument("--threads", type=int, default=1, help="Corrfunc threads")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="measure nothing: rewrite the doc block from this JSON")
    args = parser.parse_args()
    if args.from_json is not None:
        result = json.loads(args.from_json.read_text())
        rewrite_block(DOC, "jackknife", block(result), command=result["command"])
        return
    start, load_before = time.perf_counter(), os.getloadavg()[0]
    result: dict[str, Any] = {
        "box": BOX, "jackknife": JACKKNIFE, "edges": EDGES.tolist(),
        "poisson": point_sets(poisson, args.realisations, args.threads),
        "thomas": point_sets(thomas, args.realisations, args.threads),
        "universe": universes(args.universes, args.universe_rows, args.threads,
                              preset=args.preset),
        "preset": args.preset,
    }
    defaults = (args.realisations, args.universes, args.universe_rows) == (20, 10, 20_000)
    result["command"] = "python benchmarks/jackknife.py" + ("" if defaults else (
        f" --realisations {args.realisations} --universes {args.universes} "
        f"--universe-rows {args.universe_rows}")) + preset_flag(args.preset, DEFAULT_PRESET)
    result["seconds"] = time.perf_counter() - start
    result["load_average"] = [load_before, os.getloadavg()[0]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    text = block(result)
    print(text)
    if not args.no_docs:
        rewrite_block(DOC, "jackknife", text, command=result["command"])


if __name__ == "__main__":
    main()
