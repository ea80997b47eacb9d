"""Narrow-band survey photometry forward-simulated from galhalo mocks (issue #21).

- :mod:`.sources`: the source-catalog conventions (classes, column names, checks).
- :mod:`.filters`: filter curves (:class:`Filter`, :class:`FilterSet`), CSV files, the
  J-PAS-like system and the real SDSS/ALHAMBRA curves shipped with ``kcorrect``.
- :mod:`.synthetic`: photon-counting band fluxes in µJy, AB magnitudes, and
  :class:`ComponentTable` (fast photometry of linear combinations of spectra vs z).
- :mod:`.distances`: luminosity distance and distance modulus of a catalog's cosmology.
- :mod:`.lightcone`: sky positions and redshifts of a box's galaxies (light-cone, or the
  box placed at a redshift).
- :mod:`.galaxies`: galaxy SEDs (kcorrect template mixtures matching g - i, sSFR, mass)
  and their observed fluxes: the galaxy source catalog.

Units: wavelength Å (observed unless named ``rest``), f_λ erg s⁻¹ cm⁻² Å⁻¹, band
fluxes µJy, AB magnitude ``m = 23.9 - 2.5 log10(f / µJy)``. See docs/photometry.md.
"""

from .distances import comoving_distance, distance_modulus, luminosity_distance
from .filters import Filter, FilterSet, alhambra, jpas_like, read_filters, sdss, write_filters
from .galaxies import (
    galaxy_sources,
    kcorrect_templates,
    mock_galaxies,
    rest_colour,
    template_coefficients,
)
from .lightcone import box_at_redshift, light_cone
from .sources import (
    CLASSES,
    HIGH_Z_QUASAR,
    check_sources,
    error_columns,
    flux_columns,
    quasar_class,
)
from .synthetic import ComponentTable, ab_magnitude, band_fluxes, flux_from_ab

__all__ = [
    "CLASSES",
    "HIGH_Z_QUASAR",
    "ComponentTable",
    "Filter",
    "FilterSet",
    "ab_magnitude",
    "alhambra",
    "band_fluxes",
    "box_at_redshift",
    "check_sources",
    "comoving_distance",
    "distance_modulus",
    "error_columns",
    "flux_columns",
    "flux_from_ab",
    "galaxy_sources",
    "jpas_like",
    "kcorrect_templates",
    "light_cone",
    "luminosity_distance",
    "mock_galaxies",
    "quasar_class",
    "read_filters",
    "rest_colour",
    "sdss",
    "template_coefficients",
    "write_filters",
]
