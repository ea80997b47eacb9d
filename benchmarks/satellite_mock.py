"""Benchmark: a mock with satellites painted on held-out hosts, against the truth's
galaxies, by colour quartile; the learned models beside a Zheng07 HOD (issue #19).

Universes with satellites are simulated with the same settings and different seeds: the
first trains, the others (16 by default) hold out (their hosts were never seen). On the
training universe:

* **learned** (galhalo's composite model): a flow for the central's galaxy given the five
  host columns; the occupation model (neural negative binomial) for ``N_sat`` given the
  five host columns; a flow *profile* for ``r_host, v_r, v_t`` given the five host
  columns; a flow for the satellite's galaxy given the host columns, ``r_host`` and the
  central's ``sSFR`` (``sSFR_central``: galactic conformity), a mixture of two experts
  (``experts=2``);
* **HOD**: the same central flow; the Zheng07 satellite occupation (``hod`` family,
  ``M_h`` alone, Poisson); the ``nfw`` profile (NFW radii, Gaussian velocities); a flow
  for the satellite's galaxy given ``M_h`` and ``r_host`` alone (what an HOD with
  colours by host mass and radius knows: no assembly bias, no conformity).

Each held-out universe's hosts (one row per host, its central's galaxy columns dropped)
are a halo-only catalog: each composite paints centrals and satellites on them
(``galhalo.mock.make_mock``, ``--samples`` realisations). The truth is the held-out
universe's own galaxies. Both are compared with what ``galhalo clustering`` runs
(``evaluate.satellite_comparison.compare_satellites``): wp(rp), 0.1-20 Mpc/h (5 bins
per decade, pi_max 40 Mpc/h or a jackknife cube side, line of sight z, delete-one
jackknife on 3^3 cubes) for all galaxies, the satellites and each quartile of colour
(g - i; edges the truth's quartiles, shared by the mocks), a mock's wp the mean over
its realisations; the ratio mock / truth. The held-out universes are then pooled
(``combine_universes``): wp the mean over the universes, the ratio mean mock over mean
truth, its error the jackknife over universes of mock and truth jointly (so the noise
they share, the same hosts, cancels); one universe alone gives a noise floor of 5-16% at
1e5 hosts, above the 5% target, and N universes divide it by sqrt(N).

Reported per model and population: the largest |ratio - 1| over the rp bins and where
(target: within 5% everywhere), and the satellite fractions and counts. The noise floor
of the test: the same statistic between two realisations of the learned mock (for a
perfect model, the mock's mean over K = 2 realisations against the truth's one would
deviate about sqrt(3/4) = 0.87 times as much). Default: 1e5
hosts in 205 Mpc/h (TNG300-like, to train and in each held-out universe), seed 42 to
train and 43-58 held out, galaxy truth ``--preset`` (default ``classic``, the universe
of the figures in the documents); ``--quick``: 2e4 hosts at the same density;
``--models DIR`` keeps the trained composites (under ``DIR/PRESET``) and reuses them on
the next run.
Prints the tables, writes JSON (benchmarks/results/satellite_mock.json), the figure
docs/figures/satellite_wp.png and the block ``satellite_mock`` of docs/satellites.md.

Usage::

    .venv/bin/python benchmarks/satellite_mock.py            # 1e5 hosts, 16 held out
    .venv/bin/python benchmarks/satellite_mock.py --universes 1 --models /tmp/m   # one
    .venv/bin/python benchmarks/satellite_mock.py --quick    # 2e4 hosts
    .venv/bin/python benchmarks/satellite_mock.py --preset tng_hard   # galhalo's default universe
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _docs import DOCS, markdown_table
from _universe import add_universe_options, report, universe_size

from galhalo.models.flow import SINGLE_FLOW_SHAPE

HOST = ("M_h", "C_h", "S_h", "z_h", "Delta3_h")
GALAXY = ("smass", "color", "sSFR", "radius")
ORBIT = ("r_host", "v_r", "v_t")
#: Host-table columns kept for painting (ids, host properties, phase space).
HOST_TABLE = ("halo_id", *HOST, "x", "y", "z", "vx", "vy", "vz")
#: Issue #19's target: |wp_mock / wp_truth - 1| below this in every bin and quartile.
TARGET = 0.05
RP_RANGE = (0.1, 20.0)
PER_DECADE = 5
PI_MAX = 40.0
JACKKNIFE = 3
#: Training settings (short: the benchmark is about the mock, and runs on 2 cores), in the
#: flow shape the documented run used (one flow of one transform, ``SINGLE_FLOW_SHAPE``).
FLOW = {**SINGLE_FLOW_SHAPE, "epochs": 40}
#: The satellite-galaxy flows: a mixture of two experts (halo-dependent weights), which
#: keeps the satellites' narrow red sequence apart from the blue cloud (docs/models.md).
SATELLITE_FLOW = {**FLOW, "experts": 2}
OCCUPATION: dict[str, Any] = {}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "satellite_mock.json"
DOCUMENT = DOCS / "satellites.md"
FIGURE = DOCS / "figures" / "satellite_wp.png"
BLOCK = "satellite_mock"
#: Held-out universes pooled by default: one box's noise floor (5-16% at 1e5 hosts) is
#: above the 5% target; 16 universes bring it near 1/4 of that.
UNIVERSES = 16


def _timed(seconds: dict[str, float], name: str, function, *args, **kwargs):
    print(f"{name} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    value = function(*args, **kwargs)
    seconds[name] = time.perf_counter() - start
    return value


def train_models(universe, seed: int, seconds: dict[str, float]) -> dict[str, Any]:
    """The two composites of the module docstring, trained on ``universe``."""
    from galhalo.catalog import Catalog
    from galhalo.catalog.hosts import with_central_columns
    from galhalo.models.composite import CompositeModel
    from galhalo.models.flow import FlowModel
    from galhalo.models.hod import HODModel
    from galhalo.models.nfw import NFWModel
    from galhalo.models.occupation import OccupationModel

    centrals = universe.centrals()
    table = with_central_columns(universe.table)
    satellites = Catalog(table[~universe.central_mask()].reset_index(drop=True),
                         universe.meta)

    def fit(name, model, catalog, condition, target):
        return _timed(seconds, f"fit {name}", model.fit, catalog, ",".join(condition),
                      ",".join(target), seed=seed)

    central = fit("central flow", FlowModel(**FLOW), centrals, HOST, GALAXY)
    learned = CompositeModel(
        central=central,
        occupation=fit("occupation", OccupationModel(**OCCUPATION), centrals, HOST,
                       ("N_sat",)),
        profile=fit("profile flow", FlowModel(**FLOW), satellites, HOST, ORBIT),
        satellite=fit("satellite flow", FlowModel(**SATELLITE_FLOW), satellites,
                      (*HOST, "r_host", "sSFR_central"), GALAXY))
    hod = CompositeModel(
        central=central,
        occupation=fit("hod", HODModel(), centrals, ("M_h",), ("N_sat",)),
        profile=fit("nfw", NFWModel(), satellites, ("M_h",), ORBIT),
        satellite=fit("satellite flow (M_h, r_host)", FlowModel(**SATELLITE_FLOW),
                      satellites, ("M_h", "r_host"), GALAXY))
    return {"learned": learned, "HOD": hod}


POPULATIONS = ("all", "satellites", *(f"color q{k}/4" for k in range(1, 5)))


def pi_max_for(box: float) -> float:
    """wp depth: PI_MAX, or the whole Mpc/h of a jackknife cube side if smaller."""
    return float(min(PI_MAX, math.floor(box / JACKKNIFE)))


def trained_models(training, seed: int, seconds: dict[str, float],
                   directory: Path | None, *, preset: str) -> dict[str, Any]:
    """:func:`train_models`, or the composites saved in ``directory / preset`` by an
    earlier run (``--models``: the same training universe and seed make the same models;
    ``preset``, the training universe's galaxy truth, keeps each truth's models apart)."""
    from galhalo.models.composite import load_any

    if directory is not None:
        directory = directory / preset
    if directory is not None and all((directory / label).is_dir() for label in MODELS):
        print(f"models from {directory}", file=sys.stderr)
        return {label: load_any(directory / label) for label in MODELS}
    models = train_models(training, seed, seconds)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        for label, model in models.items():
            model.save(directory / label)
    return models


MODELS = ("learned", "HOD")


def compare_universe(models: dict[str, Any], n_hosts: int, box: float, seed: int,
                     samples: int, settings, seconds: dict[str, float], *, preset: str):
    """One held-out universe (``seed``, galaxy truth ``preset``): its truth and both mocks
    compared, and the noise floor (two realisations of the learned mock); also the counts
    per realisation."""
    import galhalo
    from galhalo.catalog import Catalog
    from galhalo.evaluate.satellite_comparison import compare_satellites
    from galhalo.mock import make_mock

    def add(name, function, *args, **kwargs):
        start = time.perf_counter()
        value = function(*args, **kwargs)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
        return value

    held_out = add("simulate held-out universes", galhalo.simulate, n_hosts, box, seed,
                   satellites=True, preset=preset)
    hosts = held_out.centrals()
    hosts = Catalog(hosts.table[list(HOST_TABLE)].reset_index(drop=True), hosts.meta)
    catalogs = {"truth": held_out}
    for label, model in models.items():
        catalogs[label] = add("paint", make_mock, model, hosts, samples, seed)
    comparison = add("wp and satellite statistics", compare_satellites, catalogs, settings,
                     shared_edges=True, rp_range=RP_RANGE, tolerance=TARGET)
    floor = None
    if samples >= 2:  # the noise floor: two realisations of the learned mock, one over the other
        table = catalogs["learned"].table
        pair = {f"learned realisation {r}": Catalog(
            table[table["realization"] == r].drop(columns="realization")
            .reset_index(drop=True), hosts.meta) for r in (0, 1)}
        floor = add("wp of two realisations (noise floor)", compare_satellites, pair,
                    settings, shared_edges=True, rp_range=RP_RANGE, tolerance=TARGET)
    occupation = occupation_by_mass(models, held_out, hosts)
    counts = {}
    for label, catalog in catalogs.items():
        satellite = ~catalog.table["is_central"].to_numpy(bool)
        realizations = (catalog.table["realization"].nunique()
                        if "realization" in catalog.table else 1)
        counts[label] = {"galaxies": len(catalog) / realizations,
                         "satellites": int(satellite.sum()) / realizations,
                         "satellite_fraction": float(satellite.mean())}
    return comparison, floor, counts, occupation


#: Host-mass bins (log10 Msun/h) of the occupation check: where the one-halo term of
#: wp at 1-2 Mpc/h comes from (only the most massive hosts are that large).
OCCUPATION_BINS = (12.0, 13.0, 13.5, 14.0, 14.5, 15.5)


def occupation_by_mass(models: dict[str, Any], held_out, hosts) -> dict[str, Any]:
    """Per host-mass bin of one held-out universe: hosts, the realised mean N_sat, the
    exact law's mean (``CountTruth``), each model's occupation mean, and the mean of
    N(N-1) (satellite pairs) realised and exact (mean^2 + variance - mean)."""
    from galhalo.evaluate.truth import CountTruth
    from galhalo.sim.truth import TruthModel

    law = CountTruth(TruthModel.from_dict(held_out.meta.truth))
    table = held_out.centrals().table
    mass = table["M_h"].to_numpy()
    realised = table["N_sat"].to_numpy(float)
    exact = law.predict(table)[:, 0]
    means = {label: model.occupation.mean(hosts.table) for label, model in models.items()}
    rows = []
    for low, high in itertools.pairwise(OCCUPATION_BINS):
        inside = (mass >= low) & (mass < high)
        rows.append({"bin": [low, high], "hosts": int(inside.sum()),
                     "realised": float(realised[inside].mean()) if inside.any() else None,
                     "exact": float(exact[inside].mean()) if inside.any() else None,
                     **{label: float(mean[inside].mean()) if inside.any() else None
                        for label, mean in means.items()}})
    return {"rows": rows}


def pooled_occupation(tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Host-weighted means over universes of :func:`occupation_by_mass`'s rows."""
    pooled = []
    for i, first in enumerate(tables[0]["rows"]):
        rows = [table["rows"][i] for table in tables if table["rows"][i]["hosts"]]
        hosts = sum(row["hosts"] for row in rows)
        entry = {"bin": first["bin"], "hosts": hosts}
        for key in first:
            if key not in ("bin", "hosts"):
                entry[key] = (sum(row[key] * row["hosts"] for row in rows) / hosts
                              if hosts else None)
        pooled.append(entry)
    return pooled


def occupation_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per host-mass bin, hosts and mean N_sat realised / exact / per model,
    each model's mean over the exact one."""
    labels = [key for key in rows[0] if key not in ("bin", "hosts", "realised", "exact")]
    header = ["log10 M_h", "hosts", "mean N_sat realised", "exact law",
              *[f"{label} (/ exact)" for label in labels]]
    body = [[f"{row['bin'][0]:g}–{row['bin'][1]:g}", f"{row['hosts']:,}",
             f"{row['realised']:.2f}", f"{row['exact']:.2f}",
             *[f"{row[label]:.2f} ({row[label] / row['exact']:.3f})" for label in labels]]
            for row in rows if row["hosts"]]
    return markdown_table(header, body)


def measure(n_hosts: int, box: float, seed: int, samples: int, nthreads: int,
            universes: int = 1, models_dir: Path | None = None, *, preset: str
            ) -> tuple[dict[str, Any], Any]:
    """Everything of the module docstring, JSON-able, and the comparison (for the figure).

    Every universe, training and held out, has the galaxy truth ``preset``. With
    ``universes`` > 1 the held-out universes are seeds ``seed + 1`` ...
    ``seed + universes``, each painted and compared alone, then pooled
    (:func:`~galhalo.evaluate.satellite_comparison.combine_universes`)."""
    import galhalo
    from galhalo.evaluate.satellite_clustering import SmallScaleSettings
    from galhalo.evaluate.satellite_comparison import combine_universes

    seconds: dict[str, float] = {}
    training = _timed(seconds, "simulate training universe", galhalo.simulate, n_hosts, box,
                      seed, satellites=True, preset=preset)
    models = trained_models(training, seed, seconds, models_dir, preset=preset)
    settings = SmallScaleSettings(rp_min=RP_RANGE[0], rp_max=RP_RANGE[1],
                                  per_decade=PER_DECADE, pi_max=pi_max_for(box),
                                  jackknife=JACKKNIFE,
                                  nthreads=nthreads, populations=POPULATIONS, with_xi=False)
    comparisons, floors, all_counts, occupations = [], [], [], []
    for u in range(universes):
        print(f"held-out universe {u + 1}/{universes} (seed {seed + 1 + u}) ...",
              file=sys.stderr, flush=True)
        comparison, floor, counts, occupation = compare_universe(
            models, n_hosts, box, seed + 1 + u, samples, settings, seconds, preset=preset)
        occupations.append(occupation)
        comparisons.append(comparison)
        floors.append(floor)
        all_counts.append(counts)
    if universes > 1:
        comparison = combine_universes(comparisons)
        floor = combine_universes(floors) if floors[0] is not None else None
    else:
        comparison, floor = comparisons[0], floors[0]
    counts = {label: {key: float(np.mean([c[label][key] for c in all_counts]))
                      for key in all_counts[0][label]} for label in all_counts[0]}
    result = {
        "n_hosts": n_hosts, "box": box, "seed": seed, "samples": samples,
        "universes": universes, "edges": settings.edges.tolist(), "counts": counts,
        "comparison": comparison.to_dict(), "floor": floor.to_dict() if floor else None,
        "ratios": {name: [value if not isinstance(value, float) or math.isfinite(value)
                          else None for value in values]
                   for name, values in comparison.ratios.to_dict(orient="list").items()},
        "occupation_by_mass": pooled_occupation(occupations),
        "flow": FLOW, "satellite_flow": SATELLITE_FLOW, "seconds": seconds,
    }
    return result, comparison


def tables(result: dict[str, Any]) -> str:
    mocks = dict(result["comparison"]["mocks"])
    if result.get("floor"):
        for populations in result["floor"]["mocks"].values():
            mocks["noise floor: learned realisation 1 / 0"] = populations
    names = [name for name in POPULATIONS if any(name in m for m in mocks.values())]
    header = ["model", *[f"{name}: max abs(ratio − 1) at rp" for name in names]]
    rows = []
    for label, populations in mocks.items():
        cells = []
        for name in names:
            entry = populations.get(name)
            if entry is None or entry["max_deviation"] is None:
                cells.append("–")
                continue
            cells.append(f"{100 * entry['max_deviation']:.1f}% at {entry['rp_at_max']:.2g} "
                         f"(± {100 * entry['error_at_max']:.1f}%)"
                         + (" ✓" if entry["within"] else ""))
        rows.append([label, *cells])
    counts = result["counts"]
    return (markdown_table(header, rows) + "\n\nPer realisation: "
            + "; ".join(f"{label} {c['galaxies']:,.0f} galaxies, {c['satellites']:,.0f} "
                        f"satellites (fraction {c['satellite_fraction']:.3f})"
                        for label, c in counts.items()) + ".")


def main() -> None:
    from galhalo.report.wp_ratio_figure import wp_ratio_figure

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_universe_options(parser, DEFAULT_OUT, "docs/satellites.md")
    parser.add_argument("--samples", type=int, default=2, help="mock realisations")
    parser.add_argument("--threads", type=int, default=2, help="Corrfunc threads")
    parser.add_argument("--universes", type=int, default=UNIVERSES,
                        help="held-out universes pooled (seeds seed+1 ...)")
    parser.add_argument("--models", type=Path, default=None,
                        help="directory to keep the trained composites in and reuse "
                             "(in its subdirectory named after the preset)")
    args = parser.parse_args()
    n_hosts, box = universe_size(args)
    result, comparison = measure(n_hosts, box, args.seed, args.samples, args.threads,
                                 args.universes, args.models, preset=args.preset)
    text = tables(result) + (
        "\n\nMean satellite count per host by host mass, pooled over the held-out "
        "universes: realised, the exact law's mean, and each model's occupation mean "
        "(over the exact one):\n\n" + occupation_table(result["occupation_by_mass"]))
    print(text)
    if not args.no_docs:
        FIGURE.parent.mkdir(parents=True, exist_ok=True)
        wp_ratio_figure(comparison, FIGURE)
        print(f"wrote {FIGURE}", file=sys.stderr)
    seconds = result["seconds"]
    universes = args.universes
    held_out = (f"the {n_hosts:,} hosts of another universe (seed {args.seed + 1})"
                if universes == 1 else
                f"the {n_hosts:,} hosts of each of {universes} other universes (seeds "
                f"{args.seed + 1}–{args.seed + universes}; pooled: mean wp, errors by the "
                "jackknife over universes, the ratio's of mock and truth jointly)")
    note = (f"{n_hosts:,} hosts in {box:.0f} Mpc/h to train (seed {args.seed}), {held_out} "
            f"painted, {args.samples} realisations each; wp at rp {RP_RANGE[0]:g}–"
            f"{RP_RANGE[1]:g} Mpc/h, pi_max {pi_max_for(box):g} Mpc/h, jackknife "
            f"{JACKKNIFE}^3; colour quartiles at the truth's g − i edges; flows {FLOW}, "
            f"satellite flows {result.get('satellite_flow', FLOW)}. Max "
            "abs(ratio − 1) over the bins, the rp (Mpc/h) where it is, and the ratio's error "
            f"there ({result['comparison']['band']}); ✓: within 5% in every bin. The noise "
            "floor compares two realisations of the learned mock on the same hosts: a "
            "perfect model's mean of 2 realisations would deviate from the truth about 0.87 "
            f"times as much. Total {sum(seconds.values()):.0f} s. Figure: "
            "[figures/satellite_wp.png](figures/satellite_wp.png).")
    options = (f" --samples {args.samples}" if args.samples != 2 else "") + (
        f" --universes {universes}" if universes != UNIVERSES else "")
    report(args, "satellite_mock", result, DOCUMENT, BLOCK, text + "\n\n" + note,
           extra_options=options)


if __name__ == "__main__":
    main()
