"""Where a flow misses above M_h = 10^13 on ``tng_hard``: the gap by sSFR population and
the star-forming share of massive centrals, the model's draws against the exact truth.

``benchmarks/flow_gap.py`` shows that every flow shape misses issue #20's 0.06
nats/galaxy above 10^13. This script fits the same variants (:data:`flow_gap.VARIANTS`)
on the same universe and split (104,716 centrals, seed 42, 80% fitted), scores the
held-out 20% and every central of an independent universe (``--test-halos``, seed 43),
and for the halos above 10^13 reports

(a) the gap split by the sSFR population of the galaxy (active sSFR > −10.5, green
    valley, quenched sequence −12.5 ≤ sSFR < −11, low −14 ≤ sSFR < −12.5, near the
    floor sSFR < −14): each population's share of the rows, its mean excess over the
    truth and its contribution to the region's gap (the contributions add up to it);
(b) per halo-mass bin from 12 up, the share of centrals that are still star forming
    (sSFR > −10.5): the truth's exact expectation (mean of 1 − CDF(−10.5 | halo) over
    the scored halos, no sampling noise) against ``--draws`` draws of the model per halo
    (binomial standard error).

Writes ``benchmarks/results/massive_halos.json`` and the block
``<!-- benchmark:massive_halos -->`` of docs/truth_model.md (``--no-docs``: leave it;
``--from-json FILE``: measure nothing, rewrite the block from a saved result).

    python benchmarks/massive_halos.py --threads 2                   # one fit, ~10 min on 2 cores
    python benchmarks/massive_halos.py --fit-seeds 0,1,2 --threads 2  # three fits of the default
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
import pandas as pd
from _docs import add_docs_options, markdown_table, publish, rewrote_saved
from flow_gap import PRESET, VARIANTS, gap_table, ordered, universes, variant_names
from hard_universe import DOC, ROOT, fit_held_out, gap_by_region, mass_bin_label
from simulate import machine_info

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "massive_halos.json"
#: The massive halos of issue #20's worst row: log10 M_h >= this.
MASSIVE = 13.0
#: A central is star forming (active) above this sSFR [log10(1/yr)].
ACTIVE_SSFR = -10.5
ACTIVE_LABEL = "sSFR > −10.5"
#: sSFR populations inside the massive halos: (label, low, high), low <= sSFR < high.
POPULATIONS = ((f"active {ACTIVE_LABEL}", ACTIVE_SSFR, np.inf),
               ("green valley −11 ≤ sSFR ≤ −10.5", -11.0, -10.5),
               ("quenched −12.5 ≤ sSFR < −11", -12.5, -11.0),
               ("low −14 ≤ sSFR < −12.5", -14.0, -12.5),
               ("near the floor sSFR < −14", -np.inf, -14.0))
#: Halo-mass bins of the star-forming share: [low, high) in log10(Msun/h).
SHARE_BINS = ((12.0, 12.5), (12.5, 13.0), (13.0, 13.5), (13.5, 16.0))


def population_masks(ssfr: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of :data:`POPULATIONS` (the green valley includes both ends, the
    active population excludes −10.5): every value falls in exactly one."""
    masks = {}
    for label, low, high in POPULATIONS:
        if label.startswith("green valley"):
            masks[label] = (ssfr >= low) & (ssfr <= high)
        elif label.startswith("active"):
            masks[label] = ssfr > low
        else:
            masks[label] = (ssfr >= low) & (ssfr < high)
    return masks


def gap_by_population(excess: np.ndarray, ssfr: np.ndarray) -> dict[str, dict[str, float]]:
    """Per population of the rows given (their excess over the truth and sSFR): share
    of the rows, mean excess ± standard error (None for too few rows), and contribution
    (excess summed over the population / all rows), so the contributions add up to the
    mean excess."""
    out = {}
    for label, mask in population_masks(ssfr).items():
        values = excess[mask]
        out[label] = {"rows": int(mask.sum()), "share": float(mask.mean()),
                      "gap": float(values.mean()) if len(values) else None,
                      "error": float(values.std(ddof=1) / np.sqrt(len(values)))
                      if len(values) > 1 else None,
                      "contribution": float(values.sum() / len(excess))}
    return out


def active_shares(model, truth, table: pd.DataFrame, draws: int,
                  seed: int) -> dict[str, dict[str, float]]:
    """Per :data:`SHARE_BINS` bin: the truth's expected share of star-forming centrals
    among the halos of ``table`` and the share in ``draws`` draws of ``model`` per halo,
    with its binomial standard error."""
    target = list(model.target).index("sSFR")
    out = {}
    for low, high in SHARE_BINS:
        halos = table[(table["M_h"] >= low) & (table["M_h"] < high)].reset_index(drop=True)
        expected = float(np.mean(1.0 - truth.cdf(halos, np.full(len(halos), ACTIVE_SSFR),
                                                 "sSFR")))
        drawn = np.asarray(model.sample(halos, n_per_row=draws, seed=seed))[..., target]
        share = float(np.mean(drawn > ACTIVE_SSFR))
        out[mass_bin_label(low, high)] = {
            "halos": len(halos), "truth": expected, "model": share,
            "error": float(np.sqrt(share * (1 - share) / drawn.size))}
    return out


def fit_name(name: str, fit_seed: int) -> str:
    """The row name of a variant fitted with ``fit_seed``: the variant's name for seed
    0 (the seed of every other benchmark), else ``name, seed N``."""
    return name if fit_seed == 0 else f"{name}, seed {fit_seed}"


def measure(names: list[str], n_halos: int, seed: int, threads: int, test_halos: int,
            draws: int, fit_seeds: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Simulate both universes once, fit each named variant with each fit seed and
    summarise every fit."""
    from galhalo.sim.truth import TruthModel

    catalog, extra = universes(n_halos, seed, test_halos)
    truth = TruthModel.from_dict(catalog.meta.truth)
    variants = {}
    for name in names:
        family, hyperparameters, _ = VARIANTS[name]
        for fit_seed in fit_seeds:
            load_before = os.getloadavg()[0]
            fit = fit_held_out(catalog, seed, threads, family, hyperparameters, extra,
                               fit_seed)
            massive = fit.table["M_h"].to_numpy() >= MASSIVE
            row = fit_name(name, fit_seed)
            variants[row] = {
                "variant": name, "fit_seed": fit_seed, "family": family,
                "hyperparameters": hyperparameters, "fit_seconds": fit.fit_seconds,
                "epochs": fit.model.metrics["epochs"],
                "regions": gap_by_region(fit.excess, fit.table),
                "massive_rows": int(massive.sum()),
                "massive_gap": float(fit.excess[massive].mean()),
                "populations": gap_by_population(fit.excess[massive],
                                                 fit.table["sSFR"].to_numpy()[massive]),
                "active_share": active_shares(fit.model, truth, fit.table, draws, seed),
                "threads": threads, "load_average": [load_before, os.getloadavg()[0]],
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
            print(f"{row}: gap {variants[row]['regions']['overall']['gap']:.4f}, above "
                  f"10^{MASSIVE:g} {variants[row]['massive_gap']:.4f}", flush=True)
    return {"preset": PRESET, "n_halos": n_halos, "seed": seed, "test_halos": test_halos,
            "draws": draws, "fit_seeds": list(fit_seeds), "train_rows": fit.train_rows,
            "test_rows": len(fit.table), "variants": variants, "machine": machine_info()}


def docs_block(result: dict[str, Any]) -> str:
    """The markdown of the docs block: the gap per region of every fit; the gap above
    10^13 split by sSFR population; the star-forming share per halo-mass bin against
    the truth; then what each variant is."""
    fits = result["variants"]
    # in the orders of VARIANTS, POPULATIONS and SHARE_BINS: a saved JSON's keys are sorted
    names = ordered(fits)
    first = fits[names[0]]
    text = [f"`{PRESET}` ({result['n_halos']:,} centrals, seed {result['seed']}; fit on "
            f"{result['train_rows']:,} rows, scored on {result['test_rows']:,}: the "
            f"held-out 20% and every central of an independent universe of "
            f"{result['test_halos']:,} halos, seed {result['seed'] + 1}). Held-out NLL − "
            "exact truth [nats/galaxy] ± standard error, overall, per halo-mass bin and per "
            "sSFR population, as in the blocks above (`, seed N`: the same variant fitted "
            "with another seed, which draws its validation split, initial weights and "
            "batches):", "", gap_table(fits), "",
            f"Above 10^{MASSIVE:g}: each sSFR population's contribution to the gap (its "
            "summed excess over all the region's rows; the contributions add up to the "
            "gap) and, in brackets, its own mean excess:", ""]
    labels = [label for label, _, _ in POPULATIONS]
    rows = [["rows", *(f"{first['populations'][label]['rows']:,}" for label in labels),
             f"{first['massive_rows']:,}"]]
    for name in names:
        v = fits[name]
        rows.append([f"`{name}`", *(
            f"{p['contribution']:+.3f}" + ("" if p["gap"] is None else f" ({p['gap']:.2f})")
            for p in (v["populations"][label] for label in labels)),
            f"{v['massive_gap']:.3f}"])
    text += [markdown_table(["fit", *labels, "gap"], rows), "",
             f"Share of centrals still star forming ({ACTIVE_LABEL}) per halo-mass bin: the "
             "truth's exact expectation (mean over the scored halos of its conditional "
             f"probability), and {result['draws']} draws of each model per halo (± "
             "binomial standard error):", ""]
    bins = [mass_bin_label(low, high) for low, high in SHARE_BINS]
    rows = [["halos", *(f"{first['active_share'][b]['halos']:,}" for b in bins)],
            ["truth", *(f"{first['active_share'][b]['truth']:.4f}" for b in bins)]]
    for name in names:
        rows.append([f"`{name}`", *(f"{s['model']:.4f} ± {s['error']:.4f}"
                                    for s in (fits[name]["active_share"][b] for b in bins))])
    text += [markdown_table(["log10 M_h", *bins], rows), ""]
    variants = dict.fromkeys(fits[name]["variant"] for name in names)
    what = "; ".join(f"`{n}`: {VARIANTS[n][2] if n in VARIANTS else n}" for n in variants)
    loads = [value for v in fits.values() for value in v["load_average"]]
    threads = sorted({v["threads"] for v in fits.values()})
    text += [f"Variants: {what}. Each fitted alone with {'/'.join(map(str, threads))} torch "
             f"thread(s) on 2 cores (load average {min(loads):.1f}–{max(loads):.1f}), "
             f"{', '.join(sorted({v['date'][:10] for v in fits.values()}))}."]
    return "\n".join(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="default",
                        help=f"comma-separated variants, of: {', '.join(VARIANTS)}")
    parser.add_argument("--n-halos", type=int, default=104_716)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--test-halos", type=int, default=418_864,
                        help="also score every central of an independent universe of this "
                             "many halos (seed + 1)")
    parser.add_argument("--draws", type=int, default=4, help="model draws per halo")
    parser.add_argument("--fit-seeds", default="0",
                        help="comma-separated fit seeds: each variant is fitted with each "
                             "(another seed draws another validation split, initial "
                             "weights and batch order)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    add_docs_options(parser)
    args = parser.parse_args()
    if rewrote_saved(args, DOC, "massive_halos", docs_block):
        return
    names = variant_names(parser, args.variants)
    if args.test_halos < 0 or args.draws < 1:
        parser.error("--test-halos must be >= 0 and --draws >= 1")
    try:
        fit_seeds = tuple(dict.fromkeys(int(v) for v in args.fit_seeds.split(",")))
    except ValueError:
        parser.error(f"--fit-seeds must be comma-separated integers, got {args.fit_seeds!r}")
    start = time.perf_counter()
    result = measure(names, args.n_halos, args.seed, args.threads, args.test_halos,
                     args.draws, fit_seeds)
    result["seconds"] = time.perf_counter() - start
    command = (f"python benchmarks/massive_halos.py --variants {','.join(names)} "
               f"--fit-seeds {','.join(map(str, fit_seeds))} --threads {args.threads} "
               f"--test-halos {args.test_halos} --draws {args.draws}")
    result["command"] = command
    publish(args, result, DOC, "massive_halos", docs_block, command)
    print(json.dumps({n: round(v["massive_gap"], 4) for n, v in result["variants"].items()}))


if __name__ == "__main__":
    main()
