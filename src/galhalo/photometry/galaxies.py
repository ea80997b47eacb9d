"""Galaxy SEDs and photometry from a galhalo mock (kcorrect templates).

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

**Photometry** (:func:`galaxy_sources`). The mixture is computed once per catalog row
(a light-cone repeats each galaxy in several box replicas). Observed fluxes come from a
:class:`ComponentTable` of the 5 templates on a redshift grid (step 2e-4 in ln(1+z),
:meth:`ComponentTable.build`, built once per filter set and cached; linear interpolation
between grid points: within 0.5% of direct integration, the templates' emission lines
crossing the 10 Å filter edges included) times 10^(-0.4 μ) with μ the distance
modulus at the cosmological redshift; the SED is redshifted to the observed redshift
(peculiar velocity included). Stellar masses are the catalog's ``smass`` (log10
Msun/h) divided by h. **No evolution**: the galaxy properties are those of the box's
snapshot at every redshift. With an r range (``r_range``) every galaxy's r flux is
computed first and the other bands only for the galaxies in the range, as
:func:`~galhalo.photometry.quasars.quasar_sources` does. Nothing is random here: the
SED is a deterministic function of (colour, sSFR, mass); no dust or emission lines
beyond what the templates contain.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd

from ..catalog import Catalog
from ..errors import PhotometryError
from .distances import distance_modulus, flat_lcdm
from .filters import FilterSet, jpas_like, kcorrect_data, sdss
from .lightcone import box_at_redshift, light_cone
from .sources import flux_columns
from .synthetic import ComponentTable, ab_magnitude, band_fluxes

__all__ = [
    "GalaxyTemplates",
    "TemplateMix",
    "galaxy_sources",
    "kcorrect_templates",
    "mock_galaxies",
    "rest_colour",
    "template_coefficients",
]

_SFR_TIMESCALE_YR = 3e8
_COLOUR_MARGIN = 0.01
_NEEDED = ("smass", "color", "sSFR")


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
    lo, hi = tpl.rest_colour.min() + _COLOUR_MARGIN, tpl.rest_colour.max() - _COLOUR_MARGIN
    clipped = (colour < lo) | (colour > hi)
    colour = np.clip(colour, lo, hi)
    rho = 10.0 ** (-0.4 * colour)
    colour_row = tpl.g_flux[None, :] - rho[:, None] * tpl.i_flux[None, :]
    colour_row /= np.abs(colour_row).max(axis=1, keepdims=True)
    ssfr_row = tpl.sfr[None, :] - 10.0 ** ssfr[:, None] * tpl.mremain[None, :]
    ssfr_row /= np.abs(ssfr_row).max(axis=1, keepdims=True)
    n, k = colour.size, tpl.mremain.size
    total = np.zeros((n, k))
    count = np.zeros(n)
    for triple in itertools.combinations(range(k), 3):
        idx = list(triple)
        # the colour and sSFR rows are orthogonal to the solution: x ∝ r1 × r2,
        # normalised by the mass row (Cramer's rule with right-hand side (0, 0, 1))
        direction = np.cross(colour_row[:, idx], ssfr_row[:, idx])
        mass_row = tpl.mremain[idx]
        denom = direction @ mass_row
        good = np.abs(denom) > 1e-12 * np.linalg.norm(direction, axis=1) * np.linalg.norm(
            mass_row)
        solution = direction / np.where(good, denom, 1.0)[:, None]
        feasible = good & (solution >= -1e-12).all(axis=1)
        total[:, idx] += np.where(feasible[:, None], np.clip(solution, 0.0, None), 0.0)
        count += feasible
    unmatched = count == 0
    coefficients = total / np.maximum(count, 1)[:, None]
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


def galaxy_sources(catalog: Catalog, placement: pd.DataFrame, filters: FilterSet | None = None,
                   *, redshift_step: float = 2e-4,
                   r_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """The source catalog (``source_class`` ``"galaxy"``) of placed galaxies.

    Args:
        catalog: the galhalo catalog (``smass``, ``color``, ``sSFR``; ``meta.cosmology``).
        placement: from :func:`~galhalo.photometry.lightcone.light_cone` or
            :func:`~galhalo.photometry.lightcone.box_at_redshift` (``row``, ``redshift``,
            ``redshift_cosmological``, ``ra``, ``dec``).
        filters: default :func:`jpas_like`; ``mag_r`` always uses ``rSDSS``.
        redshift_step: grid step of the :class:`ComponentTable` in ln(1+z).
        r_range: (bright, faint) true AB ``rSDSS`` magnitudes: keep only the galaxies with
            bright <= ``mag_r`` < faint (the cut of
            :func:`~galhalo.photometry.mixture.mixed_sample`). Every galaxy's SED mixture
            and r flux are computed, the other bands only for the galaxies kept: the same
            rows and numbers as photometering all and cutting afterwards, at a fraction of
            the cost when most galaxies are fainter. ``filters`` must then contain
            ``rSDSS`` (PhotometryError naming it otherwise). None: no cut.

    Returns:
        DataFrame: ``source_class``, ``redshift``, ``mag_r``, ``flux_<filter>`` (µJy) in
        the filter order, ``ra``, ``dec``, ``redshift_cosmological``, ``smass``, ``color``,
        ``sSFR`` (and ``halo_id`` if the catalog has it), one row per placed galaxy (in
        the placement's order; with ``r_range`` the kept ones). ``attrs["sed"]`` counts
        the returned galaxies whose colour was clipped, whose sSFR was not matched or
        whose negative redshift was clipped to 0; with ``r_range``, ``attrs["r_cut"]``
        holds the range, the galaxies placed and the galaxies kept.
    """
    filters = filters or jpas_like()
    table = catalog.table
    missing = [name for name in _NEEDED if name not in table.columns]
    if missing:
        raise PhotometryError(f"catalog has no column '{missing[0]}' (galaxy SEDs need "
                              f"{', '.join(_NEEDED)})")
    absent = [name for name in ("row", "redshift", "redshift_cosmological", "ra", "dec")
              if name not in placement.columns]
    if absent:
        raise PhotometryError(f"galaxy placement has no column '{absent[0]}' (make it with "
                              f"light_cone or box_at_redshift)")
    if r_range is not None:
        lo, hi = float(r_range[0]), float(r_range[1])
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise PhotometryError(f"galaxy r_range must be two finite magnitudes, bright < "
                                  f"faint; got {r_range}")
        if "rSDSS" not in filters.names:
            raise PhotometryError("galaxy r_range: the filter set has no 'rSDSS' band (the "
                                  "band of mag_r and of the cut)")
    _, hubble = flat_lcdm(catalog.meta.cosmology)
    rows = placement["row"].to_numpy()
    # a light-cone repeats each catalog galaxy in many box replicas: one SED mixture per
    # catalog row, shared by its copies
    unique, copy_of = np.unique(rows, return_inverse=True)
    props = table[[name for name in (*_NEEDED, "halo_id") if name in table.columns]]
    props = props.iloc[unique]
    values = props[list(_NEEDED)].to_numpy(float)
    if not np.isfinite(values).all():
        at, column = np.argwhere(~np.isfinite(values))[0]
        raise PhotometryError(f"catalog row {int(unique[at])}: column '{_NEEDED[column]}' "
                              f"is NaN or infinite (galaxy SEDs need finite values)")
    mix = template_coefficients(props["color"].to_numpy(float), props["sSFR"].to_numpy(float),
                                10.0 ** props["smass"].to_numpy(float) / (hubble / 100.0))
    bands = filters if "rSDSS" in filters.names else filters + jpas_like().select(["rSDSS"])
    z_obs = placement["redshift"].to_numpy(float)
    z_cos = placement["redshift_cosmological"].to_numpy(float)
    blueshifted = z_obs < 0  # a galaxy next to the observer, falling towards it
    z_obs = np.where(blueshifted, 0.0, z_obs)
    table_z = _component_table(bands, float(z_obs.max()), redshift_step)
    scale = 10.0 ** (-0.4 * distance_modulus(z_cos, catalog.meta.cosmology))
    coefficients = mix.coefficients[copy_of]
    keep = np.arange(rows.size)
    if r_range is not None:
        # r first, every band only for the galaxies in the range (most are fainter)
        mag_r = ab_magnitude(table_z.fluxes(z_obs, coefficients, ["rSDSS"])[:, 0] * scale)
        keep = np.flatnonzero((mag_r >= lo) & (mag_r < hi))
        z_obs, z_cos, scale, coefficients = (z_obs[keep], z_cos[keep], scale[keep],
                                             coefficients[keep])
    fluxes = table_z.fluxes(z_obs, coefficients) * scale[:, None]
    order = [bands.names.index(name) for name in filters.names]
    # one 2-D block for the fluxes (a dict of strided columns is slow to stack)
    out = pd.DataFrame(fluxes[:, order], columns=flux_columns(filters.names))
    out.insert(0, "mag_r", ab_magnitude(fluxes[:, bands.names.index("rSDSS")]))
    out.insert(0, "redshift", z_obs)
    out.insert(0, "source_class", np.full(z_obs.size, "galaxy", dtype=object))
    out["ra"] = placement["ra"].to_numpy(float)[keep]
    out["dec"] = placement["dec"].to_numpy(float)[keep]
    out["redshift_cosmological"] = z_cos
    for name in ("smass", "color", "sSFR", "halo_id"):
        if name in props.columns:
            out[name] = props[name].to_numpy()[copy_of[keep]]
    out.attrs["sed"] = {"colour_clipped": int(mix.colour_clipped[copy_of[keep]].sum()),
                        "ssfr_unmatched": int(mix.ssfr_unmatched[copy_of[keep]].sum()),
                        "blueshift_clipped": int(blueshifted[keep].sum())}
    if r_range is not None:
        out.attrs["r_cut"] = {"r_range": [lo, hi], "placed": int(rows.size),
                              "kept": int(keep.size)}
    return out


def _component_table(filters: FilterSet, z_max: float, step: float) -> ComponentTable:
    """The 5 templates' table on [0, z_top], z_top = z_max rounded up to 0.5 (so that one
    table, cached per filter set, serves every call), step ``step`` in ln(1+z). Where the
    templates cover the filters up to ``z_max`` but not up to z_top, the table stops at
    ``z_max``; where they do not cover them at ``z_max`` either, the error names it."""
    if not step > 0:
        raise PhotometryError(f"redshift_step must be > 0, got {step}")
    try:
        return _cached_table(filters, max(math.ceil(2.0 * z_max) / 2.0, 0.5), float(step))
    except PhotometryError:
        return _cached_table(filters, float(z_max), float(step))


@lru_cache(maxsize=8)
def _cached_table(filters: FilterSet, z_top: float, step: float) -> ComponentTable:
    tpl = kcorrect_templates()
    return ComponentTable.build(tpl.rest_wavelength, tpl.flux, filters, z_top,
                                log_step=step, resolution=min(step, 1e-4))


def mock_galaxies(catalog: Catalog, filters: FilterSet | None = None, *,
                  z_max: float | None = None, area: float | None = None,
                  redshift: float | None = None, z_min: float = 0.0,
                  velocities: bool = True, redshift_step: float = 2e-4,
                  r_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """Galaxy source catalog of a mock: a light-cone (``z_max`` and ``area`` deg²) or the
    box placed at ``redshift`` (exactly one of the two), with ``r_range`` only the
    galaxies of true r in it. See :func:`galaxy_sources`."""
    if (redshift is None) == (z_max is None or area is None):
        raise PhotometryError("give either z_max and area (a light-cone) or redshift "
                              "(the box placed at a redshift)")
    if redshift is not None:
        placement = box_at_redshift(catalog, redshift, velocities=velocities)
    else:
        placement = light_cone(catalog, float(z_max), float(area), z_min=z_min,
                               velocities=velocities)
    return galaxy_sources(catalog, placement, filters, redshift_step=redshift_step,
                          r_range=r_range)
