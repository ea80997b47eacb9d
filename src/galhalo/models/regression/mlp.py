"""A small MLP regression back-end, trained by the shared torch loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ...errors import ModelError, one_line
from ..interface import MINIMUM_TRAIN_ROWS, MINIMUM_VALID_ROWS, rows_needed, split_rows
from ..networks import TRAINING_DEFAULTS, mlp
from ..training import TrainingConfig, train
from .regressor import CHUNK, Regressor

#: (Without ``mass_balance``: the regressors' own fit does not weight its rows.)
MLP_DEFAULTS: dict[str, Any] = {
    **{key: value for key, value in TRAINING_DEFAULTS.items()
       if key not in ("mass_balance", "mass_balance_by")},
    "hidden": (64, 64), "mlp_valid": 0.1}


class MLPRegressor(Regressor):
    """A small MLP (SiLU) trained with the shared torch loop on the per-row squared
    error, i.e. the Gaussian NLL with a fixed unit variance in the scaled space (up to a
    constant). Early stopping uses a seeded ``mlp_valid`` fraction of the rows it is
    given."""

    kind = "mlp"

    def __init__(self, network: torch.nn.Module, history: list[dict[str, float]] | None = None):
        self.network = network.eval()
        self.history = history or []

    @staticmethod
    def build(n_condition: int, hyper: Mapping[str, Any]) -> torch.nn.Module:
        return mlp(n_condition, tuple(int(h) for h in hyper["hidden"]), 1)

    @classmethod
    def minimum_rows(cls, hyper):
        """Enough rows for its early-stopping split (``mlp_valid``)."""
        return rows_needed(float(hyper["mlp_valid"]), MINIMUM_TRAIN_ROWS, MINIMUM_VALID_ROWS)

    @classmethod
    def fit(cls, x, z, hyper, seed, progress):
        train_rows, stop_rows = split_rows(len(x), float(hyper["mlp_valid"]), seed,
                                           what="the MLP regressor")
        torch.manual_seed(seed)
        network = cls.build(x.shape[1], hyper)
        config = TrainingConfig(**{k: hyper[k] for k in TrainingConfig.__dataclass_fields__})
        x32, z32 = x.astype(np.float32), z.astype(np.float32)[:, None]

        def loss(xb: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
            return 0.5 * (network(xb) - zb).square().sum(dim=1)

        history = train(network, loss, (x32[train_rows], z32[train_rows]),
                        (x32[stop_rows], z32[stop_rows]), config, seed, progress)
        return cls(network, history)

    def training_history(self):
        return self.history

    def predict(self, x):
        with torch.no_grad():
            return np.concatenate([
                self.network(torch.as_tensor(x[i:i + CHUNK], dtype=torch.float32))[:, 0]
                .double().numpy() for i in range(0, len(x), CHUNK)])

    def dump(self, files, key):
        for name, tensor in self.network.state_dict().items():
            files.tensors[f"{key}.{name}"] = tensor

    @classmethod
    def restore(cls, files, key, hyper, n_condition):
        network = cls.build(n_condition, hyper)
        prefix = f"{key}."
        state = {name[len(prefix):]: tensor for name, tensor in files.tensors.items()
                 if name.startswith(prefix)}
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ModelError(f"MLP weights {key}: {one_line(err)}") from None
        return cls(network)

