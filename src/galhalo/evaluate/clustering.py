"""Moved: the estimators are in :mod:`galhalo.clustering` (xi, wp, multipoles, jackknife,
redshift space), the catalog adapters in :mod:`galhalo.evaluate.positions`. This module
re-exports them so that existing imports keep working."""

from ..clustering import (
    AXES,
    DEFAULT_JACKKNIFE,
    DEFAULT_MU_BINS,
    DEFAULT_PI_MAX,
    DEFAULT_R_EDGES,
    DEFAULT_THREADS,
    MIN_POINTS,
    ClusteringError,
    Correlation,
    check_positions,
    jackknife_covariance,
    jackknife_regions,
    mean_over_realizations,
    multipoles,
    redshift_space,
    rsd_shift,
    wp,
    xi,
)
from .positions import box_size_of, catalog_positions

__all__ = [
    "AXES",
    "DEFAULT_JACKKNIFE",
    "DEFAULT_MU_BINS",
    "DEFAULT_PI_MAX",
    "DEFAULT_R_EDGES",
    "DEFAULT_THREADS",
    "MIN_POINTS",
    "ClusteringError",
    "Correlation",
    "box_size_of",
    "catalog_positions",
    "check_positions",
    "jackknife_covariance",
    "jackknife_regions",
    "mean_over_realizations",
    "multipoles",
    "redshift_space",
    "rsd_shift",
    "wp",
    "xi",
]
