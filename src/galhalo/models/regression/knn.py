"""k-nearest-neighbour regression back-end (scikit-learn's, rebuilt from its arrays)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ...errors import ModelError
from ..interface import MINIMUM_TRAIN_ROWS
from .regressor import CHUNK, Regressor

KNN_DEFAULTS: dict[str, Any] = {"knn_neighbors": 64, "knn_weights": "uniform"}


class KNNRegressor(Regressor):
    """k nearest neighbours (Euclidean in the scaled conditions); stored as its
    training arrays and rebuilt on load (the neighbour search is deterministic)."""

    kind = "knn"

    def __init__(self, x: np.ndarray, z: np.ndarray, hyper: Mapping[str, Any]):
        from sklearn.neighbors import KNeighborsRegressor

        neighbours = int(hyper["knn_neighbors"])
        if neighbours > len(x):
            raise ModelError(f"knn_neighbors = {neighbours} exceeds the {len(x)} training rows")
        self.x, self.z = np.ascontiguousarray(x, dtype=float), np.asarray(z, dtype=float)
        self.model = KNeighborsRegressor(n_neighbors=neighbours, weights=hyper["knn_weights"],
                                         n_jobs=1).fit(self.x, self.z)

    @classmethod
    def minimum_rows(cls, hyper):
        """More rows than neighbours: ``knn_neighbors + 1``."""
        return max(MINIMUM_TRAIN_ROWS, int(hyper["knn_neighbors"]) + 1)

    @classmethod
    def fit(cls, x, z, hyper, seed, progress):
        return cls(x, z, hyper)

    def predict(self, x):
        return np.concatenate([self.model.predict(x[i:i + CHUNK])
                               for i in range(0, len(x), CHUNK)])

    def dump(self, files, key):
        files.arrays[f"{key}.x"], files.arrays[f"{key}.z"] = self.x, self.z

    @classmethod
    def restore(cls, files, key, hyper, n_condition):
        return cls(files.arrays[f"{key}.x"], files.arrays[f"{key}.z"], hyper)

