"""Permutation feature importance from evaluate_model results, bars per model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ...errors import ReportError


def importance_figure(results: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Permutation feature importance: drop in held-out log-likelihood (nats per object)
    and in PCC per target when each condition column is shuffled; bars per model, error
    bars = standard error over the permutation rounds.

    Raises:
        ReportError: no result carries an importance.
    """
    if not isinstance(results, Mapping) or not results:
        raise ReportError("importance_figure needs {model label: evaluate_model result}")
    found = {label: r["importance"] for label, r in results.items()
             if isinstance(r, Mapping) and r.get("importance")}
    if not found:
        raise ReportError("no result holds a feature importance (evaluate with "
                          "importance=True)")
    panels: list[tuple[str, dict[str, dict[str, Any]]]] = []
    if any("log_likelihood" in imp for imp in found.values()):
        panels.append(("log-likelihood drop [nats]",
                       {label: imp.get("log_likelihood", {}) for label, imp in found.items()}))
    targets = list(dict.fromkeys(t for imp in found.values() for t in imp.get("pcc", {})))
    for target in targets:
        panels.append((f"PCC drop: {target}", {label: imp.get("pcc", {}).get(target, {})
                                               for label, imp in found.items()}))
    figure = Figure(figsize=(3.3 * len(panels) + 0.4, 3.4), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    width = 0.8 / len(found)
    for ax, (name, by_model) in zip(axes, panels, strict=True):
        features = list(dict.fromkeys(c for values in by_model.values() for c in values))
        positions = np.arange(len(features))
        for k, (label, values) in enumerate(by_model.items()):
            where = [i for i, c in enumerate(features) if c in values]
            heights = [values[features[i]].get("value") or 0.0 for i in where]
            errors = [values[features[i]].get("error") or 0.0 for i in where]
            ax.bar(positions[where] + (k - (len(found) - 1) / 2) * width, heights, width,
                   yerr=errors, capsize=2, color=f"C{k}", label=label)
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xticks(positions, features, rotation=30, fontsize="small")
        ax.set_title(name, fontsize="small")
    axes[0].legend(fontsize="small")
    rows = ", ".join(f"{label} {imp.get('rows', '?')}" for label, imp in found.items())
    figure.suptitle(f"permutation importance of the condition columns (rows: {rows})",
                    fontsize="medium")
    return figure


