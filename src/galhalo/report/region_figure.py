"""The scores by region of one or more evaluations: where in halo mass and sSFR each
model loses its likelihood (:mod:`galhalo.evaluate.regions`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..errors import ReportError
from .console import REGION_QUANTITIES

__all__ = ["region_figure"]

#: Panels of the figure: (region kind, x-axis label).
PANELS = (("halo mass", "halo-mass bin, log10 M_h [Msun/h]"), ("population", "sSFR population"))


def region_figure(results: Mapping[str, Mapping[str, Any]]) -> Figure:
    """The mean NLL gap to the truth (or the NLL, without a truth) per halo-mass bin and
    per sSFR population, one marker per model with its error bar (standard error of the
    mean over rows); the dotted line is the whole sample's value of each model. The
    title gives each model's share of the gap carried by the worst 1% of rows.

    Args:
        results: {model label: :func:`~galhalo.evaluate.run.evaluate_model` result};
            those without ``"regions"`` are left out.

    Raises:
        ReportError: no result holds scores by region.
    """
    found = {label: r["regions"] for label, r in results.items()
             if isinstance(r, Mapping) and r.get("regions")}
    if not found:
        raise ReportError("no result holds scores by region (evaluate with the nll metric)")
    quantities = {regions["quantity"] for regions in found.values()}
    ylabel = " / ".join(REGION_QUANTITIES.get(q, q) for q in sorted(quantities))
    figure = Figure(figsize=(10.0, 3.8), layout="constrained")
    axes = figure.subplots(1, len(PANELS), squeeze=False)[0]
    width = 0.7 / len(found)
    for ax, (kind, xlabel) in zip(axes, PANELS, strict=True):
        names = list(dict.fromkeys(record["region"] for regions in found.values()
                                   for record in regions["table"] if record["kind"] == kind))
        positions = np.arange(len(names))
        for k, (label, regions) in enumerate(found.items()):
            records = {r["region"]: r for r in regions["table"] if r["kind"] == kind}
            where = [i for i, name in enumerate(names) if name in records
                     and records[name]["value"] is not None]
            values = [records[names[i]]["value"] for i in where]
            errors = [records[names[i]]["error"] or 0.0 for i in where]
            offset = (k - (len(found) - 1) / 2) * width
            ax.errorbar(positions[where] + offset, values, yerr=errors, fmt="o", ms=4,
                        capsize=3, color=f"C{k}", label=label)
            whole = next((r["value"] for r in regions["table"] if r["kind"] == "all"), None)
            if whole is not None:
                ax.axhline(whole, color=f"C{k}", ls=":", lw=1)
        if "nll_vs_truth" in quantities:
            ax.axhline(0.0, color="0.3", lw=0.8)
        labels = [name.removeprefix("M_h ").replace("_", " ") for name in names]
        ax.set_xticks(positions, labels, rotation=20, fontsize="small")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if not names:
            ax.text(0.5, 0.5, "not available", ha="center", va="center",
                    transform=ax.transAxes)
    axes[0].legend(fontsize="small")
    shares = [f"{label} {100 * worst['share']:.0f}%" for label, regions in found.items()
              for worst in regions["table"]
              if worst["kind"] == "worst rows" and worst["share"] is not None]
    title = "scores by region (dotted: whole sample)"
    if shares:
        title += "; share of the gap in the worst 1% of rows: " + ", ".join(shares)
    figure.suptitle(title, fontsize="medium")
    return figure
