"""Two-point clustering: pure estimators on arrays of positions and a periodic box.

xi(r), wp(rp) and redshift-space multipoles (auto and cross) with delete-one jackknife
copies (:mod:`.two_point`, pair counts from Corrfunc in :mod:`.pairs`, the jackknife in
:mod:`.jackknife`), relative and large-scale bias (:mod:`.bias`), redshift-space
positions (:mod:`.redshift_space`), logarithmic bins down to the one-halo term
(:mod:`.scales`), the one-halo term's same-host pairs, expected and counted
(:mod:`.one_halo`), and the argument checks they share (one function,
:func:`check_arguments`). Nothing here knows catalogs or models: catalog-level work
(populations, the assembly-bias shuffle, mock comparisons) lives in ``galhalo.evaluate``.

Units: positions and separations in Mpc/h (comoving), velocities in km/s.
"""

from ..errors import ClusteringError
from ._checks import (
    AXES,
    check_arguments,
    check_count,
    check_edges,
    check_jackknife,
    check_positions,
    line_of_sight_order,
)
from .bias import (
    DEFAULT_FIT_RANGE,
    LargeScaleBias,
    fit_bins,
    fit_weights,
    large_scale_bias,
    relative_bias,
    weighted_mean,
)
from .correlation import Correlation, mean_over_realizations
from .jackknife import jackknife_covariance, jackknife_regions
from .one_halo import (
    SameHostPairs,
    diluted_wp,
    expected_one_halo_pairs,
    measured_one_halo_pairs,
    one_halo_wp,
    pair_residuals,
)
from .redshift_space import redshift_space, rsd_shift
from .scales import (
    DEFAULT_PER_DECADE,
    DEFAULT_RP_MAX,
    DEFAULT_RP_MIN,
    SMALL_SCALE_EDGES,
    log_edges,
)
from .two_point import (
    DEFAULT_JACKKNIFE,
    DEFAULT_MU_BINS,
    DEFAULT_PI_MAX,
    DEFAULT_R_EDGES,
    DEFAULT_THREADS,
    MIN_POINTS,
    multipoles,
    wp,
    xi,
)

__all__ = [
    "AXES",
    "DEFAULT_FIT_RANGE",
    "DEFAULT_JACKKNIFE",
    "DEFAULT_MU_BINS",
    "DEFAULT_PER_DECADE",
    "DEFAULT_PI_MAX",
    "DEFAULT_RP_MAX",
    "DEFAULT_RP_MIN",
    "DEFAULT_R_EDGES",
    "DEFAULT_THREADS",
    "MIN_POINTS",
    "SMALL_SCALE_EDGES",
    "ClusteringError",
    "Correlation",
    "LargeScaleBias",
    "SameHostPairs",
    "check_arguments",
    "check_count",
    "check_edges",
    "check_jackknife",
    "check_positions",
    "diluted_wp",
    "expected_one_halo_pairs",
    "fit_bins",
    "fit_weights",
    "jackknife_covariance",
    "jackknife_regions",
    "large_scale_bias",
    "line_of_sight_order",
    "log_edges",
    "mean_over_realizations",
    "measured_one_halo_pairs",
    "multipoles",
    "one_halo_wp",
    "pair_residuals",
    "redshift_space",
    "relative_bias",
    "rsd_shift",
    "weighted_mean",
    "wp",
    "xi",
]
