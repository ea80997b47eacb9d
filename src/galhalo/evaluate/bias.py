"""Moved: tracer bias estimators are in :mod:`galhalo.clustering.bias`; populations in
:mod:`.populations`, their measurement in :mod:`.population_clustering`, the
assembly-bias shuffle in :mod:`.shuffle`, stochasticity in :mod:`.stochasticity` and
the truth-vs-mock comparison in :mod:`.clustering_comparison`. This module re-exports
them so that existing imports keep working."""

from ..clustering import (
    DEFAULT_FIT_RANGE,
    LargeScaleBias,
    fit_weights,
    large_scale_bias,
    relative_bias,
)
from .clustering_comparison import ClusteringComparison, compare_clustering
from .population_clustering import (
    BiasSettings,
    PopulationClustering,
    PopulationSet,
    measure_populations,
)
from .populations import Split, SplitKind, parse_split
from .shuffle import DEFAULT_MASS_BIN, assembly_bias, shuffle_within_mass_bins
from .stochasticity import stochasticity

__all__ = [
    "DEFAULT_FIT_RANGE",
    "DEFAULT_MASS_BIN",
    "BiasSettings",
    "ClusteringComparison",
    "LargeScaleBias",
    "PopulationClustering",
    "PopulationSet",
    "Split",
    "SplitKind",
    "assembly_bias",
    "compare_clustering",
    "fit_weights",
    "large_scale_bias",
    "measure_populations",
    "parse_split",
    "relative_bias",
    "shuffle_within_mass_bins",
    "stochasticity",
]
