"""Deterministic regressors behind the conditional-density interface (de Santi et al. 2022).

One module per job: ``regressor.py`` (the shared base of a back-end), one back-end per
file (``knn.py``, ``extra_trees.py``, ``boosted_trees.py`` for LightGBM, ``mlp.py``),
``stacking.py`` (the back-ends by name and their stacking), ``model.py`` (the
regressors as a conditional density, see its docstring) and ``families.py`` (the five
registered families). Every public name of the former ``models/regression.py`` stays
importable from here.
"""

from ..store import ARRAYS_FILE, WEIGHTS_FILE
from .boosted_trees import LGBM_DEFAULTS, LightGBMRegressor
from .extra_trees import TREES_DEFAULTS, ExtraTreesRegressor
from .families import (
    ExtraTreesModel,
    KNNModel,
    LightGBMModel,
    MLPRegressionModel,
    StackedModel,
)
from .knn import KNN_DEFAULTS, KNNRegressor
from .mlp import MLP_DEFAULTS, MLPRegressor
from .model import (
    COMMON_DEFAULTS,
    DEFAULT_THRESHOLD,
    PUBLISHED_THRESHOLDS,
    RegressionModel,
    second_moment,
)
from .regressor import CHUNK, Regressor, member_seed
from .stacking import (
    KINDS,
    REGRESSORS,
    STACK_DEFAULTS,
    TargetFit,
    fit_stack,
    parse_members,
    stack_minimum_rows,
)

#: The file of the MLP state dicts (the store's tensor file).
TENSORS_FILE = WEIGHTS_FILE

__all__ = [
    "ARRAYS_FILE", "CHUNK", "COMMON_DEFAULTS", "DEFAULT_THRESHOLD", "KINDS", "KNN_DEFAULTS",
    "LGBM_DEFAULTS", "MLP_DEFAULTS", "PUBLISHED_THRESHOLDS", "REGRESSORS", "STACK_DEFAULTS",
    "TENSORS_FILE", "TREES_DEFAULTS", "ExtraTreesModel", "ExtraTreesRegressor", "KNNModel",
    "KNNRegressor", "LightGBMModel", "LightGBMRegressor", "MLPRegressionModel",
    "MLPRegressor", "RegressionModel", "Regressor", "StackedModel", "TargetFit", "fit_stack",
    "member_seed", "parse_members", "second_moment", "stack_minimum_rows",
]
