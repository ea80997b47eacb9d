"""Mean intergalactic transmission blueward of Lyman alpha (Inoue et al. 2014).

The analytic model of Inoue, Shimizu, Iwata & Tanaka (2014, MNRAS 442, 1805; their
Sect. 4): the mean optical depth a source at redshift ``z_S`` suffers at observed
wavelength ``λ`` (Å) is the sum of four terms,

* the Lyman series of the Lyman-alpha forest (LAF) and of damped Lyman-alpha systems
  (DLA), their Eqs. (21)-(22): for each line j (Lyα to Ly40, rest wavelength
  ``λ_j``) and ``λ_j < λ < λ_j (1 + z_S)`` a power law in ``λ / λ_j`` whose
  coefficients are the paper's Table 2 (:data:`LYMAN_SERIES`);
* the Lyman continuum of the LAF and of the DLA, their Eqs. (25)-(29), for
  ``λ_L < λ < λ_L (1 + z_S)`` with the Lyman limit ``λ_L = 911.8`` Å.

The transmission is ``exp(-τ)``: 1 redward of ``1215.67 (1 + z_S)`` Å; the mean over
sight lines (one realisation of the forest is not drawn). Observed wavelengths below
the Lyman limit itself (no optical filter reaches them) get the same formulae.

``transmission(wavelength, redshift)`` has the signature
:meth:`galhalo.photometry.synthetic.ComponentTable.build` expects of a transmission.
"""

from __future__ import annotations

import numpy as np

from ..errors import PhotometryError

__all__ = ["LYMAN_LIMIT", "LYMAN_SERIES", "optical_depth", "transmission"]

#: Lyman limit, Å (Inoue et al. 2014).
LYMAN_LIMIT = 911.8

# Inoue et al. (2014) Table 2: rest wavelength (Å), LAF A1, A2, A3, DLA A1, A2 of the
# Lyman series lines j = 2 (Lyα) ... 40.
_TABLE = """
1215.67 1.68976e-02 2.35379e-03 1.02611e-04 1.61698e-04 5.38995e-05
1025.72 4.69229e-03 6.53625e-04 2.84940e-05 1.54539e-04 5.15129e-05
972.537 2.23898e-03 3.11884e-04 1.35962e-05 1.49767e-04 4.99222e-05
949.743 1.31901e-03 1.83735e-04 8.00974e-06 1.46031e-04 4.86769e-05
937.803 8.70656e-04 1.21280e-04 5.28707e-06 1.42893e-04 4.76312e-05
930.748 6.17843e-04 8.60640e-05 3.75186e-06 1.40159e-04 4.67196e-05
926.226 4.60924e-04 6.42055e-05 2.79897e-06 1.37714e-04 4.59048e-05
923.150 3.56887e-04 4.97135e-05 2.16720e-06 1.35495e-04 4.51650e-05
920.963 2.84278e-04 3.95992e-05 1.72628e-06 1.33452e-04 4.44841e-05
919.352 2.31771e-04 3.22851e-05 1.40743e-06 1.31561e-04 4.38536e-05
918.129 1.92348e-04 2.67936e-05 1.16804e-06 1.29785e-04 4.32617e-05
917.181 1.62155e-04 2.25878e-05 9.84689e-07 1.28117e-04 4.27056e-05
916.429 1.38498e-04 1.92925e-05 8.41033e-07 1.26540e-04 4.21799e-05
915.824 1.19611e-04 1.66615e-05 7.26340e-07 1.25041e-04 4.16804e-05
915.329 1.04314e-04 1.45306e-05 6.33446e-07 1.23614e-04 4.12046e-05
914.919 9.17397e-05 1.27791e-05 5.57091e-07 1.22248e-04 4.07494e-05
914.576 8.12784e-05 1.13219e-05 4.93564e-07 1.20938e-04 4.03127e-05
914.286 7.25069e-05 1.01000e-05 4.40299e-07 1.19681e-04 3.98938e-05
914.039 6.50549e-05 9.06198e-06 3.95047e-07 1.18469e-04 3.94896e-05
913.826 5.86816e-05 8.17421e-06 3.56345e-07 1.17298e-04 3.90995e-05
913.641 5.31918e-05 7.40949e-06 3.23008e-07 1.16167e-04 3.87225e-05
913.480 4.84261e-05 6.74563e-06 2.94068e-07 1.15071e-04 3.83572e-05
913.339 4.42740e-05 6.16726e-06 2.68854e-07 1.14011e-04 3.80037e-05
913.215 4.06311e-05 5.65981e-06 2.46733e-07 1.12983e-04 3.76609e-05
913.104 3.73821e-05 5.20723e-06 2.27003e-07 1.11972e-04 3.73241e-05
913.006 3.45377e-05 4.81102e-06 2.09731e-07 1.11002e-04 3.70005e-05
912.918 3.19891e-05 4.45601e-06 1.94255e-07 1.10051e-04 3.66836e-05
912.839 2.97110e-05 4.13867e-06 1.80421e-07 1.09125e-04 3.63749e-05
912.768 2.76635e-05 3.85346e-06 1.67987e-07 1.08220e-04 3.60734e-05
912.703 2.58178e-05 3.59636e-06 1.56779e-07 1.07337e-04 3.57789e-05
912.645 2.41479e-05 3.36374e-06 1.46638e-07 1.06473e-04 3.54909e-05
912.592 2.26347e-05 3.15296e-06 1.37450e-07 1.05629e-04 3.52096e-05
912.543 2.12567e-05 2.96100e-06 1.29081e-07 1.04802e-04 3.49340e-05
912.499 1.99967e-05 2.78549e-06 1.21430e-07 1.03991e-04 3.46636e-05
912.458 1.88476e-05 2.62543e-06 1.14452e-07 1.03198e-04 3.43994e-05
912.420 1.77928e-05 2.47850e-06 1.08047e-07 1.02420e-04 3.41402e-05
912.385 1.68222e-05 2.34330e-06 1.02153e-07 1.01657e-04 3.38856e-05
912.353 1.59286e-05 2.21882e-06 9.67268e-08 1.00908e-04 3.36359e-05
912.324 1.50996e-05 2.10334e-06 9.16925e-08 1.00168e-04 3.33895e-05
"""

#: (39, 6): rest wavelength (Å), LAF A1, A2, A3, DLA A1, A2 (Inoue et al. 2014 Table 2).
LYMAN_SERIES = np.array([[float(v) for v in row.split()]
                         for row in _TABLE.strip().splitlines()])


def _lyman_series(lam: np.ndarray, z1: np.ndarray) -> np.ndarray:
    """τ of the LAF + DLA Lyman series lines, (n_z, m): Inoue+14 Eqs. (21)-(22)."""
    tau = np.zeros(np.broadcast_shapes(lam.shape, z1.shape))
    for rest, laf1, laf2, laf3, dla1, dla2 in LYMAN_SERIES:
        x = lam / rest
        inside = (x > 1.0) & (lam < rest * z1)
        laf = np.where(x < 2.2, laf1 * x**1.2, np.where(x < 5.7, laf2 * x**3.7, laf3 * x**5.5))
        dla = np.where(x < 3.0, dla1 * x**2.0, dla2 * x**3.0)
        tau += np.where(inside, laf + dla, 0.0)
    return tau


def _laf_continuum(x: np.ndarray, z1: np.ndarray) -> np.ndarray:
    """τ of the LAF Lyman continuum (x = λ/λ_L, z1 = 1 + z_S): Eqs. (25)-(27)."""
    low = 0.325 * (x**1.2 - z1**-0.9 * x**2.1)
    mid = np.where(x < 2.2,
                   2.55e-2 * z1**1.6 * x**2.1 + 0.325 * x**1.2 - 0.250 * x**2.1,
                   2.55e-2 * (z1**1.6 * x**2.1 - x**3.7))
    high = np.where(x < 2.2,
                    5.22e-4 * z1**3.4 * x**2.1 + 0.325 * x**1.2 - 3.14e-2 * x**2.1,
                    np.where(x < 5.7,
                             5.22e-4 * z1**3.4 * x**2.1 + 0.218 * x**2.1 - 2.55e-2 * x**3.7,
                             5.22e-4 * (z1**3.4 * x**2.1 - x**5.5)))
    return np.where(z1 < 2.2, low, np.where(z1 < 5.7, mid, high))


def _dla_continuum(x: np.ndarray, z1: np.ndarray) -> np.ndarray:
    """τ of the DLA Lyman continuum (x = λ/λ_L, z1 = 1 + z_S): Eqs. (28)-(29)."""
    low = 0.211 * z1**2 - 7.66e-2 * z1**2.3 * x**-0.3 - 0.135 * x**2
    high = np.where(x < 3.0,
                    0.634 + 4.7e-2 * z1**3 - 1.78e-2 * z1**3.3 * x**-0.3
                    - 0.135 * x**2 - 0.291 * x**-0.3,
                    4.7e-2 * z1**3 - 1.78e-2 * z1**3.3 * x**-0.3 - 2.92e-2 * x**3)
    return np.where(z1 < 3.0, low, high)


def optical_depth(wavelength: np.ndarray, redshift: np.ndarray | float) -> np.ndarray:
    """Mean IGM optical depth, shape (n_z, m), of sources at ``redshift`` (n_z,) seen at
    observed ``wavelength`` (m,) Å (Inoue et al. 2014). A scalar redshift gives (1, m).
    Raises :class:`PhotometryError` for non-positive wavelengths or negative / non-finite
    redshifts."""
    lam = np.asarray(wavelength, dtype=float)
    z = np.atleast_1d(np.asarray(redshift, dtype=float))
    if lam.ndim != 1 or z.ndim != 1:
        raise PhotometryError("igm: wavelength and redshift must be 1-D arrays")
    if lam.size and (not np.all(np.isfinite(lam)) or lam.min() <= 0):
        raise PhotometryError("igm: wavelengths must be finite and > 0 Å")
    if z.size and (not np.all(np.isfinite(z)) or z.min() < 0):
        raise PhotometryError("igm: redshifts must be finite and >= 0")
    lam2 = lam[None, :]
    z1 = 1.0 + z[:, None]
    x = lam2 / LYMAN_LIMIT
    continuum_range = (x > 1.0) & (x < z1)
    continuum = np.where(continuum_range,
                         _laf_continuum(x, z1) + _dla_continuum(x, z1), 0.0)
    return _lyman_series(lam2, z1) + np.clip(continuum, 0.0, None)


def transmission(wavelength: np.ndarray, redshift: np.ndarray | float) -> np.ndarray:
    """Mean IGM transmission ``exp(-τ)``, shape (n_z, m), in [0, 1]; see
    :func:`optical_depth` for the arguments."""
    return np.exp(-optical_depth(wavelength, redshift))
