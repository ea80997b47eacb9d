"""Benchmark: generation speed and number counts of the survey sources (issue #21).

Measures, with numpy only (no torch):

* **the mock**: one galhalo mock per run, ``galhalo.simulate(--n-halos, --box, --seed,
  satellites=True, preset=--preset)`` (centrals and satellites; 1e5 hosts in 205 Mpc/h,
  TNG300-like, of the ``classic`` universe by default: the figures in the documents were
  measured on it), timed on its own: its cost is the mock's, not the photometry's;
* **speed**: CPU seconds (``time.process_time``, all threads: "per core") of

  - the galaxies: the light-cone of ``--area`` deg² to ``--z-max`` through the mock,
    the SED mixture and r flux of its galaxies that could be as bright as r = 23.6 (a
    provable bound on r from colour and stellar mass skips the others, before they are
    placed on the sky), and the 60 J-PAS-like bands of those with true r 17-23.6
    (:func:`galhalo.photometry.galaxies.mock_galaxies` with ``r_range``);
  - the quasars (:func:`galhalo.photometry.quasars.quasar_sources`) and the stars
    (:func:`galhalo.photometry.stars.star_sources`) alone, for the same area;
  - the mixed sample: the galaxies' cost plus :func:`galhalo.photometry.mixture.
    mixed_sample` (which draws and photometers the quasars and stars for the area and
    mixes them with the galaxies in true r 17-23.6). Its rate is given per source kept
    in the sample (the headline: issue #21's target of 1e5 per CPU second) and per
    generated source (every galaxy of the cone, whatever its r, plus the quasars and
    stars);

  after warm-up; the one-off set-up (the quasar and galaxy component tables and the
  stellar grid, cached per filter set) is reported apart;
* **counts**: every class per deg² in the true-r bins of the issue (17-20, 20-22.5,
  22.5-23.6), the galaxies from the mock, against the J-PAS expectations of
  REFERENCES.md (the talk: ~5e4 objects deg⁻², ~1e4 galaxies deg⁻² with σ_z < 1 %), and
  the share of r < 23.6 galaxies beyond ``--z-max`` (a 1 deg² cone to z = 3); the quasar
  counts against J-PAS's ~200 deg⁻² with ~75 at z > 2.2 at r < 22.5, 22.75, 23, and
  Palanque-Delabrouille et al. (2013)'s 30 / 99 / 47 deg⁻² at g < 22.5 for
  0.68 < z < 1 / 1 < z < 2.15 / z > 2.15.

Prints the tables, writes JSON (benchmarks/results/photometry.json) and the block
``photometry`` of docs/photometry_sources.md.

Usage::

    python benchmarks/photometry.py              # 10 deg², seed 1, 1e5 hosts
    python benchmarks/photometry.py --area 2     # quicker
    python benchmarks/photometry.py --preset tng_hard   # galhalo's default universe
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _docs import DOCS, markdown_table, rewrite_block
from _preset import NOT_RERUN, add_preset_option

import galhalo
from galhalo.catalog import Catalog
from galhalo.files import write_json
from galhalo.photometry.filters import FilterSet, jpas_like
from galhalo.photometry.galaxies import galaxy_sources, mock_galaxies
from galhalo.photometry.lightcone import light_cone
from galhalo.photometry.mixture import class_counts, mixed_sample
from galhalo.photometry.quasars import quasar_sources
from galhalo.photometry.stars import star_sources
from galhalo.photometry.synthetic import ab_magnitude

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "photometry.json"
DOCUMENT = DOCS / "photometry_sources.md"
BLOCK = "photometry"
R_RANGE = (17.0, 23.6)
PD13 = (((0.68, 1.0), 30.0), ((1.0, 2.15), 99.0), ((2.15, 9.0), 47.0))
#: The mock: hosts (centrals above the stellar-mass cut) and box side (Mpc/h).
N_HALOS, BOX = 100_000, 205.0
#: Light-cone depth (cosmological z): below 2, so that the galaxies' component table
#: (its top rounded up to 0.5 in z) is the one built at warm-up.
Z_MAX = 1.9
#: The depth check: a cone this deep and this wide (deg²) counts what ``Z_MAX`` cuts.
DEEP_Z, DEEP_AREA = 3.0, 1.0
#: J-PAS expectations (the talk; REFERENCES.md), per deg².
JPAS_OBJECTS, JPAS_GALAXIES = 5e4, 1e4


def simulate_mock(n_halos: int = N_HALOS, box: float = BOX, seed: int = 1, *,
                  preset: str = NOT_RERUN) -> Catalog:
    """The galhalo mock the survey galaxies come from: ``galhalo.simulate`` with
    satellites (centrals and satellites above the stellar-mass cut, z = 0 snapshot) of
    the galaxy truth ``preset`` (default ``classic``, the universe the documents' figures
    were measured on)."""
    return galhalo.simulate(n_halos, box, seed, satellites=True, preset=preset)


def cone_galaxies(catalog: Catalog, filters: FilterSet, area: float, z_max: float = Z_MAX,
                  axis: Sequence[float] | None = None,
                  r_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """The galaxy source catalog of a light-cone of ``area`` deg² to ``z_max`` through
    ``catalog`` (every galaxy, or with ``r_range`` those of true r in it):
    :func:`~galhalo.photometry.galaxies.mock_galaxies`, or with ``axis`` the cone of
    :func:`~galhalo.photometry.lightcone.light_cone` along that line of sight (another
    patch of sky, for an independent test sample)."""
    if axis is None:
        return mock_galaxies(catalog, filters, z_max=z_max, area=area, r_range=r_range)
    return galaxy_sources(catalog, light_cone(catalog, z_max, area, axis=axis), filters,
                          r_range=r_range)


def timed(function, *args, **kwargs) -> tuple[Any, float]:
    start = time.process_time()
    out = function(*args, **kwargs)
    return out, time.process_time() - start


def rate(sources: int, cpu: float) -> dict[str, float]:
    return {"sources": sources, "cpu_seconds": cpu, "per_second": sources / cpu}


def measure(area: float, seed: int, n_halos: int = N_HALOS, box: float = BOX,
            z_max: float = Z_MAX, *, preset: str = NOT_RERUN) -> dict[str, Any]:
    """Every figure of the benchmark (module docstring) for a cone of ``area`` deg² to
    ``z_max`` through the mock of ``n_halos`` hosts in ``box`` Mpc/h of galaxy truth
    ``preset``."""
    filters = jpas_like()
    catalog, cpu_mock = timed(simulate_mock, n_halos, box, seed, preset=preset)
    _, setup_quasars = timed(quasar_sources, 0.01, filters, seed)
    _, setup_stars = timed(star_sources, 0.01, filters, seed)
    # the galaxies' template table (built once per filter set, cached): a 0.05 deg² cone
    # reaches the table's top (z_max rounded up to 0.5) as the full area does
    _, setup_galaxies = timed(cone_galaxies, catalog, filters, 0.05, z_max,
                              r_range=R_RANGE)
    quasars, cpu_quasars = timed(quasar_sources, area, filters, seed, r_range=R_RANGE)
    stars, cpu_stars = timed(star_sources, area, filters, seed, r_range=R_RANGE)
    galaxies, cpu_galaxies = timed(cone_galaxies, catalog, filters, area, z_max,
                                   r_range=R_RANGE)
    in_cone = galaxies.attrs["r_cut"]["placed"]
    # every copy placed on the sky (mock_galaxies places only those the bound keeps)
    _, cpu_cone = timed(light_cone, catalog, z_max, area)
    mixed, cpu_mixed = timed(mixed_sample, galaxies, area, filters, seed, r_range=R_RANGE)
    others = int(np.count_nonzero(mixed["source_class"].to_numpy() != "galaxy"))
    cpu_all = cpu_galaxies + cpu_mixed
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
    bright = cone_galaxies(catalog, filters, DEEP_AREA, DEEP_Z, r_range=R_RANGE)
    beyond = bright["redshift_cosmological"] > z_max
    table = catalog.table
    return {
        "area_deg2": area, "seed": seed, "preset": preset, "filters": len(filters),
        "mock": {"n_hosts": n_halos, "box_mpc_h": box, "rows": len(table),
                 "satellites": int(np.count_nonzero(~table["is_central"].to_numpy())),
                 "cpu_seconds": cpu_mock, "z_max": z_max,
                 "galaxies_in_cone": in_cone,
                 "galaxies_photometered": galaxies.attrs["r_cut"]["photometered"],
                 "galaxies_kept": len(galaxies),
                 "light_cone_cpu_seconds": cpu_cone,
                 "sed": galaxies.attrs.get("sed", {})},
        "beyond_z_max": {"z_max_check": DEEP_Z, "area_deg2": DEEP_AREA,
                         "r_17_23.6": len(bright), "beyond": int(beyond.sum()),
                         "fraction": float(beyond.sum() / max(len(bright), 1))},
        "speed": {
            "setup_cpu_seconds": {"quasars": setup_quasars, "stars": setup_stars,
                                  "galaxies": setup_galaxies},
            "quasars": rate(len(quasars), cpu_quasars),
            "stars": rate(len(stars), cpu_stars),
            "galaxies": rate(in_cone, cpu_galaxies),
            "mixed": rate(in_cone + others, cpu_all),
            "mixed_kept": rate(len(mixed), cpu_all),
        },
        "counts_per_deg2": {name: {column: float(value) for column, value in row.items()}
                            for name, row in counts.iterrows()},
        "jpas_quasars_per_deg2": jpas,
        "pd13_quasars_per_deg2_g_below_22.5": pd13,
    }


SPEED_ROWS = {"mixed_kept": "**mixed sample, per source kept (r 17-23.6)**",
              "mixed": "mixed sample, per generated source",
              "galaxies": "galaxies alone, per galaxy in the cone",
              "quasars": "quasars (alone)", "stars": "stars (alone)"}


def tables(result: dict[str, Any]) -> list[str]:
    speed = result["speed"]
    rows = [[label, f"{speed[name]['sources']:,}", f"{speed[name]['cpu_seconds']:.2f}",
             f"{speed[name]['per_second']:,.0f}"] for name, label in SPEED_ROWS.items()]
    speed_table = markdown_table(["sources", "n", "CPU s", "sources per CPU s"], rows)
    counts = result["counts_per_deg2"]
    columns = list(next(iter(counts.values())))
    count_table = markdown_table(
        ["class (per deg²)", *[f"r {c}" if c != "all" else "17-23.6" for c in columns]],
        [[name, *[f"{row[c]:.1f}" for c in columns]] for name, row in counts.items()])
    survey_table = markdown_table(
        ["per deg²", "this mix, r 17-23.6", "J-PAS (talk)"],
        [["galaxies", f"{counts['galaxy']['all']:,.0f}",
          f"~{JPAS_GALAXIES:,.0f} with σ_z < 1 %"],
         ["all objects", f"{counts['total']['all']:,.0f}", f"~{JPAS_OBJECTS:,.0f}"]])
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
    return [speed_table, count_table, survey_table, jpas_table, pd13_table]


def notes(result: dict[str, Any]) -> str:
    mock, setup = result["mock"], result["speed"]["setup_cpu_seconds"]
    beyond = result["beyond_z_max"]
    return (
        f"\nThe mock: `galhalo.simulate({mock['n_hosts']:,}, {mock['box_mpc_h']:g}, "
        f"{result['seed']}, satellites=True)`, {mock['rows']:,} galaxies of which "
        f"{mock['satellites']:,} satellites, {mock['cpu_seconds']:.1f} CPU s (the mock's "
        f"cost, not in the rates above). Its light-cone of {result['area_deg2']:g} deg² to "
        f"z = {mock['z_max']:g} holds {mock['galaxies_in_cone']:,} galaxies: the "
        f"{mock['galaxies_photometered']:,} that could be as bright as r = 23.6 (the bound "
        f"on r from colour and stellar mass) get their SED mixture and r flux, the "
        f"{mock['galaxies_kept']:,} with r 17-23.6 the other bands and the mix (placing "
        f"every galaxy of the cone on the sky, `light_cone`, would take "
        f"{mock['light_cone_cpu_seconds']:.2f} CPU s; `mock_galaxies` places only those "
        f"the bound keeps). The cut at "
        f"z = {mock['z_max']:g} loses {beyond['beyond']:,} of the {beyond['r_17_23.6']:,} "
        f"galaxies with r 17-23.6 in a {beyond['area_deg2']:g} deg² cone to "
        f"z = {beyond['z_max_check']:g} ({100 * beyond['fraction']:.1f} %). "
        f"'mixed': the galaxies' cost plus `mixed_sample` (quasars and stars drawn, "
        f"photometered and mixed); per source kept = the sample's rows, per generated "
        f"source = every galaxy of the cone plus the quasars and stars kept. "
        f"One-off set-up (once per filter set, cached): {setup['quasars']:.2f} CPU s "
        f"(quasar component table), {setup['galaxies']:.2f} CPU s (galaxy template table "
        f"and a 0.05 deg² cone), {setup['stars']:.2f} CPU s (stellar grid); load average "
        f"{result['load_average'][0]:.1f} → {result['load_average'][1]:.1f} on this "
        f"machine.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--area", type=float, default=10.0, help="deg² (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the mock and sources")
    add_preset_option(parser, NOT_RERUN)
    parser.add_argument("--n-halos", type=int, default=N_HALOS,
                        help=f"hosts of the mock (default {N_HALOS:,})")
    parser.add_argument("--box", type=float, default=BOX,
                        help=f"box side of the mock, Mpc/h (default {BOX:g})")
    parser.add_argument("--z-max", type=float, default=Z_MAX,
                        help=f"light-cone depth, cosmological z (default {Z_MAX:g})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    result = measure(args.area, args.seed, args.n_halos, args.box, args.z_max,
                     preset=args.preset)
    result["load_average"] = [load_before, os.getloadavg()[0]]
    options = {"--area": (args.area, 10.0), "--seed": (args.seed, 1),
               "--preset": (args.preset, parser.get_default("preset")),
               "--n-halos": (args.n_halos, N_HALOS), "--box": (args.box, BOX),
               "--z-max": (args.z_max, Z_MAX)}
    result["command"] = "python benchmarks/photometry.py" + "".join(
        f" {flag} {value if isinstance(value, str) else format(value, 'g')}"
        for flag, (value, default) in options.items() if value != default)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    text = "\n".join(tables(result)) + notes(result)
    print(text)
    if not args.no_docs:
        rewrite_block(DOCUMENT, BLOCK, text, command=result["command"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
