"""Training weights that balance the halo-mass function: sparse massive halos count more.

A halo catalog holds tens of thousands of dwarf hosts for every cluster, so a likelihood
summed over rows spends almost all of a network's effort on low-mass halos; the few
hundred group and cluster centrals, where the quenched, dead and rare still-active
populations live, are learned last and forgotten first. Weighting each training row by
a function of its *condition* only, w(x), leaves the best conditional density unchanged:
for every x, the weighted likelihood is still maximised by the true p(y | x), so the
weights move effort between halos without biasing what is learned (unlike weights that
depend on the galaxy, which would).

The weights (hyperparameter ``mass_balance`` = a power alpha, ``mass_balance_by`` = the condition
column, by default ``M_h``) are

    w_i ∝ max(n(bin of x_i), MASS_BALANCE_MIN_ROWS) ** (-alpha),    mean over rows = 1,

with n the number of training rows in bins of :data:`MASS_BALANCE_BIN_WIDTH` (units of the
column: dex for log masses). alpha = 0 is the plain likelihood, alpha = 1 weights every
populated bin equally; bins with fewer than :data:`MASS_BALANCE_MIN_ROWS` rows are weighted
as if they had that many, so a handful of rows never carry the fit. Validation, early
stopping and every reported NLL stay unweighted: the model is chosen on the honest
held-out likelihood.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError

#: Bin width of the balanced column (dex for log masses).
MASS_BALANCE_BIN_WIDTH = 0.25
#: A bin with fewer training rows is weighted as if it had this many.
MASS_BALANCE_MIN_ROWS = 500


def mass_balance_weights(values: np.ndarray, power: float,
                         bin_width: float = MASS_BALANCE_BIN_WIDTH,
                         min_rows: int = MASS_BALANCE_MIN_ROWS) -> np.ndarray:
    """Per-row training weights (rows,), mean 1, of a condition column ``values``
    (rows,): the bin count (bins of ``bin_width`` from the minimum, at least
    ``min_rows``) to the power ``-power``. ``power`` 0 gives ones."""
    values = np.asarray(values, dtype=float)
    if isinstance(power, bool) or not isinstance(power, int | float) or not 0 <= power <= 1:
        raise ModelError(f"mass_balance must be a number in [0, 1] (0: no balancing), got "
                         f"{power!r}")
    if values.ndim != 1 or len(values) == 0 or not np.all(np.isfinite(values)):
        raise ModelError("mass_balance needs a non-empty, finite condition column")
    if power == 0:
        return np.ones(len(values))
    bins = np.floor((values - values.min()) / bin_width).astype(np.int64)
    counts = np.bincount(bins)[bins].astype(float)
    weights = np.maximum(counts, min_rows) ** (-float(power))
    return weights / weights.mean()
