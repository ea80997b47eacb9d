"""Model selection by validation NLL over a small hyperparameter grid.

``galhalo train --model flow --set search='{"hidden": [[128, 128], [219, 219, 219]],
"bins": [8, 12]}'`` fits every combination of the listed values (here four flows), each
with the same seed and therefore the same training/validation split, and keeps the one
whose validation NLL (nats per row, in the targets' physical units, so candidates with
different supports or scalings compare fairly) is lowest. The other ``--set`` values
hold for every candidate. The saved model is the winner; its ``metrics["search"]`` lists
every candidate's hyperparameters, validation NLL, epochs and fit seconds, so the choice
can be checked later.

The validation rows choose both the early-stopping epoch and the candidate, so the
winner's validation NLL is optimistic: score it on rows kept out of the search (for
instance with ``galhalo evaluate`` on another catalog).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping
from typing import Any

from ..errors import ModelError
from .registry import model_family

#: Most candidates a grid may expand to (each is a full fit).
MAX_CANDIDATES = 64


def expand_grid(grid: Any) -> list[dict[str, Any]]:
    """Every combination of a grid ``{name: [value, ...]}``, in the grid's order (the
    last name varies fastest); a clear error for anything else."""
    if not isinstance(grid, Mapping) or not grid:
        raise ModelError(f"search must map hyperparameter names to lists of values, e.g. "
                         f"{{\"bins\": [8, 12]}}; got {grid!r}")
    for name, values in grid.items():
        if not isinstance(values, list | tuple) or not values:
            raise ModelError(f"search: {name!r} needs a non-empty list of values, "
                             f"got {values!r}")
    names = list(grid)
    candidates = [dict(zip(names, combination, strict=True))
                  for combination in itertools.product(*(grid[name] for name in names))]
    if len(candidates) > MAX_CANDIDATES:
        raise ModelError(f"search expands to {len(candidates)} fits; at most "
                         f"{MAX_CANDIDATES} (list fewer values)")
    return candidates


def check_grid(family: str, grid: Any, fixed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The candidates of ``grid`` once each is known to build as a ``family`` model on
    top of ``fixed`` (a name in both is refused): errors before any fit."""
    candidates = expand_grid(grid)
    clash = sorted(set(fixed) & set(grid))
    if clash:
        raise ModelError(f"search: {', '.join(clash)} set both in the grid and outside it")
    cls = model_family(family)
    for candidate in candidates:
        cls(**fixed, **candidate)
    return candidates


def grid_search(family: str, catalog, condition, target, grid: Any, *,
                fixed: Mapping[str, Any] | None = None, valid: float = 0.2, seed: int = 0,
                progress: bool = True, report=None):
    """Fit ``family`` once per combination of ``grid`` (on top of the ``fixed``
    hyperparameters) with the same ``seed`` and validation split; return the fitted
    model of lowest validation NLL, its ``metrics["search"]`` the list of candidates.

    ``report(index, total, hyperparameters)`` is called before each fit (progress
    messages); every candidate is built first, so an unknown hyperparameter name fails
    before any fit.
    """
    fixed = dict(fixed or {})
    candidates = check_grid(family, grid, fixed)
    cls = model_family(family)
    best, rows = None, []
    for index, candidate in enumerate(candidates):
        if report is not None:
            report(index, len(candidates), candidate)
        start = time.perf_counter()
        model = cls(**fixed, **candidate).fit(catalog, condition, target, valid=valid,
                                              seed=seed, progress=progress)
        nll = float(model.metrics["valid_nll"])
        rows.append({"hyperparameters": candidate, "valid_nll": nll,
                     "epochs": model.metrics.get("epochs"),
                     "fit_seconds": round(time.perf_counter() - start, 1)})
        if best is None or (math.isfinite(nll) and not nll >= best.metrics["valid_nll"]):
            best = model
    best.metrics["search"] = rows
    return best


__all__ = ["MAX_CANDIDATES", "check_grid", "expand_grid", "grid_search"]
