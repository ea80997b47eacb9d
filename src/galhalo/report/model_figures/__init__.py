"""Figures of conditional models against the truth, for the HTML report.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state,
nothing written): :mod:`galhalo.report.build` embeds them in the report. One module per
figure kind, all importable from here:

* :func:`corner_figure` (:mod:`.corner`): truth vs one or more models; lower triangle
  2-D contours at fixed enclosed-probability levels (:data:`LEVELS`), diagonal 1-D
  histograms;
* :func:`scenario_contours` (:mod:`.scenarios`): one panel per scenario (a halo-mass
  bin, ...) of a target pair, stellar mass vs colour by default, as in the published
  figures;
* :func:`marginal_histograms` (:mod:`.marginals`): 1-D distribution of every target,
  truth with its Poisson band, each model as a line;
* :func:`calibration_figure` (:mod:`.calibration`): PIT histograms against the flat
  expectation and its binomial band, and the coverage of the central 68 / 95 % regions
  vs nominal;
* :func:`importance_figure` (:mod:`.importance`): permutation feature importance with
  error bars;
* :func:`loss_curves` (:mod:`.loss`): training and validation loss per epoch of each
  model.

:mod:`.contours` holds the highest-density contours (:func:`panel_range`,
:func:`density_grid`, :func:`enclosed_levels`) and :mod:`._base` the sample checks and
styles the figures share.

Samples are tables (DataFrame or ``{column: array}``): the truth holds the catalog's
true values, a model's sample its draws (a mock catalog: many rows per halo allowed).
The calibration and importance figures read :func:`galhalo.evaluate.run.evaluate_model`
results; nothing is recomputed here.
"""

from ...errors import ReportError
from ._base import (
                    BINS,
                    LEVELS,
                    MIN_CONTOUR_POINTS,
                    RANGE_PERCENTILES,
                    SMOOTH,
                    TRUTH,
                    Sample,
                    sample_columns,
)
from .calibration import calibration_figure
from .contours import density_grid, enclosed_levels, panel_range
from .corner import corner_figure
from .importance import importance_figure
from .loss import loss_curves
from .marginals import marginal_histograms
from .scenarios import scenario_contours

__all__ = [
    "BINS",
    "LEVELS",
    "MIN_CONTOUR_POINTS",
    "RANGE_PERCENTILES",
    "SMOOTH",
    "TRUTH",
    "ReportError",
    "Sample",
    "calibration_figure",
    "corner_figure",
    "density_grid",
    "enclosed_levels",
    "importance_figure",
    "loss_curves",
    "marginal_histograms",
    "panel_range",
    "sample_columns",
    "scenario_contours",
]
