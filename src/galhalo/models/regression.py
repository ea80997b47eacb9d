"""Deterministic regressors behind the conditional-density interface (de Santi et al. 2022).

The first published approach predicts each galaxy property with a point estimate: kNN,
extra trees, LightGBM and a small MLP, each fitted **per target**, and a stacked model
(a linear regression over their out-of-fold predictions). Optionally each target's
regressor is trained on SMOGN-augmented data, so rare, extreme galaxies are not ignored.

To be scored like every other family, a regressor is turned into a conditional density
by its residuals:

* the regressors work on the targets as the shared :class:`ColumnScaler` maps them
  (standardised; the stellar-mass cut's ``softplus`` support when the sample has one),
  with conditions scaled the same way; for identity supports this is plain regression
  in physical units up to a linear rescaling;
* ``predict(condition)`` (rows, targets): the point estimate, mapped back to physical
  units;
* the residual model is one Gaussian N(0, Sigma) in the scaled space, **the same for
  every row**; Sigma is the second moment of the residuals z - z_hat on the validation
  split (rows never used for fitting; the full covariance across targets);
* ``log_prob(condition, target)``: log N(z(target); z_hat(condition), Sigma) plus the
  scaler's exact log-Jacobian, i.e. a density in the targets' **physical units**
  (``-inf`` outside a support), so regressors sit on the common NLL scale;
* ``sample(condition, n)`` (n, rows, targets): the point estimate plus, with the
  hyperparameter ``noise=True`` (the default), a draw from that residual Gaussian, so
  draws follow the density ``log_prob`` scores; ``noise=False`` repeats the point
  estimate n times (the published deterministic mock, which has no scatter).

Discrete targets (``dequantise``) are handled as in the neural families: regressors fit
the dequantised values, ``log_prob`` integrates the density over the value's grid cell
and draws are snapped back onto the grid.

Persistence without pickles: kNN saves its (scaled) training arrays and is rebuilt on
load; extra trees are converted at fit time into flat node arrays (children, feature,
threshold, leaf value) and always predicted by a vectorised numpy traversal, so the
fitted and the loaded model run the same code on the same numbers; LightGBM saves its
plain-text model format (the fitted booster is itself rebuilt from that text); the MLP
saves a torch state dict. Every file is checksummed in ``config.json``.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from ..columns import parse_column_list
from ..files import atomic_directory, check_writable, dumps_json
from .base import (
    CONFIG_FILE,
    HISTORY_FILE,
    ModelError,
    ScaledModel,
    Table,
    _read_config,
    _split,
    column_matrix,
    register,
)
from .networks import TRAINING_DEFAULTS, mlp
from .training import TrainingConfig, train
from .transforms import ColumnScaler

#: The regressors a model can combine, by name.
REGRESSORS = ("knn", "extra_trees", "lightgbm", "mlp")
ARRAYS_FILE = "arrays.npz"
TENSORS_FILE = "weights.pt"
#: Rows per chunk when predicting (bounds the memory of prediction).
CHUNK = 8192

#: Published SMOGN thresholds (de Santi et al. 2022): colour, sSFR and radius were
#: augmented, stellar mass was not (``None``). Targets not named here use 0.8.
PUBLISHED_THRESHOLDS: dict[str, float | None] = {
    "smass": None, "color": 0.8, "sSFR": 0.2, "radius": 0.3}
DEFAULT_THRESHOLD = 0.8

COMMON_DEFAULTS: dict[str, Any] = {
    "noise": True, "dequantise": "auto", "augment": "none",
    "smogn_thresholds": PUBLISHED_THRESHOLDS, "smogn_k": 7, "smogn_pert": 0.04,
    "smogn_mode": "balance", "smogn_undersample": True, "smogn_control_points": None}
KNN_DEFAULTS: dict[str, Any] = {"knn_neighbors": 64, "knn_weights": "uniform"}
TREES_DEFAULTS: dict[str, Any] = {
    "trees_estimators": 100, "trees_min_leaf": 20, "trees_max_features": 1.0, "threads": 1}
LGBM_DEFAULTS: dict[str, Any] = {
    "lgbm_estimators": 150, "lgbm_learning_rate": 0.05, "lgbm_leaves": 31,
    "lgbm_min_leaf": 20, "threads": 1}
MLP_DEFAULTS: dict[str, Any] = {**TRAINING_DEFAULTS, "hidden": (64, 64), "mlp_valid": 0.1}
STACK_DEFAULTS: dict[str, Any] = {"members": REGRESSORS, "folds": 5}


def _member_seed(*keys: int) -> int:
    """A 32-bit seed derived from the fit seed and the position of a fit (target,
    regressor, fold): independent streams, reproducible."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


# ----------------------------------------------------------------------------- storage
class _Files:
    """What a model directory holds besides ``config.json``: plain arrays (npz), texts
    (LightGBM models) and torch tensors (MLP state dicts), each under a dotted key."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.texts: dict[str, str] = {}
        self.tensors: dict[str, torch.Tensor] = {}

    def write(self, directory: Path) -> dict[str, str]:
        """Write every part into ``directory``; returns {file name: sha256}."""
        if self.arrays:
            np.savez_compressed(directory / ARRAYS_FILE, **self.arrays)
        if self.tensors:
            torch.save(self.tensors, directory / TENSORS_FILE)
        for key, text in self.texts.items():
            (directory / f"{key}.txt").write_text(text)
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                for path in sorted(directory.iterdir())}

    @classmethod
    def read(cls, directory: Path, checksums: Mapping[str, str]) -> _Files:
        """Read the files listed in ``checksums``, refusing any whose hash differs."""
        files = cls()
        for name, expected in checksums.items():
            path = directory / name
            try:
                content = path.read_bytes()
            except OSError as err:
                raise ModelError(f"{path}: cannot read ({err})") from None
            if hashlib.sha256(content).hexdigest() != expected:
                raise ModelError(f"{path}: checksum differs from config.json: the file was "
                                 "modified or truncated")
            if name == ARRAYS_FILE:
                with np.load(path, allow_pickle=False) as data:
                    files.arrays = {key: data[key] for key in data.files}
            elif name == TENSORS_FILE:
                files.tensors = torch.load(path, weights_only=True, map_location="cpu")
            elif name.endswith(".txt"):
                files.texts[name[:-4]] = content.decode()
        return files


# ----------------------------------------------------------------------------- regressors
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
    def dump(self, files: _Files, key: str) -> None:
        """Store the fitted state in ``files`` under ``key``."""

    @classmethod
    @abstractmethod
    def restore(cls, files: _Files, key: str, hyper: Mapping[str, Any], n_condition: int
                ) -> Regressor:
        """Rebuild from what :meth:`dump` stored."""

    def training_history(self) -> list[dict[str, float]]:
        """The loss curve of an iteratively trained regressor (empty for the others)."""
        return []


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


class ExtraTreesRegressor(Regressor):
    """Extremely randomised trees (scikit-learn), held as one flat array of nodes.

    Node ``i`` of a tree starting at ``roots[t]`` sends a row to ``left[i]`` when
    ``x[feature[i]] <= threshold[i]`` (conditions cast to float32 first, as scikit-learn
    does), else to ``right[i]``; a leaf points to itself and holds ``value[i]``. Children
    always have larger indices than their parent, so a descent ends. Rows descend each
    tree together (vectorised over the rows still above a leaf); the prediction is the
    sum of the leaf values over the trees, in tree order, divided by their number.
    """

    kind = "extra_trees"
    FIELDS = ("left", "right", "feature", "threshold", "value", "roots")

    def __init__(self, left, right, feature, threshold, value, roots):
        self.left, self.right, self.feature = left, right, feature
        self.threshold, self.value, self.roots = threshold, value, roots
        self._children = np.stack([left, right], axis=1).astype(np.intp)
        self._leaf = left == np.arange(len(left))

    @classmethod
    def fit(cls, x, z, hyper, seed, progress):
        from sklearn.ensemble import ExtraTreesRegressor as Forest

        forest = Forest(n_estimators=int(hyper["trees_estimators"]),
                        min_samples_leaf=int(hyper["trees_min_leaf"]),
                        max_features=hyper["trees_max_features"], random_state=seed,
                        n_jobs=int(hyper["threads"])).fit(x, z)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in cls.FIELDS[:-1]}
        roots, offset = [], 0
        for estimator in forest.estimators_:
            tree = estimator.tree_
            nodes = np.arange(tree.node_count)
            leaf = tree.children_left < 0
            parts["left"].append(np.where(leaf, nodes, tree.children_left) + offset)
            parts["right"].append(np.where(leaf, nodes, tree.children_right) + offset)
            parts["feature"].append(np.where(leaf, 0, tree.feature))
            parts["threshold"].append(np.where(leaf, 0.0, tree.threshold))
            parts["value"].append(tree.value[:, 0, 0])
            roots.append(offset)
            offset += tree.node_count
        flat = {name: np.concatenate(values) for name, values in parts.items()}
        return cls(flat["left"].astype(np.int32), flat["right"].astype(np.int32),
                   flat["feature"].astype(np.int32), flat["threshold"].astype(np.float64),
                   flat["value"].astype(np.float64), np.asarray(roots, dtype=np.int32))

    def predict(self, x):
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        total = np.zeros(len(x32))
        for start in range(0, len(x32), CHUNK):
            block = x32[start:start + CHUNK]
            rows = np.arange(len(block))
            for root in self.roots:
                node = np.full(len(block), root, dtype=np.intp)
                active = rows
                while len(active):
                    current = node[active]
                    right = block[active, self.feature[current]] > self.threshold[current]
                    current = self._children[current, right.astype(np.intp)]
                    node[active] = current
                    active = active[~self._leaf[current]]
                total[start:start + len(block)] += self.value[node]
        return total / len(self.roots)

    def dump(self, files, key):
        for name in self.FIELDS:
            files.arrays[f"{key}.{name}"] = getattr(self, name)

    @classmethod
    def restore(cls, files, key, hyper, n_condition):
        arrays = [files.arrays[f"{key}.{name}"] for name in cls.FIELDS]
        left, right, feature, roots = arrays[0], arrays[1], arrays[2], arrays[5]
        n_nodes = len(left)
        problem = None
        if any(len(a) != n_nodes for a in arrays[:5]):
            problem = "arrays of different lengths"
        elif not (len(roots) and roots[0] == 0 and np.all(np.diff(roots) > 0)
                  and roots[-1] < n_nodes):
            problem = "bad tree roots"
        elif np.any(feature < 0) or np.any(feature >= n_condition):
            problem = f"a feature index outside [0, {n_condition})"
        else:
            index = np.arange(n_nodes)
            end = np.append(roots[1:], n_nodes)[np.searchsorted(roots, index, "right") - 1]
            internal = left != index
            children_ok = np.where(internal, (left > index) & (right > index)
                                   & (np.maximum(left, right) < end), right == index)
            if not children_ok.all():
                problem = "children outside their tree or not below their parent"
        if problem:
            raise ModelError(f"extra-trees arrays {key} are not a forest: {problem}")
        return cls(*arrays)


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
            raise ModelError(f"LightGBM model {key}: {err}") from None


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
    def fit(cls, x, z, hyper, seed, progress):
        train_rows, stop_rows = _split(len(x), float(hyper["mlp_valid"]), seed)
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
            raise ModelError(f"MLP weights {key}: {err}") from None
        return cls(network)


KINDS: dict[str, type[Regressor]] = {
    cls.kind: cls for cls in (KNNRegressor, ExtraTreesRegressor, LightGBMRegressor, MLPRegressor)}


class TargetFit:
    """The regressors of one target and, when stacked, their linear combination
    ``weights[0] + sum_i weights[i + 1] * prediction_i`` (else the single regressor)."""

    def __init__(self, members: dict[str, Regressor], weights: np.ndarray | None):
        self.members, self.weights = members, weights

    def member_predictions(self, x: np.ndarray) -> np.ndarray:
        """Scaled predictions of every member, (rows, members)."""
        return np.column_stack([member.predict(x) for member in self.members.values()])

    def predict(self, x: np.ndarray) -> np.ndarray:
        predictions = self.member_predictions(x)
        if self.weights is None:
            return predictions[:, 0]
        return self.weights[0] + predictions @ self.weights[1:]


def fit_stack(x: np.ndarray, z: np.ndarray, kinds: tuple[str, ...], hyper: Mapping[str, Any],
              seed: int, key: int) -> np.ndarray:
    """Linear stacking weights (intercept first, (1 + len(kinds),)) of the regressors
    ``kinds`` on one target: each is fitted on K - 1 folds (K = ``folds``, a seeded
    random partition of the rows) and predicts the remaining one; the out-of-fold
    predictions (rows, len(kinds)) are regressed on ``z`` by least squares. ``key``
    (the target's index) and ``seed`` give every fit its own seed."""
    folds = int(hyper["folds"])
    if len(x) < 2 * folds:
        raise ModelError(f"{len(x)} training rows are too few for {folds}-fold stacking")
    parts = np.array_split(np.random.default_rng(_member_seed(seed, key, 2)).permutation(len(x)),
                           folds)
    out_of_fold = np.empty((len(x), len(kinds)))
    for fold, held_out in enumerate(parts, start=1):
        rows = np.ones(len(x), dtype=bool)
        rows[held_out] = False
        for i, kind in enumerate(kinds):
            regressor = KINDS[kind].fit(x[rows], z[rows], hyper,
                                        _member_seed(seed, key, 1, REGRESSORS.index(kind), fold),
                                        progress=False)
            out_of_fold[held_out, i] = regressor.predict(x[held_out])
    design = np.column_stack([np.ones(len(x)), out_of_fold])
    weights, *_ = np.linalg.lstsq(design, z, rcond=None)
    return weights


# ----------------------------------------------------------------------------- the model
class RegressionModel(ScaledModel):
    """Deterministic regressors as a conditional density (see the module docstring).

    Subclasses name their regressors: one of :data:`REGRESSORS` (``regressor``), or the
    ``members`` hyperparameter for the stacked family.
    """

    regressor: ClassVar[str | None] = None

    def __init__(self, **hyperparameters: Any):
        super().__init__(**hyperparameters)
        self._validate_hyperparameters()
        self.fits: dict[str, TargetFit] = {}
        #: Second moment of the scaled residuals on the validation split, (d, d).
        self.residual_covariance: np.ndarray | None = None
        self._cholesky: np.ndarray | None = None
        self.history: dict[str, list[dict[str, float]]] = {}

    @property
    def kinds(self) -> tuple[str, ...]:
        """The regressors this model fits per target."""
        return (self.regressor,) if self.regressor else tuple(self.hyperparameters["members"])

    @property
    def stacked(self) -> bool:
        return self.regressor is None

    def _validate_hyperparameters(self) -> None:
        hp = self.hyperparameters
        if self.stacked:
            hp["members"] = parse_members(hp["members"])
            if isinstance(hp["folds"], bool) or int(hp["folds"]) != hp["folds"] or hp["folds"] < 2:
                raise ModelError(f"folds must be an integer >= 2, got {hp['folds']!r}")
        if hp["augment"] not in ("none", "smogn"):
            raise ModelError(f"augment must be 'none' or 'smogn', got {hp['augment']!r}")
        if not isinstance(hp["noise"], bool):
            raise ModelError(f"noise must be True or False, got {hp['noise']!r}")
        thresholds = hp["smogn_thresholds"]
        if not isinstance(thresholds, Mapping):
            raise ModelError("smogn_thresholds must map target names to a threshold in "
                             f"(0, 1] or None, got {thresholds!r}")
        for name, value in thresholds.items():
            try:
                parse_column_list([name])
            except KeyError as err:
                raise ModelError(f"smogn_thresholds: {err.args[0]}") from None
            if value is not None and not (isinstance(value, int | float) and 0 < value <= 1):
                raise ModelError(f"smogn_thresholds[{name!r}] must be in (0, 1] or None, "
                                 f"got {value!r}")
        points = hp["smogn_control_points"]
        if points is not None and not isinstance(points, Mapping):
            raise ModelError("smogn_control_points must map target names to lists of "
                             f"(y, phi, slope), got {points!r}")
        positive = {"knn_neighbors", "trees_estimators", "trees_min_leaf", "lgbm_estimators",
                    "lgbm_leaves", "lgbm_min_leaf", "threads", "smogn_k"}
        for name in sorted(positive & set(hp)):
            value = hp[name]
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ModelError(f"{name} must be a positive integer, got {value!r}")
        if "knn_weights" in hp and hp["knn_weights"] not in ("uniform", "distance"):
            raise ModelError(f"knn_weights must be 'uniform' or 'distance', "
                             f"got {hp['knn_weights']!r}")
        if "mlp_valid" in hp and not 0 < hp["mlp_valid"] < 1:
            raise ModelError(f"mlp_valid must be a fraction in (0, 1), got {hp['mlp_valid']!r}")
        if "epochs" in hp:
            try:
                TrainingConfig(**{k: hp[k] for k in TrainingConfig.__dataclass_fields__})
            except ValueError as err:
                raise ModelError(str(err)) from None

    # -- fitting
    def fit(self, catalog, condition, target, valid=0.2, seed=0, progress=True):
        """Fit every target's regressor(s) on the training rows and the residual
        Gaussian on the validation rows.

        Args:
            catalog: training table (Catalog, DataFrame or dict of columns).
            condition, target: disjoint column lists ("M_h,C_h" or sequences).
            valid: fraction of rows held out (seeded), or a validation table; its
                residuals give the residual covariance and ``metrics``.
            seed: seeds the split, every regressor, the folds and SMOGN.
            progress: show the MLP training progress bars.
        """
        data = self._prepare_fit(catalog, condition, target, valid, seed)
        x, y, x_valid, y_valid = data.x, data.y_model, data.x_valid, data.y_valid
        self.seed = int(seed)
        x_scaled = self.condition_scaler.forward(x)[0]
        z = self.target_scaler.forward(y)[0]
        # Augment every target first, so a SMOGN problem stops the fit before any work.
        training = [self._training_rows(x_scaled, y, z, j) for j in range(len(self.target))]
        rows = {name: len(x_j) for name, (x_j, _, augmented) in zip(self.target, training,
                                                                    strict=True) if augmented}
        self.fits, self.history = {}, {}
        for j, (name, (x_j, z_j, _)) in enumerate(zip(self.target, training, strict=True)):
            self.fits[name] = self._fit_target(x_j, z_j, j, progress)
        z_valid_hat = self._predict_scaled(self.condition_scaler.forward(x_valid)[0])
        residual = self.target_scaler.forward(data.y_valid_model)[0] - z_valid_hat
        self._set_residual_covariance(residual.T @ residual / len(residual))
        self.metrics = self._validation_metrics(x_valid, y_valid, len(x), rows)
        return self

    def _training_rows(self, x_scaled, y, z, j):
        """Scaled (conditions, target j) to fit target j on, and whether they were
        augmented: the training rows, or their
        SMOGN-augmented version. SMOGN sees the scaled conditions (so its neighbour
        distances weigh the columns as the regressors do) and the physical target (so
        thresholds and control points are in the target's units); synthetic targets
        outside the target's support are dropped."""
        name = self.target[j]
        hp = self.hyperparameters
        threshold = hp["smogn_thresholds"].get(name, DEFAULT_THRESHOLD)
        if hp["augment"] != "smogn" or threshold is None:
            return x_scaled, z[:, j], False
        try:
            from ..augment.smogn import smogn  # imported only when used
        except ImportError as err:
            raise ModelError(f"augment='smogn' needs galhalo.augment.smogn ({err})") from None
        table = pd.DataFrame(dict(zip(self.condition, x_scaled.T, strict=True))
                             | {name: y[:, j]})
        points = (hp["smogn_control_points"] or {}).get(name)
        try:
            augmented = smogn(table, name, features=list(self.condition), k=int(hp["smogn_k"]),
                              pert=float(hp["smogn_pert"]), threshold=float(threshold),
                              control_points=None if points is None else np.asarray(points),
                              mode=hp["smogn_mode"], undersample=bool(hp["smogn_undersample"]),
                              seed=_member_seed(self.seed, j, 0))
        except ValueError as err:
            raise ModelError(f"SMOGN on target {name!r}: {err} (or set smogn_thresholds="
                             f"{{{name!r}: None}} to fit {name} on the raw rows)") from None
        x_new = column_matrix(augmented, self.condition, f"SMOGN-augmented ({name}) condition")
        y_new = column_matrix(augmented, (name,), f"SMOGN-augmented ({name}) target")[:, 0]
        support = self.target_scaler.supports[j]
        inside = support.inside(y_new)
        u = support.forward(y_new[inside])[0]
        return x_new[inside], (u - self.target_scaler.mean[j]) / self.target_scaler.scale[j], True

    def _fit_target(self, x, z, j, progress) -> TargetFit:
        hp = self.hyperparameters
        weights = fit_stack(x, z, self.kinds, hp, self.seed, j) if self.stacked else None
        members = {}
        for kind in self.kinds:
            members[kind] = KINDS[kind].fit(
                x, z, hp, _member_seed(self.seed, j, 1, REGRESSORS.index(kind), 0), progress)
            if members[kind].training_history():
                self.history[self.target[j]] = members[kind].training_history()
        return TargetFit(members, weights)

    def _set_residual_covariance(self, covariance: np.ndarray) -> None:
        try:
            self._cholesky = np.linalg.cholesky(covariance)
        except np.linalg.LinAlgError:
            raise ModelError("the validation residuals have a singular covariance (targets "
                             "predicted exactly, or linearly dependent targets); use more "
                             "validation rows or drop a redundant target") from None
        self.residual_covariance = covariance

    def _validation_metrics(self, x_valid, y_valid, train_rows, rows) -> dict[str, float]:
        valid_nll = -float(np.mean(self.log_prob(
            dict(zip(self.condition, x_valid.T, strict=True)),
            dict(zip(self.target, y_valid.T, strict=True)))))
        predicted = self.target_scaler.inverse(
            self._predict_scaled(self.condition_scaler.forward(x_valid)[0]))
        epochs = [len(h) for h in self.history.values()]
        best = [int(np.argmin([e["valid"] for e in h])) + 1 for h in self.history.values()]
        metrics: dict[str, float] = {
            "valid_nll": valid_nll, "train_rows": train_rows, "valid_rows": len(x_valid),
            "epochs": max(epochs, default=0), "best_epoch": max(best, default=0)}
        for j, name in enumerate(self.target):
            truth, guess = y_valid[:, j], predicted[:, j]
            spread = truth.std() * guess.std()
            metrics[f"valid_pcc_{name}"] = (float(np.mean((truth - truth.mean()) * (
                guess - guess.mean())) / spread) if spread > 0 else 0.0)
            metrics[f"valid_r2_{name}"] = float(1 - np.mean((truth - guess) ** 2) / truth.var())
            metrics[f"valid_rmse_{name}"] = float(np.sqrt(np.mean((truth - guess) ** 2)))
            if name in rows:
                metrics[f"augmented_rows_{name}"] = rows[name]
        return metrics

    # -- using
    def _predict_scaled(self, x_scaled: np.ndarray) -> np.ndarray:
        return np.column_stack([self.fits[name].predict(x_scaled) for name in self.target])

    def _scaled_condition(self, condition_table: Table) -> np.ndarray:
        self._require_fitted()
        x = column_matrix(condition_table, self.condition, "condition")
        return self.condition_scaler.forward(x)[0]

    def predict(self, condition_table: Table) -> np.ndarray:
        """The point estimate per row, (rows, targets), physical units."""
        x = self._scaled_condition(condition_table)
        return self.target_scaler.inverse(self._predict_scaled(x))

    def predict_members(self, condition_table: Table) -> dict[str, np.ndarray]:
        """Each regressor's own point estimate, {name: (rows, targets)}, physical units
        (for a stacked model: its members before the linear combination)."""
        x = self._scaled_condition(condition_table)
        columns = {name: self.fits[name].member_predictions(x) for name in self.target}
        return {kind: self.target_scaler.inverse(np.column_stack(
                    [columns[name][:, i] for name in self.target]))
                for i, kind in enumerate(self.kinds)}

    def _continuous_log_prob(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """log N(z(y); z_hat(x), Sigma) + ln|dz/dy| for physical arrays (rows, c), (rows, d)."""
        z, log_jacobian, inside = self.target_scaler.forward(y)
        residual = z - self._predict_scaled(self.condition_scaler.forward(x)[0])
        from scipy.linalg import solve_triangular

        white = solve_triangular(self._cholesky, residual.T, lower=True)
        d = len(self.target)
        result = (-0.5 * np.sum(white**2, axis=0) - np.sum(np.log(np.diag(self._cholesky)))
                  - 0.5 * d * np.log(2 * np.pi) + log_jacobian)
        result[~inside] = -np.inf
        return result

    def sample(self, condition_table: Table, n_per_row: int = 1, seed: int = 0) -> np.ndarray:
        """(n_per_row, rows, targets) in physical units: the point estimate plus, when
        ``noise`` is on, a draw of the residual Gaussian (seeded by ``seed``)."""
        if isinstance(n_per_row, bool) or int(n_per_row) != n_per_row or n_per_row < 1:
            raise ModelError(f"n_per_row must be a positive integer, got {n_per_row}")
        z_hat = self._predict_scaled(self._scaled_condition(condition_table))
        draws = np.broadcast_to(z_hat, (int(n_per_row), *z_hat.shape))
        if self.hyperparameters["noise"]:
            noise = np.random.default_rng(seed).standard_normal(draws.shape)
            draws = draws + noise @ self._cholesky.T
        return self.target_scaler.snap(self.target_scaler.inverse(draws))

    # -- persistence
    def config(self) -> dict[str, Any]:
        return {**super().config(), "residual_covariance": self.residual_covariance,
                "stacking_weights": {name: fit.weights for name, fit in self.fits.items()
                                     if fit.weights is not None}}

    def save(self, directory: str | Path) -> Path:
        """Write config.json (with sha256 of every other file), arrays.npz (kNN training
        arrays, extra-trees nodes), <target>.lightgbm.txt (LightGBM text models),
        weights.pt (MLP state dicts) and history.json (MLP loss curves)."""
        self._require_fitted()
        target = check_writable(directory, directory=True)
        files = _Files()
        for name, fit in self.fits.items():
            for kind, member in fit.members.items():
                member.dump(files, f"{name}.{kind}")
        with atomic_directory(target) as tmp:
            config = self.config()
            config["checksums"] = files.write(tmp)
            (tmp / CONFIG_FILE).write_text(dumps_json(config))
            (tmp / HISTORY_FILE).write_text(dumps_json(self.history))
        return target

    @classmethod
    def load(cls, directory: str | Path) -> RegressionModel:
        directory = Path(directory)
        config = _read_config(directory)
        if config["family"] != cls.family:
            raise ModelError(f"{directory} holds a {config['family']!r} model, not {cls.family!r}")
        if not isinstance(config.get("checksums"), dict):
            raise ModelError(f"{directory / CONFIG_FILE}: no checksums of the model files")
        files = _Files.read(directory, config["checksums"])
        try:
            model = cls(**config["hyperparameters"])
            model._set_columns(config["condition"], config["target"])
            model.condition_scaler = ColumnScaler.from_dict(config["condition_scaler"])
            model.target_scaler = ColumnScaler.from_dict(config["target_scaler"])
            weights = config["stacking_weights"]
            model.fits = {}
            for name in model.target:
                members = {kind: KINDS[kind].restore(files, f"{name}.{kind}",
                                                     model.hyperparameters,
                                                     len(model.condition))
                           for kind in model.kinds}
                stack = np.asarray(weights[name], dtype=float) if model.stacked else None
                model.fits[name] = TargetFit(members, stack)
            model._set_residual_covariance(np.asarray(config["residual_covariance"], dtype=float))
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ModelError):
                raise
            raise ModelError(f"{directory}: cannot rebuild the model ({err!r})") from None
        model.seed = config.get("seed")
        model.metrics = config.get("metrics", {})
        history = directory / HISTORY_FILE
        model.history = json.loads(history.read_text()) if history.exists() else {}
        return model


def parse_members(members: Any) -> tuple[str, ...]:
    """Regressor names ("knn,lightgbm" or a sequence) -> tuple, each known, no repeats."""
    names = tuple(m.strip() for m in members.split(",")) if isinstance(members, str) \
        else tuple(members)
    unknown = [name for name in names if name not in REGRESSORS]
    if unknown or not names:
        raise ModelError(f"unknown regressor {unknown[0] if unknown else '(none given)'!r}; "
                         f"known: {', '.join(REGRESSORS)}")
    if len(set(names)) != len(names):
        raise ModelError(f"regressors repeated in members: {', '.join(names)}")
    return names


# ----------------------------------------------------------------------------- families
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
