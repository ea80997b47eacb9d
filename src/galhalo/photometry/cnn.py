"""A 1-D convolutional survey classifier on the pseudo-spectrum (torch, CPU).

Input: the narrow-band fluxes in wavelength order as one channel and, when
``use_errors``, their errors as a second (both divided by the source's flux scale,
:func:`galhalo.photometry.classifiers.features`); the broad bands and log10 of the scale
join after the convolutions. Three convolutions (kernel 5, 5, 3; ``channels`` wide, one
max-pool of 2) are flattened, so the position of a feature in wavelength (a redshifted
Lyα or C IV line) is kept, then a dense layer of ``hidden`` units feeds two heads:

* class logits (4), a cross-entropy weighted by the class weights w_c
  (:func:`~galhalo.photometry.classifiers.class_weights`);
* log(1 + z), a smooth-L1 (Huber, β = 0.05) loss on the quasar rows only, times
  ``redshift_weight``.

Training is the package's one loop (:func:`galhalo.models.training.train`: AdamW,
plateau schedule, early stopping on a stratified 20 % validation split, best epoch
restored; seeded). Saved as ``config.json`` + ``weights.pt`` (tensors only).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import ModelError, one_line
from ..models.store import WEIGHTS_FILE, ModelFiles
from ..models.training import TrainingConfig, train
from .classifiers import FeatureSpec, SurveyClassifier, quasar_rows, stratified_split
from .sources import CLASSES

__all__ = ["CNNClassifier", "SpectrumNetwork"]


class SpectrumNetwork(nn.Module):
    """The network: flat features (n, spec.width) -> (class logits (n, 4), log1pz (n,))."""

    def __init__(self, spec: FeatureSpec, channels: int = 16, hidden: int = 64,
                 dropout: float = 0.1):
        super().__init__()
        self.length = len(spec.sequence)
        self.channels_in = spec.channels
        self.convolutions = nn.Sequential(
            nn.Conv1d(spec.channels, channels, 5, padding=2), nn.ReLU(),
            nn.Conv1d(channels, channels, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(channels, 2 * channels, 3, padding=1), nn.ReLU())
        flat = 2 * channels * (self.length // 2)
        self.body = nn.Sequential(nn.Linear(flat + spec.n_dense, hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU())
        self.classes = nn.Linear(hidden, len(CLASSES))
        self.redshift = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cut = self.length * self.channels_in
        spectrum = x[:, :cut].reshape(len(x), self.channels_in, self.length)
        hidden = self.body(torch.cat([self.convolutions(spectrum).flatten(1), x[:, cut:]], 1))
        return self.classes(hidden), self.redshift(hidden).squeeze(1)


class CNNClassifier(SurveyClassifier):
    """1-D CNN survey classifier (module docstring). Hyperparameters: ``channels``,
    ``hidden``, ``dropout``, ``balance`` (class-weight power), ``redshift_weight``,
    ``epochs``, ``batch_size``, ``learning_rate``, ``patience``, ``valid_fraction``."""

    family: ClassVar[str] = "survey_cnn"
    defaults: ClassVar[dict[str, Any]] = {
        "channels": 16, "hidden": 64, "dropout": 0.1, "balance": 0.5,
        "redshift_weight": 1.0, "epochs": 60, "batch_size": 256, "learning_rate": 2e-3,
        "patience": 8, "valid_fraction": 0.2, "threads": 1}

    def __init__(self, spec: FeatureSpec, seed: int = 0, **hyper: Any):
        super().__init__(spec, seed, **hyper)
        self.network = self._network()

    def _network(self) -> SpectrumNetwork:
        torch.manual_seed(self.seed)
        return SpectrumNetwork(self.spec, int(self.hyper["channels"]),
                               int(self.hyper["hidden"]), float(self.hyper["dropout"]))

    def _loss(self):
        weights = torch.as_tensor(self.weights, dtype=torch.float32)
        scale = float(self.hyper["redshift_weight"])

        def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logits, log1pz = self.network(x)
            label = y[:, 0].long()
            classification = nn.functional.cross_entropy(logits, label, reduction="none")
            redshift = nn.functional.smooth_l1_loss(log1pz, y[:, 1], reduction="none",
                                                    beta=0.05)
            return weights[label] * classification + scale * y[:, 2] * redshift
        return loss

    def _fit(self, x: np.ndarray, index: np.ndarray, log1pz: np.ndarray, seed: int) -> Any:
        torch.set_num_threads(int(self.hyper["threads"]))
        self.network = self._network()
        train_rows, valid_rows = stratified_split(index, float(self.hyper["valid_fraction"]),
                                                  seed)
        target = np.stack([index, log1pz, quasar_rows(index)], axis=1).astype(np.float32)
        config = TrainingConfig(epochs=int(self.hyper["epochs"]),
                                batch_size=int(self.hyper["batch_size"]),
                                learning_rate=float(self.hyper["learning_rate"]),
                                patience=int(self.hyper["patience"]),
                                schedule_patience=max(1, int(self.hyper["patience"]) // 2))
        return train(self.network, self._loss(), (x[train_rows], target[train_rows]),
                     (x[valid_rows], target[valid_rows]), config, seed, progress=False)

    def _outputs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.network.eval()
        logits, log1pz = [], []
        with torch.no_grad():
            for i in range(0, len(x), 8192):
                a, b = self.network(torch.as_tensor(x[i:i + 8192]))
                logits.append(a)
                log1pz.append(b)
        if not logits:
            return np.zeros((0, len(CLASSES))), np.zeros(0)
        return (torch.softmax(torch.cat(logits), 1).double().numpy(),
                torch.cat(log1pz).double().numpy())

    def _raw_proba(self, x: np.ndarray) -> np.ndarray:
        return self._outputs(x)[0]

    def _raw_redshift(self, x: np.ndarray) -> np.ndarray:
        return self._outputs(x)[1]

    def _files(self) -> ModelFiles:
        return ModelFiles(tensors=dict(self.network.state_dict()))

    def _restore(self, stored) -> None:
        try:
            self.network.load_state_dict(stored.files.tensors, strict=True)
        except (RuntimeError, KeyError) as err:
            raise ModelError(f"{stored.directory / WEIGHTS_FILE}: does not fit the network "
                             f"of config.json ({one_line(err)})") from None
        self.network.eval()
