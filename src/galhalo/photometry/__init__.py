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
- :mod:`.observation`: 5σ depths files, noise models, zero-points, non-detections.
- :mod:`.classifiers`, :mod:`.cnn`, :mod:`.boosting`: survey classifiers (1-D CNN,
  LightGBM; imported on first use, they pull in torch); :mod:`.survey_metrics` and
  :mod:`.survey_evaluation`: their scores.

Units: wavelength Å (observed unless named ``rest``), f_λ erg s⁻¹ cm⁻² Å⁻¹, band
fluxes µJy, AB magnitude ``m = 23.9 - 2.5 log10(f / µJy)``. See docs/photometry.md.
"""

from typing import Any

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
from .observation import jpas_depths, observe, read_depths, write_depths
from .sources import (
    CLASSES,
    HIGH_Z_QUASAR,
    check_sources,
    error_columns,
    flux_columns,
    quasar_class,
)
from .survey_metrics import (
    R_BINS,
    class_scores,
    confusion,
    purity_completeness_curve,
    redshift_scores,
    reliability,
)
from .synthetic import ComponentTable, ab_magnitude, band_fluxes, flux_from_ab

# name -> module; imported on first use (the classifiers import torch, seconds).
_LAZY = {
    "BoostedClassifier": "galhalo.photometry.boosting",
    "CNNClassifier": "galhalo.photometry.cnn",
    "feature_spec": "galhalo.photometry.classifiers",
    "load_classifier": "galhalo.photometry.classifiers",
    "survey_scores": "galhalo.photometry.survey_evaluation",
}

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
    "R_BINS",
    "class_scores",
    "confusion",
    "jpas_depths",
    "observe",
    "purity_completeness_curve",
    "read_depths",
    "redshift_scores",
    "reliability",
    "write_depths",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'galhalo.photometry' has no attribute {name!r}")
