"""Cosmology from galaxy catalogs: galaxy graphs, GNN posterior moments of
cosmological parameters (e.g. Omega_m), observational systematics and scores [dS23].

    boxes, omega_m, _ = galaxies_from_suite(suite, ["Omega_m"])
    model = CosmoGNN(Systematics(redshift_space=True)).fit(boxes, omega_m)
    mean, std = model.predict(test_boxes)
"""

from .calibration import validation_scores
from .graphs import (
    CosmoError,
    Galaxies,
    GraphConfig,
    build_graph,
    build_graphs,
    galaxies_from_suite,
    graphs_from_suite,
    periodic_pairs,
)
from .metrics import posterior_metrics
from .suite_runs import suites_to_score, train_on_suite
from .systematics import Systematics
from .training import CosmoGNN, evaluate_boxes, evaluate_suites

__all__ = [
    "CosmoError",
    "CosmoGNN",
    "Galaxies",
    "GraphConfig",
    "Systematics",
    "build_graph",
    "build_graphs",
    "evaluate_boxes",
    "evaluate_suites",
    "galaxies_from_suite",
    "graphs_from_suite",
    "periodic_pairs",
    "posterior_metrics",
    "suites_to_score",
    "train_on_suite",
    "validation_scores",
]
