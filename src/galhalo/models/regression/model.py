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
* ``metrics["valid_nll"]`` is out of sample for Sigma too: the validation rows are
  split in two (seeded) and each half is scored with the covariance of the other half;
* ``sample(condition, n)`` (n, rows, targets): the point estimate plus, with the
  hyperparameter ``noise=True`` (the default), a draw from that residual Gaussian, so
  draws follow the density ``log_prob`` scores; ``noise=False`` repeats the point
  estimate n times (the published deterministic mock, which has no scatter).

Discrete targets (``dequantise``) are handled as in the neural families: regressors fit
the dequantised values, ``log_prob`` integrates the density over the value's grid cell
and draws are snapped back onto the grid.

Persistence without pickles goes through the one store (``models/store.py``): kNN saves
its (scaled) training arrays and is rebuilt on load; extra trees are converted at fit
time into flat node arrays and always predicted by a vectorised numpy traversal, so the
fitted and the loaded model run the same code on the same numbers; LightGBM saves its
plain-text model format; the MLP saves a torch state dict. Every file is checksummed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ...catalog.schema import parse_column_list
from ...errors import CatalogError, ModelError, one_line
from ..interface import MINIMUM_TRAIN_ROWS, MINIMUM_VALID_ROWS, Table, column_matrix
from ..scaled import ScaledModel
from ..store import ModelFiles, read_model_directory, write_model_directory
from ..training import TrainingConfig
from ..transforms import SMASS_CUT_WIDTH, ColumnScaler
from .regressor import member_seed
from .stacking import KINDS, REGRESSORS, TargetFit, fit_stack, parse_members, stack_minimum_rows

#: Published SMOGN thresholds (de Santi et al. 2022): colour, sSFR and radius were
#: augmented, stellar mass was not (``None``). Targets not named here use 0.8.
PUBLISHED_THRESHOLDS: dict[str, float | None] = {
    "smass": None, "color": 0.8, "sSFR": 0.2, "radius": 0.3}
DEFAULT_THRESHOLD = 0.8

COMMON_DEFAULTS: dict[str, Any] = {
    "noise": True, "dequantise": "auto", "augment": "none", "smass_cut_width": SMASS_CUT_WIDTH,
    "smogn_thresholds": PUBLISHED_THRESHOLDS, "smogn_k": 7, "smogn_pert": 0.04,
    "smogn_mode": "balance", "smogn_undersample": True, "smogn_control_points": None}


def second_moment(residual: np.ndarray) -> np.ndarray:
    """(d, d) second moment of residuals (rows, d) about zero."""
    return residual.T @ residual / len(residual)


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

    def row_minimums(self, n_target: int = 1) -> tuple[int, int]:
        """Training rows: what the regressors need (kNN more than ``knn_neighbors``, the
        MLP its early-stopping split, stacking its folds); validation rows: two halves
        of at least ``n_target + 1`` rows each, for the cross-fitted residual
        covariance behind ``valid_nll``."""
        hp = self.hyperparameters
        train_rows = (stack_minimum_rows(self.kinds, hp) if self.stacked
                      else max(MINIMUM_TRAIN_ROWS, KINDS[self.regressor].minimum_rows(hp)))
        return train_rows, max(MINIMUM_VALID_ROWS, 2 * (n_target + 1))

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
            except CatalogError as err:
                raise ModelError(f"smogn_thresholds: {err}") from None
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
        valid_nll = self._cross_fitted_nll(x_valid, y_valid, residual)
        self._set_residual_covariance(second_moment(residual))
        self.metrics = self._validation_metrics(x_valid, y_valid, len(x), rows, valid_nll)
        return self

    def _cross_fitted_nll(self, x_valid: np.ndarray, y_valid: np.ndarray,
                          residual: np.ndarray) -> float:
        """Mean NLL (nats per row) of the validation rows, each half scored with the
        residual covariance of the other half (a seeded split): no row is scored by a
        covariance fitted on it. The saved covariance then uses every validation row."""
        order = np.random.default_rng(member_seed(self.seed, 3)).permutation(len(residual))
        halves = np.array_split(order, 2)
        total = 0.0
        for scored, fitted in (halves, halves[::-1]):
            self._set_residual_covariance(second_moment(residual[fitted]),
                                          "half of the validation residuals")
            total += float(np.sum(self.log_prob(
                dict(zip(self.condition, x_valid[scored].T, strict=True)),
                dict(zip(self.target, y_valid[scored].T, strict=True)))))
        return -total / len(residual)

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
            from ...augment.smogn import smogn  # imported only when used
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
                              seed=member_seed(self.seed, j, 0))
        except ValueError as err:
            raise ModelError(f"SMOGN on target {name!r}: {one_line(err)} (or set "
                             f"smogn_thresholds="
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
                x, z, hp, member_seed(self.seed, j, 1, REGRESSORS.index(kind), 0), progress)
            if members[kind].training_history():
                self.history[self.target[j]] = members[kind].training_history()
        return TargetFit(members, weights)

    def _set_residual_covariance(self, covariance: np.ndarray,
                                 what: str = "the validation residuals") -> None:
        try:
            self._cholesky = np.linalg.cholesky(covariance)
        except np.linalg.LinAlgError:
            raise ModelError(f"{what} have a singular covariance (targets predicted "
                             "exactly, or linearly dependent targets); use more validation "
                             "rows or drop a redundant target") from None
        self.residual_covariance = covariance

    def _validation_metrics(self, x_valid, y_valid, train_rows, rows, valid_nll
                            ) -> dict[str, float]:
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
        """Write the model directory (``models/store.py``): config.json (with sha256 of
        every other file), arrays.npz (kNN training arrays, extra-trees nodes),
        <target>.lightgbm.txt (LightGBM text models), weights.pt (MLP state dicts) and
        history.json (MLP loss curves)."""
        self._require_fitted()
        files = ModelFiles()
        for name, fit in self.fits.items():
            for kind, member in fit.members.items():
                member.dump(files, f"{name}.{kind}")
        return write_model_directory(directory, self.config(), files, self.history)

    @classmethod
    def load(cls, directory: str | Path) -> RegressionModel:
        stored = read_model_directory(directory, cls.family)
        config, files = stored.config, stored.files
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
            raise ModelError(f"{stored.directory}: cannot rebuild the model "
                             f"({one_line(err)})") from None
        model.seed = config.get("seed")
        model.metrics = config.get("metrics", {})
        model.history = stored.history or {}
        return model
