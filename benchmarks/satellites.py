"""Benchmark: the synthetic universe's one-halo term against its truth's occupation
(galhalo issue #18, a required figure).

The universe is simulated twice with the same seed, without and with satellites (the
central rows are identical). Both are measured with ``galhalo.clustering.wp``
(Corrfunc, natural estimator, analytic randoms, delete-one jackknife on 3^3 cubes,
pi_max 40 Mpc/h or the cube side if smaller, line of sight z) at rp 0.1-10 Mpc/h (5
log bins per decade: the one-halo range 0.1-1 and five larger bins). Then, per rp bin:

* **1h measured**: the same-host pairs present in the catalog with satellites
  (central-satellite and satellite-satellite, ``measured_one_halo_pairs``, |pi| < pi_max)
  as the wp they add to it (``one_halo_wp``);
* **1h predicted**: the same from the truth alone (``expected_one_halo_pairs``): per
  host E[N_sat] and E[N_sat (N_sat - 1)] = Var + mean^2 - mean of the satellite truth's
  negative binomial (``SatelliteModel.satellite_count_mean / _factorial2``), the
  satellites on the truncated NFW of c_sat = concentration_factor x c_host the universe
  draws them from (``SatelliteModel.satellite_profile``), Monte Carlo with
  ``--samples`` draws per host;
* **(meas - pred) / error**: error = sqrt(sum over hosts of (counted - expected)^2),
  the scatter of the pairs at fixed hosts (heavy-tailed: the richest hosts dominate);
* **2h change**: wp difference minus 1h measured: what the satellites do to the pairs
  of different hosts (the centrals' pairs diluted by the extra galaxies, plus the
  different-host pairs with a satellite).

Default: 1e5 hosts in 205 Mpc/h (TNG300-like), seed 42; ``--quick``: 2e4 hosts in a
box of the same density, 205 (n / 1e5)^(1/3) Mpc/h. Prints the table and the timing,
writes JSON (benchmarks/results/satellites.json) and the block ``one_halo`` of
docs/satellites.md.

Usage::

    .venv/bin/python benchmarks/satellites.py            # 1e5 hosts
    .venv/bin/python benchmarks/satellites.py --quick    # 2e4 hosts
    .venv/bin/python benchmarks/satellites.py --preset tng_hard   # galhalo's default universe
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _docs import DOCS, markdown_table
from _universe import add_universe_options, report, universe_size

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "satellites.json"
DOCUMENT = DOCS / "satellites.md"
BLOCK = "one_halo"
#: Default wp depth, Mpc/h.
PI_MAX = 40.0
#: rp range of the one-halo term, Mpc/h.
ONE_HALO_RANGE = (0.1, 1.0)


def measure(n_hosts: int, box: float, seed: int, pi_max: float, samples: int,
            jackknife: int, nthreads: int, *, preset: str) -> dict[str, Any]:
    """Everything of the module docstring on the universe of galaxy truth ``preset``,
    JSON-able (per-bin lists)."""
    import galhalo
    from galhalo.clustering import (
        expected_one_halo_pairs,
        log_edges,
        measured_one_halo_pairs,
        one_halo_wp,
        pair_residuals,
        wp,
    )
    from galhalo.sim.truth import TruthModel

    edges = log_edges(0.1, 10.0, 5)
    seconds: dict[str, float] = {}

    def timed(name: str, function, *args, **kwargs):
        print(f"{name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        value = function(*args, **kwargs)
        seconds[name] = time.perf_counter() - start
        return value

    off = timed("simulate centrals only", galhalo.simulate, n_hosts, box, seed,
                preset=preset)
    on = timed("simulate with satellites", galhalo.simulate, n_hosts, box, seed,
               satellites=True, preset=preset)
    table = on.table
    central = table["is_central"].to_numpy()
    on_xyz, off_xyz = table[["x", "y", "z"]].to_numpy(), off.table[["x", "y", "z"]].to_numpy()
    if not np.array_equal(on_xyz[central], off_xyz):
        raise RuntimeError("the central rows differ with and without satellites")
    common = {"pi_max": pi_max, "jackknife": jackknife, "nthreads": nthreads}
    wp_off = timed("wp centrals only", wp, off_xyz, box, edges, **common)
    wp_on = timed("wp with satellites", wp, on_xyz, box, edges, **common)
    difference = wp_on.combine(wp_off, np.subtract, "wp difference")

    counted = timed("same-host pairs counted", measured_one_halo_pairs, on_xyz,
                    table["host_id"].to_numpy(), central, box, edges, pi_max=pi_max)
    centrals = table[central]
    model = TruthModel.from_dict(on.meta.truth).satellite_model
    radius, concentration = model.satellite_profile(centrals)
    expected = timed("same-host pairs predicted", expected_one_halo_pairs,
                     model.satellite_count_mean(centrals),
                     model.satellite_count_factorial2(centrals), radius, concentration,
                     edges, samples=samples, seed=seed)
    residual, residual_error = pair_residuals(counted, expected)
    n, volume = len(table), box**3

    def as_wp(pairs: np.ndarray) -> list[float]:
        return one_halo_wp(pairs, n, volume, edges).tolist()

    inside = (edges[:-1] >= ONE_HALO_RANGE[0] - 1e-9) & (edges[1:] <= ONE_HALO_RANGE[1] + 1e-9)
    error = np.hypot(residual_error, expected.error)
    pull = np.divide(residual, error, out=np.full_like(residual, np.nan), where=error > 0)
    totals = {"rp": ONE_HALO_RANGE}
    for kind in ("all", "central_satellite", "satellite_satellite"):
        # the same draws with one kind only give that kind's Monte-Carlo error
        alone = expected if kind == "all" else expected_one_halo_pairs(
            *((model.satellite_count_mean(centrals), 0.0 * radius) if kind ==
              "central_satellite" else (0.0 * radius, model.satellite_count_factorial2(
                  centrals))), radius, concentration, edges, samples=samples, seed=seed)
        host_residual = (counted.part(kind) - expected.part(kind))[:, inside].sum(axis=1)
        totals[kind] = {
            "measured": float(counted.part(kind)[:, inside].sum()),
            "predicted": float(expected.part(kind)[:, inside].sum()),
            "error": float(np.hypot(np.sqrt((host_residual**2).sum()),
                                    np.sqrt((alone.error[inside] ** 2).sum())))}
    return {
        "n_hosts": n_hosts, "box": box, "seed": seed, "pi_max": pi_max,
        "jackknife": jackknife, "samples": samples, "galaxies": n,
        "satellites": int((~central).sum()), "edges": edges.tolist(),
        "wp_off": wp_off.value.tolist(), "wp_off_error": wp_off.error.tolist(),
        "wp_on": wp_on.value.tolist(), "wp_on_error": wp_on.error.tolist(),
        "difference": difference.value.tolist(), "difference_error": difference.error.tolist(),
        "pairs_measured": counted.pairs.tolist(),
        "pairs_measured_central_satellite": counted.central_satellite.tolist(),
        "pairs_measured_satellite_satellite": counted.satellite_satellite.tolist(),
        "pairs_predicted": expected.pairs.tolist(),
        "pairs_predicted_central_satellite": expected.central_satellite.tolist(),
        "pairs_predicted_satellite_satellite": expected.satellite_satellite.tolist(),
        "pairs_predicted_mc_error": expected.error.tolist(),
        "pairs_residual_error": residual_error.tolist(),
        "one_halo_measured": as_wp(counted.pairs),
        "one_halo_predicted": as_wp(expected.pairs),
        "one_halo_error": as_wp(error),
        "pull": [float(x) if np.isfinite(x) else None for x in pull],
        "one_halo_range": totals,
        "seconds": seconds,
    }


def _number(value: float, error: float | None = None) -> str:
    digits = 1 if abs(value) >= 10 else 2
    text = f"{value:.{digits}f}"
    return text if error is None else f"{text} ± {error:.{digits}f}"


def table_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["rp (Mpc/h)", "wp centrals only", "wp with satellites", "difference",
              "1h predicted", "1h measured", "(meas − pred) / error", "2h change"]
    edges = result["edges"]
    rows = []
    for i in range(len(edges) - 1):
        rows.append([
            f"{edges[i]:.3g}–{edges[i + 1]:.3g}",
            _number(result["wp_off"][i], result["wp_off_error"][i]),
            _number(result["wp_on"][i], result["wp_on_error"][i]),
            _number(result["difference"][i], result["difference_error"][i]),
            _number(result["one_halo_predicted"][i], result["one_halo_error"][i]),
            _number(result["one_halo_measured"][i]),
            "–" if result["pull"][i] is None else f"{result['pull'][i]:+.2f}",
            _number(result["difference"][i] - result["one_halo_measured"][i])])
    return header, rows


def summary(result: dict[str, Any]) -> str:
    totals = result["one_halo_range"]
    names = {"all": "all", "central_satellite": "central-satellite",
             "satellite_satellite": "satellite-satellite"}
    parts = []
    for kind, name in names.items():
        total = totals[kind]
        pull = (total["measured"] - total["predicted"]) / total["error"]
        parts.append(f"{name} {total['measured']:,.0f} counted, {total['predicted']:,.0f} "
                     f"± {total['error']:,.0f} predicted ({pull:+.2f} sigma)")
    timing = ", ".join(f"{name} {value:.1f} s" for name, value in result["seconds"].items())
    return (f"{result['n_hosts']:,} hosts, {result['satellites']:,} satellites, box "
            f"{result['box']:.0f} Mpc/h, seed {result['seed']}; wp with pi_max "
            f"{result['pi_max']:.0f} Mpc/h, {result['jackknife']}^3 jackknife cubes; "
            f"prediction with {result['samples']} Monte-Carlo draws per host. Same-host "
            f"pairs at rp {totals['rp'][0]}–{totals['rp'][1]} Mpc/h: " + "; ".join(parts)
            + f". Timing: {timing}.")


NOTE = (
    "wp in Mpc/h ± its delete-one jackknife error; *1h predicted*: the wp of the "
    "same-host pairs the truth's count law (E[N_sat], E[N_sat (N_sat − 1)]) and NFW "
    "profile predict for these hosts, ± the error of measured − predicted (host-to-host "
    "scatter at fixed hosts plus Monte Carlo); *1h measured*: the wp of the same-host "
    "pairs in the catalog; *2h change*: difference − 1h measured (the centrals' pairs "
    "diluted by the satellites, plus different-host pairs with a satellite). "
    "`benchmarks/satellites.py` documents every column.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_universe_options(parser, DEFAULT_OUT, "docs/satellites.md")
    parser.add_argument("--pi-max", type=float, default=None,
                        help="wp depth, whole Mpc/h (default 40, or the jackknife cube "
                             "side if smaller: 39 for --quick)")
    parser.add_argument("--samples", type=int, default=256,
                        help="Monte-Carlo draws per host of the prediction")
    parser.add_argument("--jackknife", type=int, default=3, help="jackknife cubes per side")
    parser.add_argument("--nthreads", type=int, default=2)
    args = parser.parse_args(argv)
    n_hosts, box = universe_size(args)
    pi_max = args.pi_max if args.pi_max is not None else min(PI_MAX, float(
        np.floor(box / args.jackknife)))
    result = measure(n_hosts, box, args.seed, pi_max, args.samples, args.jackknife,
                     args.nthreads, preset=args.preset)
    header, rows = table_rows(result)
    print(markdown_table(header, rows))
    print(summary(result))
    report(args, "satellites", result, DOCUMENT, BLOCK,
           markdown_table(header, rows) + "\n" + summary(result) + "\n\n" + NOTE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
