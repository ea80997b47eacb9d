"""Benchmark: generation speed and number counts of the survey sources (issue #21).

Measures, with numpy only (no torch):

* **speed**: CPU seconds (``time.process_time``, all threads: "per core") to draw and
  photometer quasars (:func:`galhalo.photometry.quasars.quasar_sources`) and stars
  (:func:`galhalo.photometry.stars.star_sources`) over ``--area`` deg² in the 60 J-PAS-like
  bands, and to mix them with a given galaxy catalog
  (:func:`galhalo.photometry.mixture.mixed_sample`); sources per CPU second after
  warm-up, and the one-off set-up (the quasar and galaxy component tables and the
  stellar grid, cached per filter set);
  the galaxies are photometered by :func:`galhalo.photometry.galaxies.galaxy_sources`
  from a stand-in mock of ``--galaxies-per-deg2`` (random properties and redshifts: the
  cost is real, the galaxy counts are not) and timed too;
* **counts**: stars, low- and high-z quasars per deg² in the true-r bins of the issue
  (17-20, 20-22.5, 22.5-23.6), and the quasar counts against the published figures:
  J-PAS's ~200 deg⁻² with ~75 at z > 2.2 (the talk; REFERENCES.md) at r < 22.5, 22.75,
  23, and Palanque-Delabrouille et al. (2013)'s 30 / 99 / 47 deg⁻² at g < 22.5 for
  0.68 < z < 1 / 1 < z < 2.15 / z > 2.15.

Prints the tables, writes JSON (benchmarks/results/photometry.json) and the block
``photometry`` of docs/photometry_sources.md.

Usage::

    python benchmarks/photometry.py              # 10 deg², seed 1
    python benchmarks/photometry.py --area 2     # quicker
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _docs import DOCS, markdown_table, rewrite_block

from galhalo.catalog import Catalog
from galhalo.catalog.meta import CatalogMeta
from galhalo.files import write_json
from galhalo.photometry.filters import jpas_like
from galhalo.photometry.galaxies import galaxy_sources
from galhalo.photometry.mixture import class_counts, mixed_sample
from galhalo.photometry.quasars import quasar_sources
from galhalo.photometry.stars import star_sources
from galhalo.photometry.synthetic import ab_magnitude

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "photometry.json"
DOCUMENT = DOCS / "photometry_sources.md"
BLOCK = "photometry"
R_RANGE = (17.0, 23.6)
PD13 = (((0.68, 1.0), 30.0), ((1.0, 2.15), 99.0), ((2.15, 9.0), 47.0))
COSMOLOGY = {"name": "planck15", "Om0": 0.3089, "Ob0": 0.0486, "H0": 67.74,
             "sigma8": 0.8159, "ns": 0.9667}


def stand_in_galaxies(filters, area: float, density: float, seed: int) -> pd.DataFrame:
    """Galaxies photometered by :func:`galhalo.photometry.galaxies.galaxy_sources` from a
    stand-in mock: ``area × density`` galaxies with random stellar mass, colour and sSFR
    (the ranges of a galhalo mock) at redshifts uniform in 0.05-1.2 (not a light-cone:
    only the photometry's cost and the mix are measured)."""
    rng = np.random.default_rng(seed)
    n = int(area * density)
    table = pd.DataFrame({
        "halo_id": np.arange(n), "x": rng.uniform(0, 100, n), "y": rng.uniform(0, 100, n),
        "z": rng.uniform(0, 100, n), "smass": rng.uniform(8.75, 11.5, n),
        "color": rng.uniform(0.0, 1.3, n), "sSFR": rng.uniform(-12.5, -8.8, n)})
    catalog = Catalog(table, CatalogMeta(box_size=100.0, cosmology=COSMOLOGY))
    redshift = rng.uniform(0.05, 1.2, n)
    placement = pd.DataFrame({"row": np.arange(n), "redshift": redshift,
                              "redshift_cosmological": redshift,
                              "ra": rng.uniform(0, 1, n), "dec": rng.uniform(0, 1, n)})
    return galaxy_sources(catalog, placement, filters)


def timed(function, *args, **kwargs) -> tuple[Any, float]:
    start = time.process_time()
    out = function(*args, **kwargs)
    return out, time.process_time() - start


def measure(area: float, seed: int, galaxy_density: float) -> dict[str, Any]:
    filters = jpas_like()
    _, setup_quasars = timed(quasar_sources, 0.01, filters, seed)
    _, setup_stars = timed(star_sources, 0.01, filters, seed)
    # the galaxies' template table (built once per filter set, cached): 0.1 deg² of the
    # stand-in reaches its z = 1.2 as the full area does
    _, setup_galaxies = timed(stand_in_galaxies, filters, 0.1, galaxy_density, seed + 1)
    quasars, cpu_quasars = timed(quasar_sources, area, filters, seed, r_range=R_RANGE)
    stars, cpu_stars = timed(star_sources, area, filters, seed, r_range=R_RANGE)
    galaxies, cpu_galaxies = timed(stand_in_galaxies, filters, area, galaxy_density, seed)
    mixed, cpu_mixed = timed(mixed_sample, galaxies, area, filters, seed, r_range=R_RANGE)
    generated = len(galaxies) + len(quasars) + len(stars)
    deep = quasar_sources(area, filters, seed + 1, r_range=(15.0, 25.0))
    counts = class_counts(mixed, area)
    g = ab_magnitude(deep["flux_gSDSS"].to_numpy())
    z = deep["redshift"].to_numpy()
    jpas = {f"r<{limit:g}": {
        "all": float(np.count_nonzero(deep["mag_r"] < limit) / area),
        "z>2.2": float(np.count_nonzero((deep["mag_r"] < limit) & (z > 2.2)) / area)}
        for limit in (22.5, 22.75, 23.0)}
    pd13 = {f"{low:g}-{high:g}": float(np.count_nonzero((g < 22.5) & (z > low) & (z <= high))
                                       / area) for (low, high), _ in PD13}
    return {
        "area_deg2": area, "seed": seed, "filters": len(filters),
        "galaxies_per_deg2": galaxy_density,
        "speed": {
            "setup_cpu_seconds": {"quasars": setup_quasars, "stars": setup_stars,
                                  "galaxies": setup_galaxies},
            "quasars": {"sources": len(quasars), "cpu_seconds": cpu_quasars,
                        "per_second": len(quasars) / cpu_quasars},
            "stars": {"sources": len(stars), "cpu_seconds": cpu_stars,
                      "per_second": len(stars) / cpu_stars},
            "galaxies": {"sources": len(galaxies), "cpu_seconds": cpu_galaxies,
                         "per_second": len(galaxies) / cpu_galaxies},
            "mixed": {"sources": generated, "kept": len(mixed),
                      "cpu_seconds": cpu_galaxies + cpu_mixed,
                      "per_second": generated / (cpu_galaxies + cpu_mixed)},
        },
        "counts_per_deg2": {name: {column: float(value) for column, value in row.items()}
                            for name, row in counts.drop(index=["galaxy", "total"]).iterrows()},
        "jpas_quasars_per_deg2": jpas,
        "pd13_quasars_per_deg2_g_below_22.5": pd13,
    }


def tables(result: dict[str, Any]) -> list[str]:
    speed = result["speed"]
    rows = [[name, f"{speed[name]['sources']:,}", f"{speed[name]['cpu_seconds']:.2f}",
             f"{speed[name]['per_second']:,.0f}"]
            for name in ("quasars", "stars", "galaxies", "mixed")]
    speed_table = markdown_table(["sources", "n", "CPU s", "sources per CPU s"], rows)
    counts = result["counts_per_deg2"]
    columns = list(next(iter(counts.values())))
    count_table = markdown_table(
        ["class (per deg²)", *[f"r {c}" if c != "all" else "17-23.6" for c in columns]],
        [[name, *[f"{row[c]:.1f}" for c in columns]] for name, row in counts.items()])
    jpas = result["jpas_quasars_per_deg2"]
    jpas_table = markdown_table(
        ["quasars per deg²", *jpas, "J-PAS (talk)"],
        [["all", *[f"{v['all']:.0f}" for v in jpas.values()], "~200"],
         ["z > 2.2", *[f"{v['z>2.2']:.0f}" for v in jpas.values()], "~75"]])
    pd13 = result["pd13_quasars_per_deg2_g_below_22.5"]
    pd13_table = markdown_table(
        ["g < 22.5, per deg²", *[f"z {k}" for k in pd13]],
        [["this model", *[f"{v:.1f}" for v in pd13.values()]],
         ["PD13 (measured)", *[f"{value:g}" for _, value in PD13]]])
    return [speed_table, count_table, jpas_table, pd13_table]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--area", type=float, default=10.0, help="deg² (default 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--galaxies-per-deg2", type=float, default=10_000.0,
                        help="density of the stand-in galaxy mock (default 1e4)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    result = measure(args.area, args.seed, args.galaxies_per_deg2)
    result["load_average"] = [load_before, os.getloadavg()[0]]
    defaults = (args.area, args.seed, args.galaxies_per_deg2) == (10.0, 1, 10_000.0)
    result["command"] = "python benchmarks/photometry.py" + ("" if defaults else (
        f" --area {args.area:g} --seed {args.seed} "
        f"--galaxies-per-deg2 {args.galaxies_per_deg2:g}"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    text = "\n".join(tables(result))
    setup = result["speed"]["setup_cpu_seconds"]
    text += (f"\nOne-off set-up (once per filter set, cached): {setup['quasars']:.2f} CPU s "
             f"(quasar component table), {setup['galaxies']:.2f} CPU s (galaxy template "
             f"table), {setup['stars']:.2f} CPU s (stellar grid); load average "
             f"{result['load_average'][0]:.1f} → {result['load_average'][1]:.1f} on this "
             f"machine. 'galaxies': `galaxy_sources` on a stand-in mock of "
             f"{args.galaxies_per_deg2:,.0f} deg⁻² (random properties, 0.05 < z < 1.2); "
             f"'mixed': all three classes generated and mixed (galaxies' photometry "
             f"included), per generated source.\n")
    print(text)
    if not args.no_docs:
        rewrite_block(DOCUMENT, BLOCK, text, command=result["command"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
