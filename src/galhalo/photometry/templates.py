"""The kcorrect galaxy templates, the template mixture of a galaxy, and the brightest r
flux a mixture of a given colour and stellar mass can have.

**Templates.** ``kcorrect``'s ``data/templates/kcorrect-default-v4.fits`` (Blanton &
Roweis 2007): K = 5 rest-frame spectra (HDU ``FLUX``: ``wave`` Å, ``flux`` (5, 10000)
erg s⁻¹ cm⁻² Å⁻¹ *at 10 pc*), each for 1 Msun of stars formed (HDU ``INTSFH`` = 1), with
``MREMAIN`` the surviving stellar mass (Msun) and ``M300`` / ``M1000`` the mass formed
in the last 300 Myr / 1 Gyr. A non-negative combination ``sum_k a_k template_k`` is the
10 pc spectrum of a galaxy of stellar mass ``sum_k a_k MREMAIN_k`` and star-formation
rate ``sum_k a_k M300_k / 3e8 yr`` (the 300-Myr average: our sSFR proxy).

**Mixture per galaxy** (:func:`template_coefficients`). Given the galaxy's rest-frame
g − i (SDSS g and i, AB), log sSFR (yr⁻¹) and stellar mass M (Msun), the coefficients
satisfy three linear equations

    sum_k a_k (G_k - ρ I_k) = 0,   ρ = 10^(-0.4 (g - i))     (colour)
    sum_k a_k (S_k - s M_k) = 0,   s = 10^sSFR               (sSFR)
    sum_k a_k M_k = M                                          (mass)

with G_k, I_k the templates' g and i fluxes, S_k = M300_k / 3e8 yr, M_k = MREMAIN_k.
For each of the 10 triples of templates the 3×3 system is solved (its solution is
the cross product of the colour and sSFR rows, scaled to the mass; vectorised over
galaxies); the non-negative solutions are vertices of the feasible polytope and their
mean is feasible too (the constraints are linear): that mean is the galaxy's mixture.
Where no triple is feasible (the sSFR cannot be met at that colour) the colour and
mass are still met exactly by the two-template mixture whose sSFR is closest in log
(counted as ``ssfr_unmatched``). Colours outside the templates' range (-0.78 to 1.91)
are first clipped 0.01 mag inside it (counted as ``colour_clipped``). The rest-frame
colour of the SED then equals the input (or clipped) colour to rounding (the tests
check 1e-6 mag).

**The brightest r** (:class:`BrightestR`): a provable upper bound on a galaxy's r flux
from its colour and stellar mass, so that galaxies fainter than a survey's limit are
skipped before their mixture is solved. :func:`template_coefficients` returns, for
every galaxy (matched or not in sSFR), a non-negative template mixture meeting its
(clipped) rest g - i colour and its stellar mass M exactly (to rounding, ~1e-12
relative). Every such mixture lies in the polytope

    {a >= 0,  sum_k a_k (G_k - ρ I_k) = 0,  sum_k a_k M_k = M},   ρ = 10^(-0.4 (g - i)),

whose vertices mix two templates of colours either side of ρ (or are one template of
colour ρ). A linear function, the r flux ``sum_k a_k F_k(z)``, is largest at a vertex,
so the flux is at most M times the largest per-mass r flux of the vertices. For a pair
(i, j) the vertex's per-mass flux ``(|c_j| F_i + |c_i| F_j) / (M_i |c_j| + M_j |c_i|)``
(c_k = G_k - ρ I_k) is a ratio of functions linear in ρ where the pair is feasible, so
monotonic: its largest value over a colour cell is at one of the cell's ends. Per
redshift interval of the :class:`~galhalo.photometry.synthetic.ComponentTable`, each
template's flux (interpolated linearly between nodes) is at most the larger node value.
:class:`BrightestR` tabulates that bound per colour cell and redshift interval, times
1 + 1e-6 for the rounding of the mixtures. The sSFR, which the bound ignores, would
tighten it, but unmatched galaxies do not meet it.

For a light-cone the copies' observed redshifts need each copy's line of sight;
:meth:`BrightestR.at_distance` bounds instead by comoving distance alone: the observed
redshift is within the peculiar velocity's reach of the cosmological one, |v_los| <=
the fastest galaxy's speed, and the distance modulus grows with the distance.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np

from ..errors import PhotometryError
from .distances import SPEED_OF_LIGHT_KM_S, distance_modulus, redshift_at_comoving_distance
from .filters import kcorrect_data, sdss
from .synthetic import ComponentTable, band_fluxes, flux_from_ab

__all__ = [
    "BrightestR",
    "GalaxyTemplates",
    "TemplateMix",
    "kcorrect_templates",
    "rest_colour",
    "template_coefficients",
]

_SFR_TIMESCALE_YR = 3e8
_COLOUR_MARGIN = 0.01


@dataclass(frozen=True, eq=False)
class GalaxyTemplates:
    """The kcorrect templates and their derived quantities.

    Attributes:
        rest_wavelength: (m,) Å.
        flux: (K, m) erg s⁻¹ cm⁻² Å⁻¹ at 10 pc per Msun formed.
        mremain: (K,) surviving stellar mass per Msun formed.
        sfr: (K,) Msun/yr averaged over the last 300 Myr, per Msun formed.
        g_flux, i_flux: (K,) rest-frame SDSS g and i fluxes at 10 pc, µJy.
    """

    rest_wavelength: np.ndarray
    flux: np.ndarray
    mremain: np.ndarray
    sfr: np.ndarray
    g_flux: np.ndarray
    i_flux: np.ndarray

    @property
    def rest_colour(self) -> np.ndarray:
        """(K,) rest-frame g - i of each template (AB mag)."""
        return -2.5 * np.log10(self.g_flux / self.i_flux)

    @property
    def colour_range(self) -> tuple[float, float]:
        """(bluest, reddest) rest g - i a mixture is given: the templates' range, 0.01
        mag inside (:func:`template_coefficients` clips colours to it)."""
        colours = self.rest_colour
        return (float(colours.min()) + _COLOUR_MARGIN, float(colours.max()) - _COLOUR_MARGIN)

    @property
    def log_ssfr(self) -> np.ndarray:
        """(K,) log10 sSFR (yr⁻¹) of each template: sfr / mremain."""
        with np.errstate(divide="ignore"):
            return np.log10(self.sfr / self.mremain)


@cache
def kcorrect_templates() -> GalaxyTemplates:
    """Read ``kcorrect-default-v4.fits`` (see the module docstring)."""
    from astropy.io import fits

    path = kcorrect_data("templates", "kcorrect-default-v4.fits")
    with fits.open(str(path)) as hdus:
        wave = np.asarray(hdus["FLUX"].data["wave"][0], dtype=float)
        flux = np.asarray(hdus["FLUX"].data["flux"][0], dtype=float)
        intsfh = np.asarray(hdus["INTSFH"].data, dtype=float)
        mremain = np.asarray(hdus["MREMAIN"].data, dtype=float) / intsfh
        sfr = np.asarray(hdus["M300"].data, dtype=float) / intsfh / _SFR_TIMESCALE_YR
    flux = flux / intsfh[:, None]
    bands = sdss()
    rest = band_fluxes(wave, flux, bands.select(["gSDSS", "iSDSS"]))
    return GalaxyTemplates(wave, flux, mremain, sfr, rest[:, 0], rest[:, 1])


@dataclass(frozen=True)
class TemplateMix:
    """Template coefficients of n galaxies and what could not be matched.

    Attributes:
        coefficients: (n, K) Msun formed per template (10 pc spectra add linearly).
        colour_clipped: (n,) bool, input colour outside the templates' range.
        ssfr_unmatched: (n,) bool, sSFR not reachable at that colour (closest used).
    """

    coefficients: np.ndarray
    colour_clipped: np.ndarray
    ssfr_unmatched: np.ndarray


def template_coefficients(colour: np.ndarray, log_ssfr: np.ndarray,
                          stellar_mass: np.ndarray,
                          templates: GalaxyTemplates | None = None) -> TemplateMix:
    """Non-negative template mixtures matching rest g - i, sSFR and stellar mass.

    Args:
        colour: (n,) rest-frame g - i, AB mag.
        log_ssfr: (n,) log10 sSFR, yr⁻¹.
        stellar_mass: (n,) Msun (not Msun/h).
        templates: default :func:`kcorrect_templates`.

    Returns:
        :class:`TemplateMix` (method in the module docstring).
    """
    tpl = templates or kcorrect_templates()
    colour = np.asarray(colour, dtype=float).reshape(-1)
    ssfr = np.asarray(log_ssfr, dtype=float).reshape(-1)
    mass = np.asarray(stellar_mass, dtype=float).reshape(-1)
    if not (colour.size == ssfr.size == mass.size):
        raise PhotometryError("colour, sSFR and stellar mass must have the same length")
    for name, values in (("colour", colour), ("sSFR", ssfr), ("stellar mass", mass)):
        if not np.isfinite(values).all():
            raise PhotometryError(f"galaxy {name}: NaN or infinite at row "
                                  f"{int(np.flatnonzero(~np.isfinite(values))[0])}")
    if (mass <= 0).any():
        raise PhotometryError("galaxy stellar mass must be > 0")
    lo, hi = tpl.colour_range
    clipped = (colour < lo) | (colour > hi)
    colour = np.clip(colour, lo, hi)
    rho = 10.0 ** (-0.4 * colour)
    colour_row = tpl.g_flux[None, :] - rho[:, None] * tpl.i_flux[None, :]
    colour_row /= np.abs(colour_row).max(axis=1, keepdims=True)
    ssfr_row = tpl.sfr[None, :] - 10.0 ** ssfr[:, None] * tpl.mremain[None, :]
    ssfr_row /= np.abs(ssfr_row).max(axis=1, keepdims=True)
    n, k = colour.size, tpl.mremain.size
    # column by column (contiguous per template): the same operations as on (n, 3)
    # slices, without their copies
    colour_cols, ssfr_cols = colour_row.T.copy(), ssfr_row.T.copy()
    total = np.zeros((k, n))
    count = np.zeros(n)
    for triple in itertools.combinations(range(k), 3):
        idx = list(triple)
        # the colour and sSFR rows are orthogonal to the solution: x ∝ r1 × r2,
        # normalised by the mass row (Cramer's rule with right-hand side (0, 0, 1));
        # the cross product's terms in np.cross's order
        a0, a1, a2 = (colour_cols[i] for i in idx)
        b0, b1, b2 = (ssfr_cols[i] for i in idx)
        d0, d1, d2 = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0
        mass_row = tpl.mremain[idx]
        denom = np.stack([d0, d1, d2], axis=1) @ mass_row
        length = d0 * d0
        length += d1 * d1
        length += d2 * d2
        good = np.abs(denom) > 1e-12 * np.sqrt(length) * np.linalg.norm(mass_row)
        denom = np.where(good, denom, 1.0)
        feasible = good
        for part in (d0, d1, d2):
            part /= denom
            feasible &= part >= -1e-12
        for at, part in zip(idx, (d0, d1, d2), strict=True):
            np.maximum(part, 0.0, out=part)
            part *= feasible
            total[at] += part
        count += feasible
    unmatched = count == 0
    coefficients = total.T / np.maximum(count, 1)[:, None]
    if unmatched.any():
        coefficients[unmatched] = _colour_only(colour_row[unmatched], ssfr[unmatched], tpl)
    return TemplateMix(coefficients * mass[:, None], clipped, unmatched)


def _colour_only(colour_row: np.ndarray, log_ssfr: np.ndarray,
                 tpl: GalaxyTemplates) -> np.ndarray:
    """Unit-mass two-template mixtures meeting the colour; the sSFR closest in log."""
    n, k = colour_row.shape
    best = np.zeros((n, k))
    best_gap = np.full(n, np.inf)
    for i, j in itertools.combinations(range(k), 2):
        a_i, a_j = colour_row[:, i], colour_row[:, j]
        ok = a_i * a_j <= 0
        # a_i x_i + a_j x_j = 0 and M_i x_i + M_j x_j = 1
        denom = tpl.mremain[i] * np.abs(a_j) + tpl.mremain[j] * np.abs(a_i)
        ok &= denom > 0
        x_i = np.where(ok, np.abs(a_j) / np.where(ok, denom, 1.0), 0.0)
        x_j = np.where(ok, np.abs(a_i) / np.where(ok, denom, 1.0), 0.0)
        with np.errstate(divide="ignore"):
            gap = np.abs(np.log10(np.maximum(x_i * tpl.sfr[i] + x_j * tpl.sfr[j], 1e-300))
                         - log_ssfr)
        better = ok & (gap < best_gap)
        best[better] = 0.0
        best[better, i] = x_i[better]
        best[better, j] = x_j[better]
        best_gap[better] = gap[better]
    return best


def rest_colour(coefficients: np.ndarray, templates: GalaxyTemplates | None = None,
                ) -> np.ndarray:
    """(n,) rest-frame g - i (AB) of template mixtures ``coefficients`` (n, K)."""
    tpl = templates or kcorrect_templates()
    coeffs = np.asarray(coefficients, dtype=float)
    return -2.5 * np.log10((coeffs @ tpl.g_flux) / (coeffs @ tpl.i_flux))


#: Colour cells over the templates' clipped range (2.7 mag: ~0.02 mag each).
COLOUR_CELLS = 128
#: Comoving-distance bins of :meth:`BrightestR.at_distance`, over [0, the farthest copy].
DISTANCE_BINS = 4096
#: Relative margin on the per-mass bound (the mixtures' rounding: ~1e-12).
MARGIN = 1e-6
#: Relative margin on the distance-modulus factor (two interpolation tables: ~1e-7).
SCALE_MARGIN = 1e-4


@dataclass(frozen=True, eq=False)
class BrightestR:
    """The most r flux (µJy at 10 pc) per Msun of surviving stars of any template mixture
    of a colour cell, per redshift interval of a component table (module docstring).

    Attributes:
        edges: (C + 1,) colour cell edges (AB rest g - i): the templates' clipped range.
        per_mass: (C, n_z - 1) the bound per colour cell and redshift interval.
        table: the component table (its ``rSDSS`` column and redshift grid).
    """

    edges: np.ndarray
    per_mass: np.ndarray
    table: ComponentTable

    @classmethod
    def of(cls, table: ComponentTable) -> BrightestR:
        """The bound of the :func:`kcorrect_templates` for ``table`` (their component
        table, with ``rSDSS``); cached per table."""
        return _brightest_r(table)

    def cells(self, colour: np.ndarray) -> np.ndarray:
        """(u,) the colour cell of each rest g - i (clipped to the range, as the
        mixtures are)."""
        n = self.edges.size - 1
        clipped = np.clip(colour, self.edges[0], self.edges[-1])
        index = np.floor((clipped - self.edges[0]) / (self.edges[-1] - self.edges[0]) * n)
        return np.clip(index.astype(np.int64), 0, n - 1)

    @staticmethod
    def reaches(bound: np.ndarray, faint: float) -> np.ndarray:
        """(n,) bool: the bounds (µJy) as bright as r = ``faint`` (AB) or brighter; where
        false the galaxy is fainter than ``faint`` whatever its mixture."""
        return bound >= flux_from_ab(faint) * (1.0 - MARGIN)

    def bound(self, colour: np.ndarray, mass: np.ndarray, copy_of: np.ndarray,
              redshift: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """(n,) µJy: at least the r flux of each galaxy copy, whatever its mixture.

        Args:
            colour, mass: (u,) rest g - i (AB) and stellar mass (Msun) of the galaxies.
            copy_of: (n,) each copy's galaxy (index into ``colour``).
            redshift: (n,) observed, inside the table's grid.
            scale: (n,) 10^(-0.4 μ), μ the distance modulus (inf at z = 0: no bound).
        """
        bound = self._per_copy(self.per_mass, colour, mass, copy_of,
                               self.table.upper_index(redshift) - 1)
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(scale), bound * scale, np.inf)

    def bound_at_distance(self, colour: np.ndarray, mass: np.ndarray, copy_of: np.ndarray,
                          distance: np.ndarray, cosmology: Mapping[str, Any],
                          speed: float) -> np.ndarray:
        """:meth:`bound` from the copies' comoving distances (n,; Mpc/h) alone: their
        observed redshifts may be anywhere the peculiar velocity (at most ``speed`` km/s
        along the line of sight; 0 without velocities) takes the cosmological one,
        clipped to 0 below (as the photometry clips them); the distance modulus is at
        least that of the distance bin's near end."""
        farthest = float(distance.max())
        width = max(farthest, 1e-6) / DISTANCE_BINS
        edges = np.arange(DISTANCE_BINS + 2) * width
        # each bin's cosmological redshifts, widened for the rounding of the bin index
        z_lo = redshift_at_comoving_distance(np.maximum(edges[:-1] - 1e-6 * width, 0.0),
                                             cosmology)
        z_hi = redshift_at_comoving_distance(np.minimum(edges[1:] + 1e-6 * width,
                                                        farthest), cosmology)
        beta = speed * (1.0 + 1e-9) / SPEED_OF_LIGHT_KM_S
        grid = self.table.redshift
        low = np.clip((1.0 + z_lo) * (1.0 - beta) - 1.0 - 1e-12, grid[0], grid[-1])
        high = np.clip((1.0 + z_hi) * (1.0 + beta) - 1.0 + 1e-12, grid[0], grid[-1])
        # table intervals reached (one more either side for rounding)
        first = np.maximum(self.table.upper_index(low) - 2, 0)
        last = np.minimum(self.table.upper_index(high), grid.size - 2)
        window = _window_max(self.per_mass, int((last - first).max()) + 1)
        with np.errstate(over="ignore"):
            scale = 10.0 ** (-0.4 * distance_modulus(z_lo, cosmology)) * (1.0 + SCALE_MARGIN)
        # (C, bins); no bound in the first bin (z = 0: μ = -inf)
        bound = np.where(np.isfinite(scale), window[:, first] * scale, np.inf)
        bins = np.minimum((distance / width).astype(np.int64), DISTANCE_BINS)
        return self._per_copy(bound, colour, mass, copy_of, bins)

    def _per_copy(self, per_mass: np.ndarray, colour: np.ndarray, mass: np.ndarray,
                  copy_of: np.ndarray, column: np.ndarray) -> np.ndarray:
        """(n,) ``per_mass[cell of the copy's colour, column] * its mass``; per_mass
        (C, m) per colour cell, column (n,) an index into its second axis."""
        values = per_mass.ravel()[self.cells(colour)[copy_of] * per_mass.shape[1] + column]
        values *= mass[copy_of]
        return values


def _window_max(values: np.ndarray, width: int) -> np.ndarray:
    """(C, m) maximum of ``values[:, j:j + width]`` (cut at the end), by doubling."""
    out = values.copy()
    covered = 1
    while covered < width:
        step = min(covered, width - covered)
        np.maximum(out[:, :-step], out[:, step:], out=out[:, :-step])
        covered += step
    return out


@lru_cache(maxsize=8)
def _brightest_r(table: ComponentTable) -> BrightestR:
    templates = kcorrect_templates()
    lo, hi = templates.colour_range
    r = table.table[:, :, table.filter_names.index("rSDSS")]  # (n_z, K)
    node_max = np.maximum(r[:-1], r[1:]).T  # (K, n_z - 1): each interval's larger node
    edges = np.linspace(lo, hi, COLOUR_CELLS + 1)
    # each cell's ends in ρ = 10^(-0.4 colour), widened for the rounding of the cell index
    rho_blue = 10.0 ** (-0.4 * (edges[:-1] - 1e-6))
    rho_red = 10.0 ** (-0.4 * (edges[1:] + 1e-6))
    g, i_flux, mremain = templates.g_flux, templates.i_flux, templates.mremain
    own = g / i_flux  # template k's own ρ: where G_k - ρ I_k changes sign
    best = np.zeros((COLOUR_CELLS, node_max.shape[1]))
    for i, j in itertools.combinations(range(own.size), 2):
        low, high = sorted((own[i], own[j]))
        # the part of each cell where the pair is feasible (colours either side of ρ)
        a, b = np.maximum(rho_red, low), np.minimum(rho_blue, high)
        feasible = a <= b
        for rho in (a[feasible], b[feasible]):
            c_i = np.abs(g[i] - rho * i_flux[i])
            c_j = np.abs(g[j] - rho * i_flux[j])
            denom = mremain[i] * c_j + mremain[j] * c_i
            value = (c_j[:, None] * node_max[i] + c_i[:, None] * node_max[j]) / denom[:, None]
            best[feasible] = np.maximum(best[feasible], value)
    return BrightestR(edges, best * (1.0 + MARGIN), table)
