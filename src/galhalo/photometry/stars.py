"""Stars: approximate spectra, number counts at high Galactic latitude, a source catalog.

**Spectra.** ``kcorrect`` ships only two BaSeL model spectra (Lejeune et al. 1997, in
``data/basel``): the Sun (5777 K, log g 4.44) and Vega (9400 K, log g 3.9,
[M/H] = -0.5). A star of effective temperature T is a Planck spectrum times a
line-blanketing factor R(λ, T): ``ln R`` is the Sun's ``ln(F/B_T)`` and Vega's (each
normalised to 0 at 5000-9000 Å) interpolated linearly in 1/T between 5777 and 9400 K,
extrapolated (at most to twice the Sun's) below 5777 K and held at Vega's above
9400 K; below 5777 K an extra near-UV blanketing (:data:`COOL_UV`) gives K and M dwarfs
their red u−g. A metallicity-like factor η in [0.4, 1] scales ``ln R`` (η < 1: less UV
blanketing and a weaker Balmer jump, as in metal-poor halo stars). This gives the
broad-band loci that matter here (blue F/G turnoff stars at u−g ≈ 0.8-1.2, g−r ≈
0.2-0.4, where z ≈ 2.7-3 quasars also fall; A/BHB stars with a Balmer jump; red K/M
dwarfs), but no molecular bands (M-dwarf TiO), no gravity dependence and no real
metallicity grid: narrow-band features of individual stars are only indicative.

**Population.** Fixed fractions (:data:`POPULATIONS`): metal-poor halo turnoff stars,
disk G/K dwarfs, disk M dwarfs, blue horizontal-branch/A stars and hot white dwarfs
(the latter overlap low-z quasars in u−g), each with a T and η distribution.

**Counts.** ``dN/dr = A 10^{b (r - 20)}`` stars deg⁻² mag⁻¹ with ``A = 350`` and
``b = 0.10`` at |b_gal| = 60°, scaled by ``sin 60° / sin |b_gal|`` (a plane-parallel
disk); a rough fit to the SDSS high-latitude star counts at 17 < r < 23 (Jurić et al.
2008, ~2500 stars deg⁻² at r < 22 near the Galactic poles), within ~30 %.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
import pandas as pd

from ..errors import PhotometryError
from .filters import FilterSet, kcorrect_data
from .lightcone import sky_positions
from .sources import flux_columns, text_column
from .synthetic import band_fluxes, flux_from_ab

__all__ = [
    "COUNT_AMPLITUDE",
    "COUNT_SLOPE",
    "POPULATIONS",
    "basel_spectrum",
    "star_counts",
    "star_sources",
    "stellar_spectrum",
]

#: Differential counts at r = 20 and |b| = 60°, stars deg⁻² mag⁻¹, and their slope.
COUNT_AMPLITUDE, COUNT_SLOPE = 350.0, 0.10
#: name: (fraction, T mean (K), T sigma (K), T min, T max, η min, η max).
POPULATIONS: dict[str, tuple[float, ...]] = {
    "halo_turnoff": (0.47, 6300.0, 450.0, 5200.0, 7500.0, 0.4, 0.7),
    "disk_gk": (0.17, 5000.0, 600.0, 4000.0, 6500.0, 0.8, 1.0),
    "disk_m": (0.32, 3500.0, 300.0, 3000.0, 4000.0, 0.8, 1.0),
    "bhb_a": (0.03, 8500.0, 800.0, 7500.0, 10500.0, 0.4, 0.7),
    "white_dwarf": (0.01, 15000.0, 5000.0, 8000.0, 30000.0, 0.4, 0.6),
}
_SUN_T, _VEGA_T = 5777.0, 9400.0
#: Extra near-UV blanketing of stars cooler than the Sun (ln R per unit T_sun/T - 1,
#: ramping in below 4200 Å; saturating at T_sun/T - 1 = 0.35), tuned to the u-g of
#: K and early-M dwarfs (≈ 2.2 at 4500 K, ≈ 2.6 at 4000 K).
COOL_UV, COOL_SATURATION = 3.7, 0.35
_H_C_K = 1.4387769e8  # h c / k in Å K
_WAVELENGTH_RANGE = (2000.0, 12500.0)
_TEFF_GRID = np.exp(np.linspace(np.log(3000.0), np.log(30000.0), 96))
_ETA_GRID = np.linspace(0.4, 1.0, 7)


@cache
def basel_spectrum(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(wavelength (m,) Å, f_λ (m,) arbitrary units) of kcorrect's BaSeL ``"sun"`` or
    ``"vega"`` model, restricted to 2000-12500 Å."""
    if name not in ("sun", "vega"):
        raise PhotometryError(f"BaSeL spectrum must be 'sun' or 'vega', got {name!r}")
    path = kcorrect_data("basel", f"lcb{name}.ori")
    try:
        text = path.read_text()
    except OSError as error:
        raise PhotometryError(f"cannot read kcorrect's BaSeL file {path}: {error}") from None
    lines = text.splitlines()
    wave_lines, n_wave = 0, 0
    values: list[float] = []
    while n_wave < 1221:
        row = [float(v) for v in lines[wave_lines].split()]
        values.extend(row)
        n_wave += len(row)
        wave_lines += 1
    wavelength = np.array(values[:1221]) * 10.0  # nm -> Å
    flux_text = "".join(line.ljust(77)[:77] for line in lines[wave_lines + 1:])
    h_nu = np.array([float(flux_text[i:i + 11]) for i in range(0, 1221 * 11, 11)])
    f_lambda = h_nu / wavelength**2
    keep = (wavelength >= _WAVELENGTH_RANGE[0]) & (wavelength <= _WAVELENGTH_RANGE[1])
    return wavelength[keep], f_lambda[keep]


def _planck(wavelength: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """B_λ(T) up to a constant, shape (n_T, m)."""
    x = _H_C_K / (wavelength[None, :] * np.asarray(teff, float)[:, None])
    return wavelength[None, :] ** -5 / np.expm1(x)


@cache
def _blanketing() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wavelength, ln R_sun, ln R_vega), each ln R normalised to median 0 at 5-9 kÅ."""
    wave, sun = basel_spectrum("sun")
    wave_v, vega = basel_spectrum("vega")
    if not np.array_equal(wave, wave_v):
        raise PhotometryError("kcorrect's BaSeL Sun and Vega files have different grids")
    out = []
    for flux, teff in ((sun, _SUN_T), (vega, _VEGA_T)):
        log_ratio = np.log(np.clip(flux, 1e-300, None) / _planck(wave, np.array([teff]))[0])
        optical = (wave > 5000) & (wave < 9000)
        out.append(log_ratio - np.median(log_ratio[optical]))
    return wave, out[0], out[1]


def stellar_spectrum(teff: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(wavelength (m,) Å, f_λ (n, m)) of stars with temperatures ``teff`` (n,) K and
    blanketing factors ``eta`` (n,), normalised to 1 at 5500 Å (see the module doc)."""
    t = np.atleast_1d(np.asarray(teff, dtype=float))
    e = np.broadcast_to(np.asarray(eta, dtype=float), t.shape)
    if not (np.isfinite(t).all() and (t >= 2000).all() and (t <= 50000).all()):
        raise PhotometryError("stellar_spectrum: teff must lie in 2000-50000 K")
    wave, r_sun, r_vega = _blanketing()
    weight = (1.0 / t - 1.0 / _VEGA_T) / (1.0 / _SUN_T - 1.0 / _VEGA_T)
    weight = np.clip(weight, 0.0, 2.0)[:, None]
    log_r = e[:, None] * (weight * r_sun[None, :] + (1.0 - weight) * r_vega[None, :])
    # cooler than the Sun: extra near-UV blanketing, saturating below ~4300 K
    cool = np.clip(_SUN_T / t - 1.0, 0.0, COOL_SATURATION)[:, None]
    log_r -= COOL_UV * cool * np.clip((4200.0 - wave) / 1000.0, 0.0, 1.0)[None, :]
    flux = _planck(wave, t) * np.exp(log_r)
    at_5500 = np.array([np.interp(5500.0, wave, row) for row in flux])
    return wave, flux / at_5500[:, None]


@lru_cache(maxsize=8)
def _grid_colours(filters: FilterSet) -> np.ndarray:
    """(n_T, n_eta, n_filters) band fluxes of the model grid, each star scaled to 1 µJy
    in rSDSS."""
    teff, eta = np.meshgrid(_TEFF_GRID, _ETA_GRID, indexing="ij")
    wave, flux = stellar_spectrum(teff.ravel(), eta.ravel())
    fluxes = band_fluxes(wave, flux, filters)
    r = fluxes[:, filters.names.index("rSDSS")]
    return (fluxes / r[:, None]).reshape((*teff.shape, len(filters)))


def star_counts(magnitude: np.ndarray, latitude: float = 60.0) -> np.ndarray:
    """Differential star counts dN/dr (deg⁻² mag⁻¹) at true r ``magnitude`` and Galactic
    latitude ``latitude`` (deg, |b| >= 20)."""
    if not np.isfinite(latitude) or abs(latitude) < 20 or abs(latitude) > 90:
        raise PhotometryError(f"star counts need 20 <= |latitude| <= 90 deg, got {latitude}")
    scale = np.sin(np.radians(60.0)) / np.sin(np.radians(abs(latitude)))
    mag = np.asarray(magnitude, dtype=float)
    return scale * COUNT_AMPLITUDE * 10.0 ** (COUNT_SLOPE * (mag - 20.0))


def _draw_population(rng: np.random.Generator, n: int) -> tuple[object, np.ndarray, np.ndarray]:
    names = list(POPULATIONS)
    fractions = np.array([POPULATIONS[name][0] for name in names])
    which = rng.choice(len(names), size=n, p=fractions / fractions.sum())
    teff = np.empty(n)
    eta = np.empty(n)
    for index, name in enumerate(names):
        _, mean, sigma, low, high, eta_low, eta_high = POPULATIONS[name]
        rows = np.flatnonzero(which == index)
        teff[rows] = np.clip(rng.normal(mean, sigma, rows.size), low, high)
        eta[rows] = rng.uniform(eta_low, eta_high, rows.size)
    return text_column(names, which), teff, eta


def star_sources(area_deg2: float, filters: FilterSet, seed,
                 r_range: tuple[float, float] = (17.0, 23.6), latitude: float = 60.0,
                 ) -> pd.DataFrame:
    """A star source catalog over ``area_deg2`` at Galactic ``latitude``: Poisson number
    from :func:`star_counts`, r magnitudes from its inverse CDF, population, T and η as
    in :data:`POPULATIONS` (η rounded to the model grid's step of 0.1); band fluxes
    interpolated linearly in ln T on a precomputed model grid. Columns:
    ``source_class`` ("star"), ``redshift`` (0), ``mag_r``, ``flux_<f>`` (µJy), ``teff``,
    ``eta``, ``population``, ``ra``, ``dec`` (deg, uniform over the circular patch of
    :func:`.lightcone.sky_positions`). ``filters`` must contain ``rSDSS``. Same seed,
    same catalog."""
    if "rSDSS" not in filters.names:
        raise PhotometryError("star_sources: the filter set has no 'rSDSS' band")
    if not np.isfinite(area_deg2) or area_deg2 <= 0:
        raise PhotometryError(f"area must be > 0 deg², got {area_deg2}")
    lo, hi = float(r_range[0]), float(r_range[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise PhotometryError(f"r_range must be bright < faint, got {r_range}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    scale = star_counts(20.0, latitude) / COUNT_AMPLITUDE
    slope = COUNT_SLOPE * np.log(10.0)
    # ∫ A e^{slope (r - 20)} dr over [lo, hi]
    expected = area_deg2 * scale * COUNT_AMPLITUDE * (
        np.exp(slope * (hi - 20)) - np.exp(slope * (lo - 20))) / slope
    n = int(rng.poisson(expected))
    u = rng.uniform(size=n)
    mag = 20.0 + np.log(np.exp(slope * (lo - 20)) + u * (
        np.exp(slope * (hi - 20)) - np.exp(slope * (lo - 20)))) / slope
    population, teff, eta = _draw_population(rng, n)
    grid = _grid_colours(filters)
    x = (np.log(teff) - np.log(_TEFF_GRID[0])) / (np.log(_TEFF_GRID[1] / _TEFF_GRID[0]))
    ix = np.clip(x.astype(int), 0, _TEFF_GRID.size - 2)
    iy = np.clip(np.rint((eta - _ETA_GRID[0]) / (_ETA_GRID[1] - _ETA_GRID[0])).astype(int),
                 0, _ETA_GRID.size - 1)
    eta = _ETA_GRID[iy]
    fx = (x - ix)[:, None]
    colours = grid[ix, iy] * (1.0 - fx) + grid[ix + 1, iy] * fx
    fluxes = colours * flux_from_ab(mag)[:, None]
    frame = pd.DataFrame(fluxes, columns=flux_columns(filters.names))
    frame.insert(0, "mag_r", mag)
    frame.insert(0, "redshift", 0.0)
    frame.insert(0, "source_class", text_column(["star"], np.zeros(n, dtype=int)))
    frame["teff"] = teff
    frame["eta"] = eta
    frame["population"] = population
    frame["ra"], frame["dec"] = sky_positions(n, area_deg2, rng)
    return frame
