"""Quasars: luminosity function, parametric spectra, and a source catalog for an area.

**Luminosity function.** The double power law of Palanque-Delabrouille et al. (2016,
A&A 587, A41; "PD16") in ``M_g(z=2)``, the g-band absolute magnitude K-corrected to
z = 2 (``m_g = M_g(z=2) + μ(z) + K(z) - K(2)``):

    Φ(M, z) = Φ* / (10^{0.4 (α+1) (M - M*(z))} + 10^{0.4 (β+1) (M - M*(z))})   [Mpc⁻³ mag⁻¹]

with the pure-luminosity evolution ``M*(z) = M*(z_p) - 2.5 [k1 (z - z_p) + k2 (z - z_p)²]``
on either side of ``z_p = 2.2`` (slopes and k's differ across it): PD16's PLE fit
(:data:`PD16_PLE`, :meth:`LuminosityFunction.ple`). The **default** is their preferred
"PLE+LEDE" model (:data:`PD16_PLE_LEDE`): below z_p a PLE written around z = 0,
``M*(z) = M*(0) - 2.5 (k1 z + k2 z²)`` with fixed Φ*(0), α, β; above z_p the density,
break and bright-end slope evolve linearly, ``log Φ*(z) = log Φ*(z_p) + c1a Δz +
c1b Δz²``, ``M*(z) = M*(z_p) + c2 Δz``, ``α(z) = α + c3 Δz`` (Δz = z - z_p; continuous
at z_p). Sources (:data:`PD16_PLE`, :data:`PD16_PLE_LEDE`, :data:`LF_COSMOLOGY`; the
table "Sources of the constants" in docs/photometry_sources.md): the public
HorizonGRound code (M. S. Wang, ``eBOSS_QSO_LF_PLE*_model_fits.txt``) and a second
implementation citing PD16's Table 4 (same PLE+LEDE values, the sign ``+ c2 Δz``, and
flat ΛCDM H0 = 67.9, Ω_m = 0.3065); PD16's own text was not readable. With them our
draws give back PD16's Table 7 (predicted counts in r, as transcribed in a public
script): 104.8 and 61.5 quasars per deg² at r < 22.5 for 1 < z < 2 and 2 < z < 3
against 104.55 and 61.50 (tested); with H0 = 70, Ω_m = 0.3: 4 % and 3 % short. The LF
is fitted for 0.68 < z < 4; draws outside extrapolate it.

**Spectra.** A rest-frame model linear in a few components, so that photometry is a
:class:`~galhalo.photometry.synthetic.ComponentTable` lookup:

* continuum: a power law f_ν ∝ ν^α redward of 1100 Å with α ~ N(-0.44, 0.30)
  (Vanden Berk et al. 2001, "VB01", and its scatter), f_ν ∝ ν^-1.7 blueward (the
  extreme-UV softening), continuous at the break; VB01's steeper slope redward of
  5000 Å is host light, modelled here explicitly (below). A quasar's α is represented
  by the two nearest of :data:`ALPHA_GRID` (linear weights; the error at 1 and 5000 Å
  from the 1500 Å pivot is < 1 %);
* broad and narrow emission lines (:data:`LINES`): Gaussians with VB01's rest EWs,
  plus one very broad Gaussian (σ ≈ 450 Å at 3000 Å, EW 250 Å) for the UV Fe II and
  Balmer continuum "small blue bump" at ~2200-4000 Å; each quasar's EWs scattered
  log-normally (a common factor, σ_ln = 0.35, times one per line, σ_ln = 0.25); a
  line's amplitude is its EW times the quasar's continuum at the line;
* host-galaxy light: one kcorrect template mix (:func:`host_spectrum`, rest g - i = 1.0,
  log sSFR = -10.5) scaled to a host-to-quasar ratio at 5100 Å from the quasar's
  luminosity with the Shen et al. (2011) relation and 0.2 dex scatter
  (:func:`shen_host_ratio`, :func:`host_ratio`; ``with_host=False`` leaves it out).
  It matters at z < 1 and reddens the faint low-z quasars' r - i;
* the mean intergalactic transmission of :mod:`.igm` (Inoue et al. 2014) applied in
  the observed frame by the table.

Dust reddening, broad absorption lines, the Baldwin effect and the Fe II multiplet
structure are not modelled.

**Provenance** (search tool, 2026-12-07): VB01's α_ν = -0.44 (-2.45 redward of ~5000
Å: host light here) and the EWs of :data:`LINES` are VB01's Table 2 as transcribed in
the public repository ivanosaccheo/my_functions (``tables/various/
vanden_berk_2001_tab2.dat``; its ``library.py`` uses α_λ = -1.56 and +0.45); Shen et
al. (2011, Eq. 1) as that ``library.py`` applies it (x of the total light, x < 1.053).
The FWHMs, the scatters, the host template and its lower hold are this model's choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd

from ..errors import PhotometryError
from . import igm
from .distances import SPEED_OF_LIGHT_KM_S, comoving_distance, distance_modulus, flat_lcdm
from .filters import FilterSet, sdss
from .lightcone import sky_positions
from .sources import flux_columns, quasar_class
from .synthetic import ComponentTable, ab_magnitude
from .templates import kcorrect_templates, template_coefficients

__all__ = [
    "ALPHA_GRID",
    "LF_COSMOLOGY",
    "LINES",
    "PD16_PLE",
    "PD16_PLE_LEDE",
    "REST_WAVELENGTH",
    "LuminosityFunction",
    "QuasarDraws",
    "draw_quasars",
    "host_ratio",
    "host_spectrum",
    "quasar_components",
    "quasar_sources",
    "quasar_table",
    "shen_host_ratio",
    "spectrum_coefficients",
    "volume_element",
]

#: Flat ΛCDM of the LF fit (see the module doc).
LF_COSMOLOGY = {"Om0": 0.3065, "H0": 67.9}
#: Rest wavelengths of the component spectra, Å (Δ ln λ = 0.001, 300 km/s).
REST_WAVELENGTH = np.exp(np.arange(np.log(300.0), np.log(12000.0), 1e-3))
#: Continuum slopes α (f_ν ∝ ν^α) of the basis spectra.
ALPHA_GRID = np.round(np.arange(-1.65, 0.7501, 0.15), 4)
#: Mean and scatter of α (VB01 mean; scatter as observed between quasars).
ALPHA_MEAN, ALPHA_SIGMA = -0.44, 0.30
#: Breaks (Å) and the fixed slopes beyond them.
BLUE_BREAK, ALPHA_EUV = 1100.0, -1.7
#: Host galaxy: rest g - i and log sSFR (yr⁻¹) of its kcorrect template mix, the
#: host-to-quasar ratio at 5100 Å of Shen et al. (2011, Eq. 1): a cubic in
#: x = log10(λL_λ(5100) / 1e44 erg/s) of the *total* (quasar + host) light, for
#: x < 1.053 (the cubic's root; no host above), held at x = -1.3 below (this model's
#: choice), and its log-normal scatter (dex, this model's choice).
HOST_COLOUR, HOST_LOG_SSFR = 1.0, -10.5
HOST_POLYNOMIAL = (0.8052, -1.5502, 0.9121, -0.1577)
HOST_X_RANGE, HOST_SCATTER_DEX = (-1.3, 1.053), 0.2
#: 4π (10 pc)² in cm², and the speed of light in Å/s.
_FOUR_PI_10PC2 = 4.0 * np.pi * 3.0856776e19**2
_C_ANGSTROM = 2.99792458e18
#: Continuum pivot, Å: every basis spectrum has f_λ = 1 there.
PIVOT = 1500.0
#: Emission lines: name, rest wavelength (Å), rest EW (Å), FWHM (km/s). EWs: VB01's
#: Table 2 (module doc), its Lyα EW 92.91 (1160-1290 Å, N V in it) split 84.91 + 8 (N V)
#: here; the "FeII+BaC" bump and every FWHM are this model's.
LINES: tuple[tuple[str, float, float, float], ...] = (
    ("Lyb+OVI", 1030.0, 9.77, 5000.0),
    ("Lya", 1215.67, 84.91, 5500.0),
    ("NV", 1240.14, 8.0, 4000.0),
    ("SiIV+OIV]", 1399.8, 8.13, 5000.0),
    ("CIV", 1549.06, 23.78, 4500.0),
    ("HeII", 1640.42, 0.51, 3000.0),
    ("CIII]", 1908.73, 21.19, 5500.0),
    ("MgII", 2798.75, 32.28, 4000.0),
    ("FeII+BaC", 3000.0, 250.0, 106000.0),
    ("[OII]", 3727.09, 1.56, 1000.0),
    ("Hg", 4341.68, 12.62, 3500.0),
    ("Hb", 4862.68, 46.21, 3500.0),
    ("[OIII]", 5008.24, 13.23, 1000.0),
    ("Ha", 6564.61, 194.52, 3000.0),
)
#: Log-normal scatter of the EWs: common to a quasar's lines, and per line.
EW_COMMON_SIGMA, EW_LINE_SIGMA = 0.35, 0.25


#: PD16's PLE fit: log Φ*, M*(z_p), (α, β, k1, k2) below and above z_p = 2.2.
PD16_PLE = {"log_phi_star": -6.01, "m_star_pivot": -26.71,
            "low": (-4.31, -1.54, -0.08, -0.40), "high": (-3.04, -1.38, -0.25, -0.05)}
#: PD16's PLE+LEDE fit in the paper's own form: PLE below z_p around z = 0, M*(0),
#: log Φ*(0), α, β, k1, k2; LEDE above z_p: c1a, c1b, c2, c3 (see the module doc).
PD16_PLE_LEDE = {"m_star_0": -22.25, "log_phi_star_0": -5.93, "alpha": -3.89,
                 "beta": -1.47, "k1": 1.59, "k2": -0.36, "c1a": -0.46, "c1b": -0.06,
                 "c2": -0.14, "c3": 0.32}


def _ple_lede_pivot_form(z_pivot: float = 2.2) -> dict:
    """:data:`PD16_PLE_LEDE` in :class:`LuminosityFunction`'s fields: the PLE around z = 0,
    M*(z) = M*(0) - 2.5 (k1 z + k2 z²), rewritten around z_p (same function)."""
    p = PD16_PLE_LEDE
    slope = p["k1"] + 2.0 * p["k2"] * z_pivot
    low = (p["alpha"], p["beta"], slope, p["k2"])
    return {"log_phi_star": p["log_phi_star_0"],
            "m_star_pivot": p["m_star_0"] - 2.5 * (p["k1"] * z_pivot + p["k2"] * z_pivot**2),
            "low": low, "high": low, "lede": (p["c1a"], p["c1b"], p["c2"], p["c3"])}


_DEFAULT = _ple_lede_pivot_form()


@dataclass(frozen=True)
class LuminosityFunction:
    """PD16's double power law in M_g(z=2) (see the module doc); default: their PLE+LEDE
    (:meth:`ple` for their PLE).

    ``log_phi_star``, ``m_star_pivot``: Φ* and M* at z_p. ``low`` / ``high``: (α, β, k1,
    k2) at z <= z_p / z > z_p, M*(z) = M*(z_p) - 2.5 [k1 (z - z_p) + k2 (z - z_p)²].
    ``lede``: (c1a, c1b, c2, c3) replaces the evolution above z_p by the LEDE form:
    log Φ*(z) = log Φ*(z_p) + c1a Δz + c1b Δz², M*(z) = M*(z_p) + c2 Δz, α(z) =
    α_low + c3 Δz, β = β_low (Δz = z - z_p; ``high`` unused); ``None`` keeps the PLE.
    """

    log_phi_star: float = _DEFAULT["log_phi_star"]
    m_star_pivot: float = _DEFAULT["m_star_pivot"]
    z_pivot: float = 2.2
    low: tuple[float, float, float, float] = _DEFAULT["low"]
    high: tuple[float, float, float, float] = _DEFAULT["high"]
    lede: tuple[float, float, float, float] | None = _DEFAULT["lede"]

    @classmethod
    def ple(cls) -> LuminosityFunction:
        """PD16's PLE fit (:data:`PD16_PLE`)."""
        return cls(lede=None, **PD16_PLE)

    def parameters(self, redshift: np.ndarray) -> tuple[np.ndarray, ...]:
        """(log Φ*, M*, α, β) at each redshift, arrays of its shape."""
        z = np.asarray(redshift, dtype=float)
        dz = z - self.z_pivot
        above = dz > 0
        a_lo, b_lo, k1_lo, k2_lo = self.low
        a_hi, b_hi, k1_hi, k2_hi = self.high
        alpha = np.where(above, a_hi, a_lo)
        beta = np.where(above, b_hi, b_lo)
        k1 = np.where(above, k1_hi, k1_lo)
        k2 = np.where(above, k2_hi, k2_lo)
        m_star = self.m_star_pivot - 2.5 * (k1 * dz + k2 * dz**2)
        log_phi = np.full(z.shape, self.log_phi_star)
        if self.lede is not None:
            c1a, c1b, c2, c3 = self.lede
            m_star = np.where(above, self.m_star_pivot + c2 * dz, m_star)
            log_phi = np.where(above, self.log_phi_star + c1a * dz + c1b * dz**2, log_phi)
            alpha = np.where(above, a_lo + c3 * dz, a_lo)
            beta = np.full(z.shape, b_lo)
        return log_phi, m_star, alpha, beta

    def phi(self, magnitude: np.ndarray, redshift: np.ndarray) -> np.ndarray:
        """Φ(M_g(z=2), z) in Mpc⁻³ mag⁻¹ (arrays broadcast together)."""
        mag, z = np.broadcast_arrays(np.asarray(magnitude, float), np.asarray(redshift, float))
        log_phi, m_star, alpha, beta = self.parameters(z)
        dm = mag - m_star
        return 10.0**log_phi / (10.0 ** (0.4 * (alpha + 1) * dm) + 10.0 ** (0.4 * (beta + 1) * dm))


def volume_element(redshift: np.ndarray, cosmology: dict | None = None,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(dV_c/dz per deg² in Mpc³, distance modulus μ in mag) at ``redshift`` (> 0) for a
    flat ΛCDM ``cosmology`` (a catalog-style mapping, see :mod:`.distances`; default
    :data:`LF_COSMOLOGY`)."""
    z = np.asarray(redshift, dtype=float)
    if z.size and (not np.isfinite(z).all() or z.min() <= 0):
        raise PhotometryError("volume_element: redshifts must be finite and > 0")
    params = LF_COSMOLOGY if cosmology is None else cosmology
    omega_m, h0 = flat_lcdm(params)
    hubble = SPEED_OF_LIGHT_KM_S / (h0 * np.sqrt(omega_m * (1.0 + z) ** 3 + 1.0 - omega_m))
    per_deg2 = hubble * comoving_distance(z, params) ** 2 * (np.pi / 180.0) ** 2
    return per_deg2, distance_modulus(z, params)


def _continuum(rest: np.ndarray, alpha: float) -> np.ndarray:
    """f_λ of the power law with slope α (f_ν ∝ ν^α) above BLUE_BREAK and ALPHA_EUV
    below it, continuous, 1 at PIVOT."""
    at_blue = (BLUE_BREAK / PIVOT) ** (-2.0 - alpha)
    return np.where(rest < BLUE_BREAK, at_blue * (rest / BLUE_BREAK) ** (-2.0 - ALPHA_EUV),
                    (rest / PIVOT) ** (-2.0 - alpha))


@cache
def host_spectrum() -> np.ndarray:
    """(m,) f_λ on :data:`REST_WAVELENGTH` of the host template (the kcorrect mix of rest
    g - i = :data:`HOST_COLOUR` and log sSFR = :data:`HOST_LOG_SSFR`), 1 at 5100 Å and 0
    blueward of the templates' 600 Å."""
    templates = kcorrect_templates()
    mix = template_coefficients(np.array([HOST_COLOUR]), np.array([HOST_LOG_SSFR]),
                                np.array([1e11]), templates)
    flux = mix.coefficients[0] @ templates.flux
    spectrum = np.interp(REST_WAVELENGTH, templates.rest_wavelength, flux, left=0.0)
    return spectrum / np.interp(5100.0, REST_WAVELENGTH, spectrum)


def shen_host_ratio(x_quasar: np.ndarray) -> np.ndarray:
    """Mean host-to-quasar λL_λ ratio at rest 5100 Å for quasars whose *own* continuum
    has x_quasar = log10(λL_λ(5100) / 1e44 erg/s) (shape kept).

    Shen et al. (2011, Eq. 1) give the ratio r as a cubic (:data:`HOST_POLYNOMIAL`) in
    the total x = x_quasar + log10(1 + r); that implicit equation is solved by
    fixed-point iteration (a contraction: |d log10(1 + r)/dx| < 0.4 on the range). r = 0
    at x >= 1.053 (the cubic's root, Shen et al.'s limit); below x = -1.3 the cubic is
    held at its value there (:data:`HOST_X_RANGE`)."""
    xq = np.asarray(x_quasar, dtype=float)
    low, high = HOST_X_RANGE

    def cubic(x):
        ratio = np.polyval(HOST_POLYNOMIAL[::-1], np.maximum(x, low))
        return np.where(x < high, np.clip(ratio, 0.0, None), 0.0)

    x = xq
    for _ in range(60):
        x = xq + np.log10(1.0 + cubic(x))
    return cubic(x)


def host_ratio(magnitude: np.ndarray, alpha: np.ndarray, seed) -> np.ndarray:
    """Host-to-quasar f_λ ratio at rest 5100 Å (n,) of quasars with M_g(z=2)
    ``magnitude`` and slope ``alpha``: :func:`shen_host_ratio` of the quasar's continuum
    λL_λ(5100) (from M_g(z=2), the 1570 Å rest of g at z = 2, and α), scattered by
    :data:`HOST_SCATTER_DEX`."""
    mag = np.asarray(magnitude, dtype=float)
    a = np.asarray(alpha, dtype=float)
    # m_g(z=2) = M + μ(2): L_ν(1570 Å) = 4π (10 pc)² f_ν(M) / (1 + 2)
    l_nu = _FOUR_PI_10PC2 * 1e-29 * 10.0 ** (-0.4 * (mag - 23.9)) / 3.0
    nu_l_nu = _C_ANGSTROM / 1570.0 * l_nu
    l5100 = nu_l_nu * (5100.0 / 1570.0) ** (-1.0 - a)
    ratio = shen_host_ratio(np.log10(l5100 / 1e44))
    scatter = _rng(seed).normal(0.0, HOST_SCATTER_DEX, mag.shape)
    return ratio * 10.0**scatter


def quasar_components() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(rest wavelength (m,) Å, components (K, m), names): one continuum per
    :data:`ALPHA_GRID` slope (f_λ = 1 at 1500 Å), one unit-flux line profile per
    :data:`LINES` entry (∫ f_λ dλ = 1 Å on the grid), then the host (:func:`host_spectrum`)."""
    rest = REST_WAVELENGTH
    continua = [_continuum(rest, a) for a in ALPHA_GRID]
    lines = []
    for _, centre, _, fwhm in LINES:
        sigma = centre * fwhm / SPEED_OF_LIGHT_KM_S / 2.3548
        profile = np.exp(-0.5 * ((rest - centre) / sigma) ** 2)
        lines.append(profile / np.trapezoid(profile, rest))
    names = (*(f"alpha={a:+.2f}" for a in ALPHA_GRID), *(n for n, *_ in LINES), "host")
    return rest, np.array([*continua, *lines, host_spectrum()]), names


def spectrum_coefficients(alpha: np.ndarray, ew_scale: np.ndarray,
                          host: np.ndarray | None = None) -> np.ndarray:
    """(n, K) component amplitudes of quasars with continuum slopes ``alpha`` (n,), line
    EWs ``ew_scale`` (n, n_lines) times the :data:`LINES` EWs and host-to-quasar ratios
    ``host`` (n,) at 5100 Å (default none); continuum 1 at 1500 Å. α outside
    :data:`ALPHA_GRID`'s range is clipped to it."""
    a = np.clip(np.asarray(alpha, dtype=float), ALPHA_GRID[0], ALPHA_GRID[-1])
    scale = np.asarray(ew_scale, dtype=float).reshape(a.size, len(LINES))
    step = ALPHA_GRID[1] - ALPHA_GRID[0]
    position = (a - ALPHA_GRID[0]) / step
    lower = np.clip(np.floor(position).astype(int), 0, ALPHA_GRID.size - 2)
    frac = position - lower
    rows = np.arange(a.size)
    coefficients = np.zeros((a.size, ALPHA_GRID.size + len(LINES) + 1))
    coefficients[rows, lower] = 1.0 - frac
    coefficients[rows, lower + 1] = frac
    centres = np.array([centre for _, centre, _, _ in LINES] + [5100.0])
    ews = np.array([ew for _, _, ew, _ in LINES])
    basis = np.array([_continuum(centres, al) for al in ALPHA_GRID])  # (n_alpha, n_lines)
    level = (1.0 - frac)[:, None] * basis[lower] + frac[:, None] * basis[lower + 1]
    coefficients[:, ALPHA_GRID.size:-1] = level[:, :-1] * ews * scale
    if host is not None:
        coefficients[:, -1] = level[:, -1] * np.asarray(host, dtype=float).reshape(a.size)
    return coefficients


@lru_cache(maxsize=8)
def _cached_table(filters: FilterSet, z_min: float, z_max: float, log_step: float,
                  ) -> ComponentTable:
    rest, components, _ = quasar_components()
    return ComponentTable.build(rest, components, filters, z_max, z_min=z_min,
                                log_step=log_step, transmission=igm.transmission)


def quasar_table(filters: FilterSet, z_range: tuple[float, float] = (0.5, 4.5),
                 log_step: float = 5e-4) -> ComponentTable:
    """The quasar :class:`ComponentTable` (IGM included) for ``filters`` on a redshift
    grid of step ``log_step`` in ln(1+z) covering ``z_range`` (:meth:`ComponentTable.
    build`; cached per filter set and grid). At the default step the band fluxes of
    every component are within 0.3% of direct integration of the redshifted, absorbed
    spectrum (the narrow [O II] and [O III] lines crossing filter edges are the worst;
    tested at 0.5%)."""
    z_min, z_max = float(z_range[0]), float(z_range[1])
    if not (0 < z_min < z_max <= 6.0) or not log_step > 0:
        raise PhotometryError(f"quasar z_range must satisfy 0 < min < max <= 6, got "
                              f"{z_range}")
    return _cached_table(filters, z_min, z_max, float(log_step))


@dataclass(frozen=True)
class QuasarDraws:
    """Quasars drawn from the LF: ``redshift`` (n,), ``M_g`` (n,) M_g(z=2), ``alpha``
    (n,), ``ew_scale`` (n, n_lines)."""

    redshift: np.ndarray
    M_g: np.ndarray
    alpha: np.ndarray
    ew_scale: np.ndarray


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def draw_quasars(area_deg2: float, magnitude_limits: np.ndarray, seed,
                 z_range: tuple[float, float] = (0.5, 4.5),
                 lf: LuminosityFunction | None = None, cosmology: dict | None = None,
                 dz: float = 0.005, dm: float = 0.01,
                 ) -> QuasarDraws:
    """Poisson draws of quasars over ``area_deg2`` with M_g(z=2) between the limits.

    ``magnitude_limits(z)`` is a callable returning (bright, faint) M_g(z=2) arrays at the
    redshift grid (n_z,), e.g. an apparent range mapped through μ(z) and a K-correction.
    Draws use the inverse CDF of Φ dV/dz on a (z, M) grid of steps ``dz``, ``dm``, then
    a uniform position inside the cell. The spectral parameters α, EW scales are drawn
    too (see the module doc). Same seed, same quasars.
    """
    if not np.isfinite(area_deg2) or area_deg2 <= 0:
        raise PhotometryError(f"area must be > 0 deg², got {area_deg2}")
    lf = lf or LuminosityFunction()
    rng = _rng(seed)
    z = np.arange(z_range[0] + dz / 2, z_range[1], dz)
    bright, faint = magnitude_limits(z)
    bright = np.broadcast_to(np.asarray(bright, float), z.shape)
    faint = np.broadcast_to(np.asarray(faint, float), z.shape)
    key = tuple(sorted((LF_COSMOLOGY if cosmology is None else cosmology).items()))
    mags, cumulative = _density_grid(lf, key, float(z_range[0]), float(z_range[1]), dz, dm,
                                     float(np.floor(bright.min())),
                                     float(np.ceil(faint.max())))
    # the allowed cells of z row i are the contiguous run [first_i, last_i) of the
    # flattened grid: its mass is a difference of the (cached) cumulative sum
    offset = np.arange(z.size) * mags.size
    first = offset + np.searchsorted(mags, bright, side="left")
    last = offset + np.searchsorted(mags, faint, side="right")
    base = np.r_[0.0, cumulative]
    rows = np.cumsum(np.maximum(base[last] - base[first], 0.0))
    n = int(rng.poisson(rows[-1] * area_deg2)) if rows.size else 0
    iz = np.minimum(np.searchsorted(rows, rng.uniform(0.0, rows[-1], n), side="right"),
                    z.size - 1) if n else np.zeros(0, dtype=int)
    u = rng.uniform(base[first[iz]], base[last[iz]])
    cells = np.clip(np.searchsorted(cumulative, u, side="right"), first[iz], last[iz] - 1)
    im = cells - offset[iz]
    redshift = z[iz] + rng.uniform(-dz / 2, dz / 2, n)
    magnitude = mags[im] + rng.uniform(-dm / 2, dm / 2, n)
    alpha = rng.normal(ALPHA_MEAN, ALPHA_SIGMA, n)
    common = rng.normal(0.0, EW_COMMON_SIGMA, (n, 1))
    ew_scale = np.exp(common + rng.normal(0.0, EW_LINE_SIGMA, (n, len(LINES)))
                      - 0.5 * (EW_COMMON_SIGMA**2 + EW_LINE_SIGMA**2))
    return QuasarDraws(redshift, magnitude, alpha, ew_scale)


@lru_cache(maxsize=16)
def _density_grid(lf: LuminosityFunction, cosmology: tuple, z_low: float, z_high: float,
                  dz: float, dm: float, m_low: float, m_high: float,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(magnitude cell centres (n_m,), cumulative sum over the flattened (z, M) grid of
    the quasars per deg² per cell, Φ dV/dz dz dM, (n_z n_m,)) on the grid of
    :func:`draw_quasars` (cached: the LF is the slow part of a small draw)."""
    z = np.arange(z_low + dz / 2, z_high, dz)
    per_deg2, _ = volume_element(z, dict(cosmology))
    mags = np.arange(m_low, m_high + dm, dm)[:-1] + dm / 2
    density = lf.phi(mags[None, :], z[:, None]) * per_deg2[:, None] * dz * dm
    cumulative = np.cumsum(density.ravel())
    cumulative.setflags(write=False)
    return mags, cumulative


def _norm_band() -> FilterSet:
    """SDSS g, the band of M_g(z=2)."""
    return sdss().select(["gSDSS"])


def quasar_sources(area_deg2: float, filters: FilterSet, seed,
                   r_range: tuple[float, float] = (17.0, 23.6),
                   z_range: tuple[float, float] = (0.5, 4.5),
                   lf: LuminosityFunction | None = None, cosmology: dict | None = None,
                   margin: float = 1.5, with_host: bool = True) -> pd.DataFrame:
    """A quasar source catalog over ``area_deg2`` with true ``rSDSS`` magnitude in
    ``r_range``.

    Quasars are drawn from the LF with M_g(z=2) within ``margin`` mag of the r range
    mapped through μ(z) and the mean quasar's K-correction, their photometry computed
    from the tabulated components (amplitude tied by ``m_g = M_g(z=2) + μ(z) + K(z) -
    K(2)`` with each quasar's own spectrum), then cut on ``r_range``. Columns:
    ``source_class`` (qso_low / qso_high), ``redshift``, ``mag_r``, ``flux_<f>`` (µJy),
    ``M_g``, ``alpha``, ``host_ratio``, ``ra``, ``dec`` (deg, uniform over a circular
    patch of ``area_deg2`` centred on (0°, 0°), as :func:`.lightcone.light_cone` places
    galaxies: :func:`.lightcone.sky_positions`). ``filters`` must contain ``rSDSS``.
    Same seed, same catalog.
    """
    if "rSDSS" not in filters.names:
        raise PhotometryError("quasar_sources: the filter set has no 'rSDSS' band "
                              "(mag_r is defined in it)")
    lo, hi = float(r_range[0]), float(r_range[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise PhotometryError(f"r_range must be two finite magnitudes, bright < faint; "
                              f"got {r_range}")
    table = quasar_table(filters, z_range)
    g_table = quasar_table(_norm_band(), (1.9, 2.1))
    r_column = filters.names.index("rSDSS")
    mean = spectrum_coefficients(np.array([ALPHA_MEAN]), np.ones((1, len(LINES))))
    q_g2 = ab_magnitude(g_table.fluxes(np.array([2.0]), mean)[:, 0])[0]

    def limits(z):
        _, mu = volume_element(z, cosmology)
        q_r = ab_magnitude(table.fluxes(z, np.repeat(mean, z.size, axis=0), ["rSDSS"])[:, 0])
        shift = mu + q_r - q_g2
        return lo - margin - shift, hi + margin - shift

    rng = _rng(seed)
    draws = draw_quasars(area_deg2, limits, rng, z_range, lf, cosmology)
    host = host_ratio(draws.M_g, draws.alpha, rng) if with_host else None
    coefficients = spectrum_coefficients(draws.alpha, draws.ew_scale, host)
    q2 = ab_magnitude(g_table.fluxes(np.full(draws.redshift.size, 2.0), coefficients)[:, 0])
    _, mu = volume_element(draws.redshift, cosmology) if draws.redshift.size else (None, 0.0)
    scale = 10.0 ** (-0.4 * (draws.M_g - q2 + mu))
    # r first: about half the draws fall outside r_range (the margin)
    mag_r = ab_magnitude(table.fluxes(draws.redshift, coefficients, ["rSDSS"])[:, 0] * scale)
    keep = np.flatnonzero((mag_r >= lo) & (mag_r < hi))
    fluxes = table.fluxes(draws.redshift[keep], coefficients[keep]) * scale[keep, None]
    frame = pd.DataFrame(fluxes, columns=flux_columns(filters.names))
    frame.insert(0, "mag_r", ab_magnitude(fluxes[:, r_column]))
    frame.insert(0, "redshift", draws.redshift[keep])
    frame.insert(0, "source_class", quasar_class(draws.redshift[keep]))
    frame["M_g"] = draws.M_g[keep]
    frame["alpha"] = draws.alpha[keep]
    frame["host_ratio"] = host[keep] if host is not None else 0.0
    frame["ra"], frame["dec"] = sky_positions(keep.size, area_deg2, rng)
    return frame
