"""Galaxy photometry from a galhalo mock: the galaxies' template mixtures
(:mod:`.templates`, kcorrect) seen on a light-cone or in a box at a redshift.

**Photometry** (:func:`galaxy_sources`). The mixture is computed once per catalog row
(a light-cone repeats each galaxy in several box replicas). Observed fluxes come from a
:class:`ComponentTable` of the 5 templates on a redshift grid (step 2e-4 in ln(1+z),
:meth:`ComponentTable.build`, built once per filter set and cached; linear interpolation
between grid points: within 0.5% of direct integration, the templates' emission lines
crossing the 10 Å filter edges included) times 10^(-0.4 μ) with μ the distance
modulus at the cosmological redshift; the SED is redshifted to the observed redshift
(peculiar velocity included). Stellar masses are the catalog's ``smass`` (log10
Msun/h) divided by h. **No evolution**: the galaxy properties are those of the box's
snapshot at every redshift. Nothing is random here: the SED is a deterministic
function of (colour, sSFR, mass); no dust or emission lines beyond what the templates
contain.

**An r range** (``r_range``). Most galaxies of a deep light-cone are far fainter than a
survey's limit. Those that no template mixture of their colour and stellar mass could
make as bright as the faint end (:class:`.templates.BrightestR`, a provable bound) are
skipped before their mixture is solved; the others get their r flux, and the galaxies
in the range every band, as :func:`~galhalo.photometry.quasars.quasar_sources` does.
:func:`mock_galaxies` skips a light-cone's faint copies by their comoving distance
alone, before placing them on the sky. The rows and numbers are those of photometering
every galaxy and cutting afterwards, bit for bit (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ..catalog import Catalog
from ..errors import PhotometryError
from .distances import SPEED_OF_LIGHT_KM_S, comoving_distance, distance_modulus, flat_lcdm
from .filters import FilterSet, jpas_like
from .lightcone import _cone_copies, _ConeCopies, box_at_redshift, light_cone
from .sources import flux_columns, text_column
from .synthetic import ComponentTable, ab_magnitude
from .templates import (
    BrightestR,
    GalaxyTemplates,
    TemplateMix,
    kcorrect_templates,
    rest_colour,
    template_coefficients,
)

__all__ = [
    "GalaxyTemplates",
    "TemplateMix",
    "galaxy_sources",
    "kcorrect_templates",
    "mock_galaxies",
    "rest_colour",
    "template_coefficients",
]

_NEEDED = ("smass", "color", "sSFR")


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
            :func:`~galhalo.photometry.mixture.mixed_sample`). The galaxies the r bound
            (module docstring) puts fainter are skipped, the others get their SED mixture
            and r flux, the galaxies kept every band: the same rows and numbers as
            photometering all and cutting afterwards, at a fraction of the cost when
            most galaxies are fainter. ``filters`` must then contain ``rSDSS``
            (PhotometryError naming it otherwise). None: no cut.

    Returns:
        DataFrame: ``source_class``, ``redshift``, ``mag_r``, ``flux_<filter>`` (µJy) in
        the filter order, ``ra``, ``dec``, ``redshift_cosmological``, ``smass``, ``color``,
        ``sSFR`` (and ``halo_id`` if the catalog has it), one row per placed galaxy (in
        the placement's order; with ``r_range`` the kept ones). ``attrs["sed"]`` counts
        the returned galaxies whose colour was clipped, whose sSFR was not matched or
        whose negative redshift was clipped to 0; with ``r_range``, ``attrs["r_cut"]``
        holds the range, the galaxies placed, those photometered in r (the others are
        fainter by the bound) and those kept.
    """
    filters = filters or jpas_like()
    _check_catalog(catalog)
    absent = [name for name in ("row", "redshift", "redshift_cosmological", "ra", "dec")
              if name not in placement.columns]
    if absent:
        raise PhotometryError(f"galaxy placement has no column '{absent[0]}' (make it with "
                              f"light_cone or box_at_redshift)")
    cut = _r_cut(r_range, filters)
    inputs = _sed_inputs(catalog, placement["row"].to_numpy())
    z_obs = np.maximum(placement["redshift"].to_numpy(float), 0.0)
    table_z = _component_table(_bands(filters), float(z_obs.max()), redshift_step)
    return _photometry(catalog, placement, filters, table_z, cut, inputs)


def _check_catalog(catalog: Catalog) -> None:
    missing = [name for name in _NEEDED if name not in catalog.table.columns]
    if missing:
        raise PhotometryError(f"catalog has no column '{missing[0]}' (galaxy SEDs need "
                              f"{', '.join(_NEEDED)})")


def _r_cut(r_range: tuple[float, float] | None, filters: FilterSet,
           ) -> tuple[float, float] | None:
    """The checked (bright, faint) r range, or None."""
    if r_range is None:
        return None
    lo, hi = float(r_range[0]), float(r_range[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise PhotometryError(f"galaxy r_range must be two finite magnitudes, bright < "
                              f"faint; got {r_range}")
    if "rSDSS" not in filters.names:
        raise PhotometryError("galaxy r_range: the filter set has no 'rSDSS' band (the "
                              "band of mag_r and of the cut)")
    return lo, hi


def _bands(filters: FilterSet) -> FilterSet:
    """``filters`` with ``rSDSS`` (the band of ``mag_r``) appended if absent."""
    return filters if "rSDSS" in filters.names else filters + jpas_like().select(["rSDSS"])


@dataclass(frozen=True)
class _SedInputs:
    """Placed galaxy copies' catalog rows: ``unique`` (u,) rows, ``copy_of`` (n,) each
    copy's index into them, ``values`` (u, 3) their ``_NEEDED`` columns, ``mass`` (u,)
    stellar mass in Msun."""

    unique: np.ndarray
    copy_of: np.ndarray
    values: np.ndarray
    mass: np.ndarray

    def take(self, copies: np.ndarray) -> _SedInputs:
        """The inputs of the copies ``copies`` (indices, ascending) alone."""
        kept, copy_of = _unique_rows(self.copy_of[copies], self.unique.size)
        return _SedInputs(self.unique[kept], copy_of, self.values[kept], self.mass[kept])


def _sed_inputs(catalog: Catalog, rows: np.ndarray) -> _SedInputs:
    """The SED inputs of galaxy copies at catalog ``rows`` (n,): a light-cone repeats each
    catalog galaxy in many box replicas, so one SED mixture per catalog row, shared by its
    copies. PhotometryError naming the first row with a NaN or infinite input."""
    table = catalog.table
    _, hubble = flat_lcdm(catalog.meta.cosmology)
    unique, copy_of = _unique_rows(rows, len(table))
    values = table[list(_NEEDED)].to_numpy(float)[unique]
    if not np.isfinite(values).all():
        at, column = np.argwhere(~np.isfinite(values))[0]
        raise PhotometryError(f"catalog row {int(unique[at])}: column '{_NEEDED[column]}' "
                              f"is NaN or infinite (galaxy SEDs need finite values)")
    return _SedInputs(unique, copy_of, values, 10.0 ** values[:, 0] / (hubble / 100.0))


def _photometry(catalog: Catalog, placement: pd.DataFrame, filters: FilterSet,
                table_z: ComponentTable, cut: tuple[float, float] | None,
                inputs: _SedInputs, placed_count: int | None = None,
                z_cos_max: float = 0.0) -> pd.DataFrame:
    """:func:`galaxy_sources` of checked input, with the component table ``table_z``
    (of the filters and ``rSDSS``) and the copies' SED inputs. For part of a larger
    placement: ``placed_count`` its galaxies (for ``attrs["r_cut"]``; default: this
    placement's) and ``z_cos_max`` its largest cosmological redshift (the distance
    table's reach, so that the distance moduli are those of the whole)."""
    table = catalog.table
    bands = _bands(filters)
    rows = placement["row"].to_numpy()
    z_obs = placement["redshift"].to_numpy(float)
    z_cos = placement["redshift_cosmological"].to_numpy(float)
    blueshifted = z_obs < 0  # a galaxy next to the observer, falling towards it
    z_obs = np.where(blueshifted, 0.0, z_obs)
    scale = 10.0 ** (-0.4 * distance_modulus(z_cos, catalog.meta.cosmology,
                                             table_max=z_cos_max))
    placed = np.arange(rows.size)
    if cut is not None:
        # galaxies that no mixture of their colour and mass could make brighter than the
        # faint end are skipped before their SED is built (most of a deep cone's are)
        brightest = BrightestR.of(table_z)
        bright = brightest.reaches(brightest.bound(inputs.values[:, 1], inputs.mass,
                                                   inputs.copy_of, z_obs, scale), cut[1])
        if not bright.all():
            placed = np.flatnonzero(bright)
            inputs = inputs.take(placed)
            z_obs, z_cos, scale = z_obs[placed], z_cos[placed], scale[placed]
    photometered = z_obs.size
    mix = template_coefficients(inputs.values[:, 1], inputs.values[:, 2], inputs.mass)
    copy_of = inputs.copy_of
    coefficients = mix.coefficients[copy_of]
    keep = np.arange(z_obs.size)
    if cut is not None:
        # r first, every band only for the galaxies in the range (most are fainter)
        mag_r = ab_magnitude(table_z.fluxes(z_obs, coefficients, ["rSDSS"])[:, 0] * scale)
        keep = np.flatnonzero((mag_r >= cut[0]) & (mag_r < cut[1]))
        z_obs, z_cos, scale, coefficients = (z_obs[keep], z_cos[keep], scale[keep],
                                             coefficients[keep])
    raw = table_z.fluxes(z_obs, coefficients)
    # the flux block straight in the frame's layout (filters × galaxies), one copy
    block = raw.T[[bands.names.index(name) for name in filters.names]]
    block *= scale
    kept_rows = inputs.unique[copy_of[keep]]
    placed = placed[keep]
    out = pd.DataFrame(block.T, columns=flux_columns(filters.names), copy=False)
    out.insert(0, "mag_r", ab_magnitude(raw[:, bands.names.index("rSDSS")] * scale))
    out.insert(0, "redshift", z_obs)
    out.insert(0, "source_class", text_column(["galaxy"], np.zeros(z_obs.size, dtype=int)))
    out["ra"] = placement["ra"].to_numpy(float)[placed]
    out["dec"] = placement["dec"].to_numpy(float)[placed]
    out["redshift_cosmological"] = z_cos
    for name in ("smass", "color", "sSFR", "halo_id"):
        if name in table.columns:
            out[name] = table[name].to_numpy()[kept_rows]
    out.attrs["sed"] = {"colour_clipped": int(mix.colour_clipped[copy_of[keep]].sum()),
                        "ssfr_unmatched": int(mix.ssfr_unmatched[copy_of[keep]].sum()),
                        "blueshift_clipped": int(blueshifted[placed].sum())}
    if cut is not None:
        out.attrs["r_cut"] = {"r_range": list(cut),
                              "placed": int(rows.size if placed_count is None
                                            else placed_count),
                              "photometered": int(photometered), "kept": int(keep.size)}
    return out


def _unique_rows(rows: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(rows, return_inverse=True)`` for integer ``rows`` in [0, n_rows), by
    counting (no sort)."""
    present = np.zeros(n_rows, dtype=bool)
    present[rows] = True
    unique = np.flatnonzero(present)
    rank = np.cumsum(present) - 1
    return unique, rank[rows]


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
    galaxies of true r in it. See :func:`galaxy_sources` (the same catalog as
    ``galaxy_sources(catalog, light_cone(...), ...)``; with ``r_range`` the cone's faint
    copies are dropped before they are placed on the sky)."""
    if (redshift is None) == (z_max is None or area is None):
        raise PhotometryError("give either z_max and area (a light-cone) or redshift "
                              "(the box placed at a redshift)")
    if redshift is not None:
        placement = box_at_redshift(catalog, redshift, velocities=velocities)
    elif r_range is not None:
        copies = _cone_copies(catalog, float(z_max), float(area), z_min=z_min)
        return _cone_galaxies(catalog, copies, filters or jpas_like(), velocities,
                              redshift_step, r_range)
    else:
        placement = light_cone(catalog, float(z_max), float(area), z_min=z_min,
                               velocities=velocities)
    return galaxy_sources(catalog, placement, filters, redshift_step=redshift_step,
                          r_range=r_range)


def _cone_galaxies(catalog: Catalog, copies: _ConeCopies, filters: FilterSet,
                   velocities: bool, redshift_step: float,
                   r_range: tuple[float, float]) -> pd.DataFrame:
    """``galaxy_sources(catalog, light_cone(...), filters, r_range=r_range)`` (the same
    rows, numbers and attrs) from the cone's copies, with the copies that no mixture of
    their colour and mass could make brighter than the faint end
    (:meth:`.templates.BrightestR.bound_at_distance`, by distance alone) dropped before
    they are placed (sight lines, sky coordinates, the sort by distance)."""
    _check_catalog(catalog)
    cut = _r_cut(r_range, filters)
    inputs = _sed_inputs(catalog, copies.rows)
    moving = velocities and copies.velocities is not None
    speed = float(np.sqrt((copies.velocities**2).sum(axis=1)).max()) if moving else 0.0
    # the component table is the one of the whole cone's highest observed redshift, and
    # the distance moduli those of its highest cosmological one (as galaxy_sources has
    # them): found among the copies that may reach them (the farthest within the
    # velocities' reach, and 0.1% for the rounding of the distance table)
    beta = speed * (1.0 + 1e-9) / SPEED_OF_LIGHT_KM_S
    farthest = copies.take(copies.distance == copies.distance.max())
    z_far = float(farthest.cosmological_redshift(catalog).max())
    z_near = (1.0 + z_far) * (1.0 - beta) / (1.0 + beta) - 1.0
    omega, _ = flat_lcdm(catalog.meta.cosmology)
    reach = float(comoving_distance(max(z_near, 0.0), {"Om0": omega, "H0": 100.0}))
    far = copies.take(copies.distance >= reach * (1.0 - 1e-3))
    lines = far.sightlines(catalog, velocities)
    z_top = float(np.maximum(lines.observed, 0.0).max())
    z_cos_max = float(lines.cosmological.max())
    table_z = _component_table(_bands(filters), z_top, redshift_step)
    brightest = BrightestR.of(table_z)
    bright = brightest.reaches(brightest.bound_at_distance(
        inputs.values[:, 1], inputs.mass, inputs.copy_of, copies.distance,
        catalog.meta.cosmology, speed), cut[1])
    placed = copies.take(bright)
    placement = placed.placement(placed.sightlines(catalog, velocities))
    return _photometry(catalog, placement, filters, table_z, cut,
                       _sed_inputs(catalog, placement["row"].to_numpy()),
                       placed_count=copies.rows.size, z_cos_max=z_cos_max)
