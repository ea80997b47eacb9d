"""LightGBM gradient-boosted trees back-end, held and saved as LightGBM's text model."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ModelError, one_line
from .regressor import Regressor

LGBM_DEFAULTS: dict[str, Any] = {
    "lgbm_estimators": 150, "lgbm_learning_rate": 0.05, "lgbm_leaves": 31,
    "lgbm_min_leaf": 20, "threads": 1}


class LightGBMRegressor(Regressor):
    """Gradient-boosted trees (LightGBM), held as a booster rebuilt from its text model,
    which is also what is saved."""

    kind = "lightgbm"

    def __init__(self, text: str):
        import lightgbm

        self.text = text
        self.booster = lightgbm.Booster(model_str=text)

    @classmethod
    def fit(cls, x, z, hyper, seed, progress):
        import lightgbm

        model = lightgbm.LGBMRegressor(
            n_estimators=int(hyper["lgbm_estimators"]),
            learning_rate=float(hyper["lgbm_learning_rate"]),
            num_leaves=int(hyper["lgbm_leaves"]), min_child_samples=int(hyper["lgbm_min_leaf"]),
            random_state=seed, n_jobs=int(hyper["threads"]), deterministic=True,
            force_row_wise=True, verbose=-1).fit(x, z)
        return cls(model.booster_.model_to_string())

    def predict(self, x):
        return np.asarray(self.booster.predict(x, num_threads=1), dtype=float)

    def dump(self, files, key):
        files.texts[key] = self.text

    @classmethod
    def restore(cls, files, key, hyper, n_condition):
        try:
            return cls(files.texts[key])
        except Exception as err:  # lightgbm raises its own error type for a bad model
            raise ModelError(f"LightGBM model {key}: {one_line(err)}") from None

