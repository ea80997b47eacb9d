"""NNclass: an MLP over the HiVAl classes of the targets, with an honest density.

Fit: a HiVAl hierarchy (``models/hival/``) of the training split's targets; one level
is chosen (``level``, else the level whose class count is nearest to ``classes``, else
the coarsest level whose oracle PCC reaches ``pcc_threshold`` for every target); an MLP
maps the scaled condition to the logits of that level's classes and is trained by the
shared loop with cross-entropy against the training rows' class memberships. Early
stopping, the learning-rate schedule and the best-epoch restore follow the validation
rows' held-out mixture NLL (nats per row, physical units: ``-log_prob`` of their
dequantised targets), the quantity the model is scored on. (Before 2026-12 they followed
a cross-entropy against the validation rows' nearest generators, a labelling that
agrees with HiVAl's merged memberships on only 65-81 % of the training points.) The
HiVAl options ``candidates``, ``neighbours``, ``directions`` (None: by dimension) and
``oracle`` (the oracle PCC rule behind ``pcc_threshold``, default "paper") are passed to
:func:`~galhalo.models.hival.hival`.

Density: each class is a Gaussian in the scaler's standardised space with its members'
mean and covariance, so

    p(z | x) = sum_k softmax(logits(x))_k N(z; mu_k, Sigma_k)

summed over all classes (components overlap), and ``log_prob`` adds the scaler's exact
log-Jacobian like every neural family: NNclass is scored on the same NLL scale as
NNgauss and the flow. ``sample`` draws a class, then a point from its Gaussian: the
in-class covariance is the members' (Rodrigues et al. 2025 added noise of the class
dispersion to a random member, which doubles it).

Small classes: ``Sigma_k = (S_k + w Sigma0_k) / (n_k - 1 + w)`` with ``S_k`` the members'
scatter matrix (sum of outer products about their mean), ``w`` = ``prior_weight`` and
``Sigma0_k`` the covariance of a uniform cube of the class cell's volume (isotropic in
HiVAl's unit cube, carried to the standardised space by the scaler's local Jacobian at
the class mean). A singleton is thus a Gaussian as wide as its cell; with ``w = 1`` a
class of n members has ``(S_k + Sigma0_k) / n``: its members' covariance plus 1/n of
the cell's, which keeps two-member classes (rank-one scatter) non-degenerate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import one_line
from .base import (
    ModelError,
    NeuralModel,
    register,
)
from .hival import ORACLES, Hierarchy, HiValError, hival
from .networks import TRAINING_DEFAULTS, mlp
from .store import ModelFiles, StoredModel
from .training import TrainingProblem
from .transforms import ColumnScaler

HIERARCHY_DIR = "hival"
#: Prefix of the class Gaussians' keys in the model's ``arrays.npz``.
CLASSES_PREFIX = "classes."
#: Where directories saved before the model store keep the class Gaussians.
CLASSES_FILE = "classes.npz"
#: Rows x classes per block when evaluating the mixture density (bounds memory).
_BLOCK = 2_000_000


def class_components(z: np.ndarray, labels: np.ndarray, n_classes: int,
                     prior: np.ndarray, prior_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Means (K, D) and covariances (K, D, D) of the classes in the standardised space.

    Args:
        z: (N, D) standardised targets of the training rows.
        labels: (N,) class of every row, 0 <= label < n_classes; every class non-empty.
        prior: (K, D) diagonal of each class's prior covariance (its cell's).
        prior_weight: pseudo-count of the prior (``w`` in the module docstring).
    """
    count = np.bincount(labels, minlength=n_classes).astype(float)
    if np.any(count == 0):
        raise ModelError("a HiVAl class has no training member")
    d = z.shape[1]
    means = np.stack([np.bincount(labels, weights=c, minlength=n_classes) for c in z.T], 1)
    means /= count[:, None]
    centred = z - means[labels]
    scatter = np.zeros((n_classes, d, d))
    np.add.at(scatter, labels, centred[:, :, None] * centred[:, None, :])
    covariances = (scatter + prior_weight * prior[:, :, None] * np.eye(d)) / (
        count - 1 + prior_weight)[:, None, None]
    return means, covariances


def _cell_prior(hierarchy: Hierarchy, level: int, scaler: ColumnScaler,
                means_physical: np.ndarray) -> np.ndarray:
    """(K, D) variances of a uniform cube of each cell's volume, in standardised units."""
    d = hierarchy.dimension
    side = hierarchy.volumes[level] ** (1.0 / d)                 # unit-cube units
    jacobian = np.empty_like(means_physical)
    for j, support in enumerate(scaler.supports):
        jacobian[:, j] = np.exp(support.forward(means_physical[:, j])[1]) / scaler.scale[j]
    step = (hierarchy.upper - hierarchy.lower) * jacobian       # dz / d(unit)
    return np.maximum((side[:, None] * step) ** 2 / 12.0, 1e-12)


class _MixtureParameters:
    """Torch views of the class Gaussians: means, Cholesky factors and their inverses."""

    def __init__(self, means: np.ndarray, covariances: np.ndarray):
        tril = np.linalg.cholesky(covariances)
        self.means = torch.as_tensor(means, dtype=torch.float32)
        self.tril = torch.as_tensor(tril, dtype=torch.float32)
        self.inverse = torch.as_tensor(np.linalg.inv(tril), dtype=torch.float32)
        d = means.shape[1]
        self.log_norm = torch.as_tensor(
            -np.log(np.diagonal(tril, axis1=1, axis2=2)).sum(axis=1)
            - 0.5 * d * np.log(2 * np.pi), dtype=torch.float32)

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z_b; mu_k, Sigma_k) for every row and class, (B, K)."""
        diff = z[:, None, :] - self.means[None]                         # (B, K, D)
        white = torch.einsum("kij,bkj->bki", self.inverse, diff)
        return self.log_norm[None] - 0.5 * (white**2).sum(dim=2)


@register
class ClassifierModel(NeuralModel):
    """NNclass: p(target | condition) as a classifier over HiVAl classes times
    within-class Gaussians (module docstring)."""

    family = "nnclass"
    defaults: ClassVar[dict[str, Any]] = {
        **TRAINING_DEFAULTS, "hidden": (256, 256, 256), "level": None, "classes": None,
        "pcc_threshold": 0.9, "prior_weight": 1.0, "candidates": 3, "neighbours": None,
        "directions": None, "oracle": "paper"}

    def __init__(self, **hyperparameters: Any):
        super().__init__(**hyperparameters)
        hp = self.hyperparameters
        for name in ("level", "classes"):
            value = hp[name]
            if value is not None and (isinstance(value, bool) or int(value) != value):
                raise ModelError(f"{name} must be an integer or None, got {value!r}")
        if hp["oracle"] not in ORACLES:
            raise ModelError(f"oracle must be one of {', '.join(ORACLES)}, got {hp['oracle']!r}")
        if not hp["prior_weight"] > 0:
            raise ModelError(f"prior_weight must be > 0, got {hp['prior_weight']}")
        self.hierarchy: Hierarchy | None = None
        self.level: int | None = None
        self.means: np.ndarray | None = None
        self.covariances: np.ndarray | None = None
        self._mixture: _MixtureParameters | None = None

    @property
    def n_classes(self) -> int:
        if self.means is not None:
            return len(self.means)
        if self.hyperparameters["classes"] is None:
            raise ModelError("the number of classes is known only after fit()")
        return int(self.hyperparameters["classes"])

    # -- family hooks
    def build(self, n_condition, n_target):
        return mlp(n_condition, tuple(self.hyperparameters["hidden"]), self.n_classes)

    def scaled_log_prob(self, x, y):
        log_weights = torch.log_softmax(self.network(x), dim=1)
        block = max(1, _BLOCK // self.n_classes)
        return torch.cat([
            torch.logsumexp(log_weights[i:i + block]
                            + self._mixture.log_density(y[i:i + block]), dim=1)
            for i in range(0, len(x), block)])

    def scaled_sample(self, x, n):
        probabilities = torch.softmax(self.network(x), dim=1)
        chosen = torch.multinomial(probabilities, n, replacement=True).T    # (n, B)
        noise = torch.randn(*chosen.shape, self._mixture.means.shape[1])
        shift = torch.einsum("nbij,nbj->nbi", self._mixture.tril[chosen], noise)
        return self._mixture.means[chosen] + shift

    def scaled_mean(self, x):
        return torch.softmax(self.network(x), dim=1) @ self._mixture.means

    def _cross_entropy(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Training loss per row: the cross-entropy of each row's HiVAl class (``labels``
        (B, 1), class indices as floats). In training mode the ``condition_noise``
        regularisation applies, as for the other families (``target_noise`` has no
        meaning for class labels and is ignored)."""
        noise = float(self.hyperparameters.get("condition_noise", 0.0))
        if self.network.training and noise > 0:
            x = x + noise * torch.randn_like(x)
        return torch.nn.functional.cross_entropy(self.network(x), labels[:, 0].long(),
                                                 reduction="none")

    def _mixture_nll(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Validation loss per row: the mixture NLL in physical units of each row's
        target, ``rows`` (B, D + 1) = (z_1..z_D, log-Jacobian of the scaling):
        ``-(scaled_log_prob(x, z) + log-Jacobian)``, the quantity NNclass is scored on."""
        return -(self.scaled_log_prob(x, rows[:, :-1]) + rows[:, -1])

    # -- fitting
    def choose_level(self, hierarchy: Hierarchy) -> int:
        """The level used: ``level``, else the count nearest ``classes``, else the
        coarsest level whose oracle PCC reaches ``pcc_threshold`` for every target."""
        hp = self.hyperparameters
        try:
            if hp["level"] is not None:
                return hierarchy.level_index(int(hp["level"]))
            if hp["classes"] is not None:
                return int(np.argmin(np.abs(np.array(hierarchy.counts) - int(hp["classes"]))))
            return hierarchy.coarsest_level(hp["pcc_threshold"])
        except HiValError as err:
            raise ModelError(str(err)) from None

    def _training_problem(self, data, seed: int):
        """:meth:`NeuralModel.fit` with HiVAl classes of the (dequantised) training
        targets, a cross-entropy loss on the training rows and the mixture NLL on the
        validation rows (:meth:`_cross_entropy`, :meth:`_mixture_nll`): same split,
        scalers, dequantisation of discrete targets, training loop and metrics."""
        hp = self.hyperparameters
        try:
            self.hierarchy = hival(data.y_model, self.target, candidates=hp["candidates"],
                                   neighbours=hp["neighbours"], directions=hp["directions"],
                                   oracle=hp["oracle"], seed=seed)
        except HiValError as err:
            raise ModelError(str(err)) from None
        self.level = self.choose_level(self.hierarchy)
        labels = self.hierarchy.labels[self.level].astype(np.int64)
        self._set_components(data.y_model, labels)
        x_valid, z_valid, log_jacobian, _ = self._scaled(data.x_valid, data.y_valid_model)
        valid_rows = np.column_stack([z_valid, log_jacobian]).astype(np.float32)
        return TrainingProblem(self._cross_entropy,
                               (self._scaled_condition(data.x),
                                labels[:, None].astype(np.float32)),
                               (x_valid, valid_rows), valid_loss=self._mixture_nll)

    def _fit_metrics(self) -> dict:
        """``valid_mixture_nll``: the best epoch's held-out mixture NLL of the validation
        rows' dequantised targets (nats per row, physical units; what early stopping
        followed; equal to ``valid_nll`` for continuous targets)."""
        return {"level": self.level, "classes": self.n_classes,
                "valid_mixture_nll": float(min(h["valid"] for h in self.history))}

    def _scaled_condition(self, x: np.ndarray) -> np.ndarray:
        return self.condition_scaler.forward(x)[0].astype(np.float32)

    def _set_components(self, y: np.ndarray, labels: np.ndarray) -> None:
        """Class Gaussians from the (dequantised) training targets ``y`` (physical) and
        their memberships."""
        n_classes = self.hierarchy.counts[self.level]
        z = self.target_scaler.forward(y)[0]
        members = np.bincount(labels, minlength=n_classes)
        mean_y = np.stack([np.bincount(labels, weights=c, minlength=n_classes)
                           for c in y.T], 1) / members[:, None]
        prior = _cell_prior(self.hierarchy, self.level, self.target_scaler, mean_y)
        self.means, self.covariances = class_components(
            z, labels, n_classes, prior, float(self.hyperparameters["prior_weight"]))
        self._mixture = _MixtureParameters(self.means, self.covariances)

    # -- persistence (models/store.py): NeuralModel's files plus the class Gaussians
    # (arrays.npz) and the hierarchy (hival/, a store directory of its own)
    def config(self):
        config = super().config()
        config["hyperparameters"] = {**config["hyperparameters"], "level": self.level,
                                     "classes": self.n_classes}
        return config

    def saved_files(self) -> ModelFiles:
        """The network's tensors plus the class Gaussians (standardised space) and the
        level: arrays ``classes.means`` (K, D), ``classes.covariances`` (K, D, D),
        ``classes.level`` ()."""
        files = super().saved_files()
        files.arrays.update({f"{CLASSES_PREFIX}means": self.means,
                             f"{CLASSES_PREFIX}covariances": self.covariances,
                             f"{CLASSES_PREFIX}level": np.array(self.level)})
        return files

    def write_extra(self, directory: Path) -> None:
        """The HiVAl hierarchy, a store directory of its own in ``hival/``
        (checksummed by the model's ``config.json`` too)."""
        self.hierarchy.save(directory / HIERARCHY_DIR)

    def restore_saved(self, stored: StoredModel) -> None:
        """The hierarchy and the class Gaussians, checked against ``config.json``.
        Directories saved before the store keep the classes in ``classes.npz``."""
        directory = stored.directory
        arrays = {key[len(CLASSES_PREFIX):]: value for key, value in stored.files.arrays.items()
                  if key.startswith(CLASSES_PREFIX)}
        try:
            if not arrays:
                with np.load(directory / CLASSES_FILE, allow_pickle=False) as data:
                    arrays = {key: data[key] for key in data.files}
            self.means, self.covariances = arrays["means"], arrays["covariances"]
            self.level = int(arrays["level"])
        except (OSError, KeyError, ValueError) as err:
            raise ModelError(f"{directory}: cannot read the NNclass classes "
                             f"({one_line(err)})") from None
        self.hierarchy = Hierarchy.load(directory / HIERARCHY_DIR)
        expected = int(self.hyperparameters["classes"])
        counts = self.hierarchy.counts
        if not 0 <= self.level < len(counts) or counts[self.level] != expected \
                or self.means.shape != (expected, len(self.target)) \
                or self.covariances.shape != (expected, len(self.target), len(self.target)):
            raise ModelError(f"{directory}: the saved classes disagree with config.json")
        self._mixture = _MixtureParameters(self.means, self.covariances)
