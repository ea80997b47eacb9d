"""Satellite-specific scores of one model, added to ``galhalo evaluate``'s metrics.json
under ``"satellites"`` (:func:`satellite_metrics`):

* a satellite property model scored on satellite rows (``--galaxies satellites``):
  :func:`host_mass_distances`, the KS and Wasserstein-1 distances of each target between
  the model's draws and the catalog in bins of the host mass ``M_h``
  (:func:`~.distributions.repeated_estimate`: value, error, and the floor from the
  truth's draws on a synthetic catalog, else from split halves);
* a count model (``occupation``, ``hod``: target ``N_sat``, methods ``mean`` and
  ``variance``) scored on one row per host: :func:`count_moments`, <N_sat | M_h> and
  Var(N_sat | M_h) of the model (its per-host mean and variance combined by the law of
  total variance) against the catalog's and, on a synthetic catalog, the truth's exact
  count law (:class:`~.truth.CountTruth`).

Units: masses log10(Msun/h).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import Catalog
from ..catalog.schema import HALO, IS_CENTRAL
from ..models.base import table_of
from . import distributions as dist
from .clustering_comparison import _records
from .satellite_hosts import bin_edges, checked_edges
from .satellite_statistics import _moments
from .truth import COUNT_TARGET, catalog_truth, truth_conditional

__all__ = ["DEFAULT_BIN_WIDTH", "count_moments", "host_mass_distances", "satellite_metrics"]

#: Host-mass bin width of the satellite scores, dex.
DEFAULT_BIN_WIDTH = 0.5
_DISTANCES = {"ks": dist.ks_1d, "wasserstein": dist.wasserstein_1d}


def _bins(mass: np.ndarray, edges: Any, width: float) -> tuple[np.ndarray, np.ndarray]:
    edges = (bin_edges(mass, width) if edges is None
             else checked_edges(mass, edges, width, "host-mass edges"))
    return edges, np.searchsorted(edges, mass, side="right") - 1


def host_mass_distances(model: Any, catalog: Catalog | pd.DataFrame, *,
                        mass_edges: Any = None, width: float = DEFAULT_BIN_WIDTH,
                        n_samples: int = 5, seed: int = 0, min_rows: int = 20,
                        ) -> pd.DataFrame:
    """KS and Wasserstein-1 of every target between the model and the catalog per
    host-mass bin (bins with fewer than ``min_rows`` rows are left out).

    Returns:
        One row per (bin, metric, target): ``M_min, M_max, rows, metric, key, value,
        error, floor, floor_error`` (an Estimate: value and floor means over
        ``n_samples`` draws per row, >= 2).
    """
    table = table_of(catalog)
    reference = table[list(model.target)].to_numpy(np.float64)
    # the whole table: a truth model reads is_central and the sub-halo columns
    draws = np.asarray(model.sample(table, n_samples, seed), dtype=float)
    truth = catalog_truth(catalog, model.target) if isinstance(catalog, Catalog) else None
    floor_draws = None
    if truth is not None:
        truth_model = truth_conditional(truth, model.target)
        floor_draws = np.asarray(truth_model.sample(table, n_samples, seed + 1),
                                 dtype=float)
    edges, index = _bins(table["M_h"].to_numpy(np.float64), mass_edges, width)
    rows = []
    for i in range(len(edges) - 1):
        here = np.flatnonzero(index == i)
        if len(here) < min_rows:
            continue
        for j, key in enumerate(model.target):
            for metric, statistic in _DISTANCES.items():
                estimate = dist.repeated_estimate(
                    statistic, draws[:, here, j], reference[here, j],
                    None if floor_draws is None else floor_draws[:, here, j], seed=seed)
                rows.append({"M_min": float(edges[i]), "M_max": float(edges[i + 1]),
                             "rows": len(here), "metric": metric, "key": key,
                             **{name: estimate.to_dict()[name] for name in
                                ("value", "error", "floor", "floor_error")}})
    return pd.DataFrame(rows)


def count_moments(model: Any, catalog: Catalog | pd.DataFrame, *, mass_edges: Any = None,
                  width: float = DEFAULT_BIN_WIDTH) -> pd.DataFrame:
    """<N_sat | M_h> and Var(N_sat | M_h) per host-mass bin: the catalog's (one row per
    host, column ``N_sat``, large-sample errors), the model's (per-host ``mean`` mu_i and
    ``variance`` v_i: mean of mu_i, and mean of v_i plus the variance of mu_i over the
    bin's hosts) and, on a synthetic catalog with satellites, the truth's (the same from
    its exact count law).

    Returns:
        One row per non-empty bin: ``M_min, M_max, M_mid, n_hosts, catalog_mean,
        catalog_mean_error, catalog_variance, catalog_variance_error, model_mean,
        model_variance, mean_sigma`` ((model - catalog) / catalog error), and with a
        truth ``truth_mean, truth_variance``.
    """
    table = table_of(catalog)
    condition = table[list(model.condition)]
    counts = table[COUNT_TARGET[0]].to_numpy(np.float64)
    mu = np.asarray(model.mean(condition), dtype=float)
    v = np.asarray(model.variance(condition), dtype=float)
    truth = catalog_truth(catalog, COUNT_TARGET) if isinstance(catalog, Catalog) else None
    law_mean = law_variance = None
    if truth is not None:
        law = truth.satellite_model
        halos = {name: table[name].to_numpy(np.float64) for name in HALO}
        law_mean, law_variance = (law.satellite_count_mean(halos),
                                  law.satellite_count_variance(halos))
    edges, index = _bins(table["M_h"].to_numpy(np.float64), mass_edges, width)
    rows = []
    for i in range(len(edges) - 1):
        here = index == i
        if not here.any():
            continue
        moments = _moments(counts[here])
        model_mean = float(mu[here].mean())
        row = {"M_min": float(edges[i]), "M_max": float(edges[i + 1]),
               "M_mid": 0.5 * float(edges[i] + edges[i + 1]), "n_hosts": int(here.sum()),
               "catalog_mean": moments["mean"], "catalog_mean_error": moments["mean_error"],
               "catalog_variance": moments["variance"],
               "catalog_variance_error": moments["variance_error"],
               "model_mean": model_mean,
               "model_variance": float(v[here].mean() + mu[here].var()),
               "mean_sigma": ((model_mean - moments["mean"]) / moments["mean_error"]
                              if moments["mean_error"] > 0 else math.nan)}
        if law_mean is not None:
            row["truth_mean"] = float(law_mean[here].mean())
            row["truth_variance"] = float(law_variance[here].mean() + law_mean[here].var())
        rows.append(row)
    return pd.DataFrame(rows)


def satellite_metrics(model: Any, catalog: Catalog | pd.DataFrame, *, n_samples: int = 5,
                      seed: int = 0) -> dict[str, Any] | None:
    """The satellite scores that apply to ``model`` on ``catalog`` (JSON-able), or None:
    ``{"occupation": count_moments records}`` for a count model with ``mean`` and
    ``variance``; ``{"host_mass_distances": records}`` when the rows are satellites
    (``is_central`` false) of a catalog with ``M_h``."""
    table = table_of(catalog)
    if "M_h" not in table.columns:
        return None
    if (tuple(model.target) == COUNT_TARGET and hasattr(model, "mean")
            and hasattr(model, "variance")):
        return {"bin_width": DEFAULT_BIN_WIDTH,
                "occupation": _records(count_moments(model, catalog))}
    if IS_CENTRAL.name in table.columns and len(table) and not table[
            IS_CENTRAL.name].to_numpy().astype(bool).any():
        return {"bin_width": DEFAULT_BIN_WIDTH, "host_mass_distances": _records(
            host_mass_distances(model, catalog, n_samples=n_samples, seed=seed))}
    return None
