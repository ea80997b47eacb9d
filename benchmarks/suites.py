"""Benchmark: training-suite universes (PM + FoF + galaxies): time, memory, mass function.

Three measurements, each in fresh Python subprocesses (peak memory is then their own):

1. **one universe** (``simulate_universe``, no Dask) for each particle number: wall and
   CPU seconds, split into the PM run and the FoF finder, and peak RSS;
2. **a suite** (``make_suite`` on a Dask LocalCluster) of a few universes with 1 and 2
   workers: wall seconds per universe (includes the cluster start) and the peak RSS of
   the largest worker;
3. **the halo mass function** of PM + FoF boxes (Omega_m 0.3, sigma_8 0.8, the suite
   default 64^3 particles in 25 Mpc/h) against colossus's FoF mass functions (Watson et
   al. 2013, the reference; Sheth & Tormen 1999 for comparison): counts per 0.25 dex bin
   summed over several boxes, the ratio to the prediction and its Poisson error.

Usage::

    .venv/bin/python benchmarks/suites.py            # 64^3 and 128^3, 4 boxes for the HMF
    .venv/bin/python benchmarks/suites.py --quick    # 32^3 and 64^3, 1 box
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from child import run_child_json
from simulate import machine_info

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "suites.json"
PARAMS = {"Omega_m": 0.3, "sigma_8": 0.8, "smhm_norm": -1.65, "smhm_slope": 1.5,
          "smhm_scatter": 0.2, "selection_factor": 1.5}
#: log10 M bin edges (Msun/h) of the mass-function comparison.
EDGES = np.arange(11.0, 14.51, 0.25)


# --------------------------------------------------------------------------- children


def child_universe(particles: int) -> dict[str, Any]:
    """One universe: simulate_universe timed as a whole and its PM / FoF parts."""
    import resource

    from galhalo.sim.cosmology import Cosmology
    from galhalo.sim.friends_of_friends import friends_of_friends
    from galhalo.sim.particle_mesh import run_particle_mesh
    from galhalo.sim.suites import SuiteSettings, simulate_universe

    settings = SuiteSettings(particles=particles)
    cosmology = Cosmology(name="bench", Om0=0.3, Ob0=settings.omega_b,
                          H0=100 * settings.hubble, sigma8=0.8, ns=settings.n_s)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    catalog = simulate_universe(PARAMS, settings, seed=1)
    total = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    state = run_particle_mesh(cosmology, settings.box_size, particles, settings.mesh_size,
                              settings.steps, settings.z_start, 1)
    pm_seconds = time.perf_counter() - start
    start = time.perf_counter()
    halos = friends_of_friends(state.positions, settings.box_size,
                               velocities=state.velocities, particle_mass=state.particle_mass)
    fof_seconds = time.perf_counter() - start
    return {
        "particles": particles, "mesh": settings.mesh_size, "steps": settings.steps,
        "seconds": total,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "pm_seconds": pm_seconds, "fof_seconds": fof_seconds,
        "halos": len(halos), "galaxies": len(catalog.table),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_suite(particles: int, workers: int, universes: int) -> dict[str, Any]:
    """A suite on a LocalCluster: wall seconds per universe, largest worker's peak RSS."""
    import resource

    from galhalo.sim.suites import SuiteSettings, make_suite

    with tempfile.TemporaryDirectory(prefix="galhalo-suite-bench-") as tmp:
        start = time.perf_counter()
        make_suite(Path(tmp) / "suite", universes, SuiteSettings(particles=particles),
                   seed=3, scheduler="local", workers=workers, progress=False)
        seconds = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"particles": particles, "workers": workers, "universes": universes,
            "seconds": seconds, "seconds_per_universe": seconds / universes,
            "peak_worker_rss_mib": children,
            "peak_driver_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_halos(particles: int, seed: int) -> dict[str, Any]:
    """FoF halo sizes of one PM box (Omega_m 0.3, sigma_8 0.8, suite defaults)."""
    from galhalo.sim.cosmology import Cosmology
    from galhalo.sim.friends_of_friends import friends_of_friends
    from galhalo.sim.particle_mesh import run_particle_mesh
    from galhalo.sim.suites import SuiteSettings

    settings = SuiteSettings(particles=particles)
    cosmology = Cosmology(name="bench", Om0=0.3, Ob0=settings.omega_b,
                          H0=100 * settings.hubble, sigma8=0.8, ns=settings.n_s)
    state = run_particle_mesh(cosmology, settings.box_size, particles, settings.mesh_size,
                              settings.steps, settings.z_start, seed)
    halos = friends_of_friends(state.positions, settings.box_size,
                               particle_mass=state.particle_mass)
    return {"seed": seed, "particle_mass": state.particle_mass,
            "n_particles": halos.n_particles.tolist()}


# --------------------------------------------------------------------------- parent


def _run(*arguments: str, timeout: float | None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), *arguments]
    return run_child_json(command, timeout)


def predicted_counts(volume: float, model: str) -> np.ndarray:
    """colossus FoF halos per EDGES bin in ``volume`` (Mpc/h)^3 (Omega_m 0.3, s8 0.8)."""
    from colossus.lss import mass_function

    from galhalo.sim.cosmology import Cosmology
    from galhalo.sim.suites import SuiteSettings

    settings = SuiteSettings()
    Cosmology(name="bench", Om0=0.3, Ob0=settings.omega_b, H0=100 * settings.hubble,
              sigma8=0.8, ns=settings.n_s).colossus()
    counts = []
    for low, high in itertools.pairwise(EDGES):
        grid = np.linspace(low, high, 41)
        dndlnm = mass_function.massFunction(10**grid, 0.0, mdef="fof", model=model,
                                            q_out="dndlnM")
        counts.append(np.trapezoid(dndlnm, grid * np.log(10.0)) * volume)
    return np.array(counts)


def mass_function_table(boxes: list[dict[str, Any]], box_size: float) -> list[dict[str, Any]]:
    """Per mass bin: counts over all boxes, predictions, ratio and Poisson error."""
    masses = np.concatenate([np.log10(np.array(b["n_particles"]) * b["particle_mass"])
                             for b in boxes])
    observed, _ = np.histogram(masses, EDGES)
    volume = len(boxes) * box_size**3
    watson = predicted_counts(volume, "watson13")
    sheth = predicted_counts(volume, "sheth99")
    particle_mass = boxes[0]["particle_mass"]
    rows = []
    for i, count in enumerate(observed):
        rows.append({
            "log_mass_low": float(EDGES[i]), "log_mass_high": float(EDGES[i + 1]),
            "particles_low": float(10 ** EDGES[i] / particle_mass),
            "observed": int(count), "watson13": float(watson[i]), "sheth99": float(sheth[i]),
            "ratio_watson13": float(count / watson[i]),
            "ratio_error": float(np.sqrt(max(count, 1)) / watson[i]),
            "ratio_sheth99": float(count / sheth[i]),
        })
    return rows


def print_tables(universes: list[dict], suites: list[dict], hmf: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    table = Table(title="one universe (simulate_universe, 1 process)")
    for header in ("particles", "mesh", "steps", "s", "CPU s", "PM s", "FoF s", "halos",
                   "galaxies", "peak RSS MiB", "load"):
        table.add_column(header, justify="right")
    for row in universes:
        if "error" in row:
            table.add_row(str(row.get("particles")), "failed: " + row["error"][-60:])
            continue
        table.add_row(*(str(row[key]) for key in ("particles", "mesh", "steps")),
                      *(f"{row[key]:.1f}" for key in ("seconds", "cpu_seconds", "pm_seconds",
                                                      "fof_seconds")),
                      str(row["halos"]), str(row["galaxies"]), f"{row['peak_rss_mib']:.0f}",
                      f"{row['load_before']:.1f}/{row['load_after']:.1f}")
    console.print(table)
    table = Table(title="suite on a Dask LocalCluster (cluster start included)")
    for header in ("particles", "workers", "universes", "s total", "s / universe",
                   "peak worker RSS MiB", "load"):
        table.add_column(header, justify="right")
    for row in suites:
        if "error" in row:
            table.add_row(str(row.get("particles")), "failed: " + row["error"][-60:])
            continue
        table.add_row(str(row["particles"]), str(row["workers"]), str(row["universes"]),
                      f"{row['seconds']:.1f}", f"{row['seconds_per_universe']:.1f}",
                      f"{row['peak_worker_rss_mib']:.0f}",
                      f"{row['load_before']:.1f}/{row['load_after']:.1f}")
    console.print(table)
    table = Table(title="FoF mass function vs colossus (Omega_m 0.3, sigma_8 0.8, z = 0)")
    for header in ("log10 M", "particles", "observed", "Watson13", "ratio", "+-",
                   "Sheth-Tormen", "ratio"):
        table.add_column(header, justify="right")
    for row in hmf:
        table.add_row(f"{row['log_mass_low']:.2f}-{row['log_mass_high']:.2f}",
                      f"{row['particles_low']:.0f}", str(row["observed"]),
                      f"{row['watson13']:.1f}", f"{row['ratio_watson13']:.2f}",
                      f"{row['ratio_error']:.2f}", f"{row['sheth99']:.1f}",
                      f"{row['ratio_sheth99']:.2f}")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="32^3 and 64^3 particles (not 64^3 and 128^3), 1 HMF box")
    parser.add_argument("--boxes", type=int, default=None,
                        help="PM boxes for the mass function (default 4, quick 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *numbers = args.child
        values = [int(value) for value in numbers]
        result = {"universe": child_universe, "suite": child_suite,
                  "halos": child_halos}[kind](*values)
        print(json.dumps(result))
        return 0

    from galhalo.files import write_json

    sizes = (32, 64) if args.quick else (64, 128)
    universes_per_suite = 2
    boxes = args.boxes or (1 if args.quick else 4)
    universes, suites, halo_boxes = [], [], []
    for particles in sizes:
        print(f"one universe, {particles}^3 ...", file=sys.stderr, flush=True)
        universes.append({"particles": particles,
                          **_run("--child", "universe", str(particles),
                                 timeout=args.timeout)})
        for workers in (1, 2):
            print(f"suite of {universes_per_suite}, {particles}^3, {workers} worker(s) ...",
                  file=sys.stderr, flush=True)
            suites.append({"particles": particles, "workers": workers,
                           **_run("--child", "suite", str(particles), str(workers),
                                  str(universes_per_suite), timeout=args.timeout)})
    for seed in range(boxes):
        print(f"mass-function box {seed + 1}/{boxes} ...", file=sys.stderr, flush=True)
        halo_boxes.append(_run("--child", "halos", "64", str(100 + seed),
                               timeout=args.timeout))
    good = [box for box in halo_boxes if "error" not in box]
    hmf = mass_function_table(good, 25.0) if good else []
    print_tables(universes, suites, hmf)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {
        "benchmark": "suites", "machine": machine_info(),
        "options": {"quick": args.quick, "sizes": list(sizes),
                    "universes_per_suite": universes_per_suite, "hmf_boxes": boxes,
                    "hmf_particles": 64, "box": 25.0},
        "universe": universes, "suite": suites,
        "mass_function": {"boxes": len(good), "bins": hmf,
                          "errors": [box["error"] for box in halo_boxes if "error" in box]},
    })
    print(f"wrote {args.out}", file=sys.stderr)
    failed = any("error" in row for row in (*universes, *suites, *halo_boxes))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
