"""The shared base of the regression back-ends: one regressor for one target, on the
scaled conditions and target, stored as tensors, arrays or texts of the model directory
(``models/store.py``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..interface import MINIMUM_TRAIN_ROWS
from ..store import ModelFiles

#: Rows per chunk when predicting (bounds the memory of prediction).
CHUNK = 8192


def member_seed(*keys: int) -> int:
    """A 32-bit seed derived from the fit seed and the position of a fit (target,
    regressor, fold): independent streams, reproducible."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


class Regressor(ABC):
    """Fitted state of one regressor for one target: scaled conditions (rows, c) ->
    scaled target (rows,). ``fit`` is the only place state is learned."""

    kind: ClassVar[str]

    @classmethod
    @abstractmethod
    def fit(cls, x: np.ndarray, z: np.ndarray, hyper: Mapping[str, Any], seed: int,
            progress: bool) -> Regressor:
        """Fit on scaled conditions ``x`` (rows, c) and scaled target ``z`` (rows,)."""

    @abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scaled point estimates (rows,) for scaled conditions (rows, c)."""

    @abstractmethod
    def dump(self, files: ModelFiles, key: str) -> None:
        """Store the fitted state in ``files`` under ``key``."""

    @classmethod
    @abstractmethod
    def restore(cls, files: ModelFiles, key: str, hyper: Mapping[str, Any], n_condition: int
                ) -> Regressor:
        """Rebuild from what :meth:`dump` stored."""

    @classmethod
    def minimum_rows(cls, hyper: Mapping[str, Any]) -> int:
        """Fewest rows :meth:`fit` accepts with these hyperparameters."""
        return MINIMUM_TRAIN_ROWS

    def training_history(self) -> list[dict[str, float]]:
        """The loss curve of an iteratively trained regressor (empty for the others)."""
        return []

