"""The five regression families: one line of configuration each over
:class:`RegressionModel` (models/regression/model.py)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..registry import register
from .boosted_trees import LGBM_DEFAULTS
from .extra_trees import TREES_DEFAULTS
from .knn import KNN_DEFAULTS
from .mlp import MLP_DEFAULTS
from .model import COMMON_DEFAULTS, RegressionModel
from .stacking import STACK_DEFAULTS


@register
class KNNModel(RegressionModel):
    """k-nearest-neighbour regression per target, with a Gaussian residual model."""

    family = "knn"
    regressor = "knn"
    defaults: ClassVar[dict[str, Any]] = {**COMMON_DEFAULTS, **KNN_DEFAULTS}


@register
class ExtraTreesModel(RegressionModel):
    """Extra-trees regression per target, with a Gaussian residual model."""

    family = "extra_trees"
    regressor = "extra_trees"
    defaults: ClassVar[dict[str, Any]] = {**COMMON_DEFAULTS, **TREES_DEFAULTS}


@register
class LightGBMModel(RegressionModel):
    """LightGBM regression per target, with a Gaussian residual model."""

    family = "lightgbm"
    regressor = "lightgbm"
    defaults: ClassVar[dict[str, Any]] = {**COMMON_DEFAULTS, **LGBM_DEFAULTS}


@register
class MLPRegressionModel(RegressionModel):
    """A small MLP per target (squared error, shared training loop), with a Gaussian
    residual model."""

    family = "mlp_regression"
    regressor = "mlp"
    defaults: ClassVar[dict[str, Any]] = {**COMMON_DEFAULTS, **MLP_DEFAULTS}


@register
class StackedModel(RegressionModel):
    """Linear stacking of the ``members`` regressors over their out-of-fold predictions
    (``folds``-fold, seeded), per target, with a Gaussian residual model."""

    family = "stacked"
    defaults: ClassVar[dict[str, Any]] = {
        **COMMON_DEFAULTS, **KNN_DEFAULTS, **TREES_DEFAULTS, **LGBM_DEFAULTS, **MLP_DEFAULTS,
        **STACK_DEFAULTS}
