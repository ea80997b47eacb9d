"""Fit, apply, save and load the GNN that infers cosmological parameters from boxes of
galaxies.

:class:`CosmoGNN` holds hyperparameters, the :class:`~galhalo.cosmo.systematics.Systematics`
applied to every box before its graph is built (training and prediction alike), the
feature and parameter scalers (the shared ``ColumnScaler``) and the network. Training
goes through the one shared loop (``galhalo.models.training.train``, with a graph
``collate``): AdamW, early stopping on the validation moment loss, best-epoch restore,
progress bar.

Calibration: a network trained on a few hundred boxes fits its training boxes better than
new ones, so the standard deviations it learned there are too narrow elsewhere (on the
particle-mesh suites, chi^2 1.3-3.0 and 1-sigma coverage 0.52-0.63 on held-out boxes;
0.65-0.69 after calibration, docs/cosmology.md). With ``calibrate=True`` (the
default) each parameter's std is multiplied after training by the one factor
``sqrt(<(truth - mean)^2 / std^2>)`` over the validation boxes -- the maximum-likelihood
scale of a Gaussian posterior, which makes the validation chi^2 exactly 1 ("temperature
scaling", Guo et al. 2017). That in-sample 1 says nothing, so ``metrics["valid"]`` scores
each validation box with the factor fitted on the *other* validation boxes
(:func:`~galhalo.cosmo.calibration.leave_one_out_scale`;
``metrics["valid_calibration"] == "leave-one-out"``;
models saved before carry the in-sample scores, see
:func:`~galhalo.cosmo.calibration.validation_scores`). The
validation boxes also chose the best epoch, which biases the factor slightly low; the
benchmark scores boxes that saw neither.

Ensembles: ``members=M`` trains M networks on the same split, each with its own
initialisation and batch order (member 0 is the single network of the same seed), and
predicts the moments of their equal-weight mixture (``gnn.PosteriorEnsemble``); the
calibration then applies to the mixture.

A model directory holds ``config.json`` (family ``cosmo_gnn``, version, hyperparameters,
systematics, graph settings, parameter names, scalers, std calibration factors, the
training boxes' side, seed, validation metrics, weights checksum), ``weights.pt`` (a
torch state dict, loaded with ``weights_only=True``) and ``history.json`` (the loss
curve). No pickles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from .. import __version__
from ..models.base import (
    ModelError,
    load_weights,
    read_network_config,
    restore_fit_record,
    save_network_directory,
)
from ..models.training import TrainingConfig, train
from ..models.transforms import ColumnScaler, Support
from .calibration import LEAVE_ONE_OUT, calibration_factor, leave_one_out_scale
from .gnn import PosteriorEnsemble, PosteriorGNN, moment_loss
from .graphs import (
    CosmoError,
    Galaxies,
    GraphConfig,
    build_graphs,
    feature_names,
    galaxies_from_suite,
)
from .metrics import posterior_metrics
from .systematics import Systematics

__all__ = ["FAMILY", "CosmoGNN", "collate_graphs", "evaluate_boxes", "evaluate_suites",
           "validation_split"]

FAMILY = "cosmo_gnn"
#: Graphs per forward pass when predicting.
PREDICT_BATCH = 256


def collate_graphs(graphs: Sequence[Data], rows: torch.Tensor) -> Batch:
    """The shared loop's ``collate``: the graphs at ``rows`` as one batch."""
    return Batch.from_data_list([graphs[i] for i in rows.tolist()])


def _scaler(names: Sequence[str], values: np.ndarray, what: str) -> ColumnScaler:
    """Standardisation (identity support) fitted on ``values`` (rows, len(names)); a
    constant column keeps scale 1."""
    if len(values) == 0:
        raise CosmoError(f"the training graphs have no {what}: nothing to scale (with "
                         "no edges at all, raise r_link)")
    scale = values.std(axis=0)
    return ColumnScaler(tuple(names), [Support() for _ in names], values.mean(axis=0),
                        np.where(scale > 0, scale, 1.0))


def _check_boxes(boxes: Sequence[Galaxies], what: str) -> None:
    if isinstance(boxes, Galaxies) or not isinstance(boxes, Sequence):
        raise CosmoError(f"{what} must be a sequence of Galaxies (one per box)")
    if len(boxes) == 0:
        raise CosmoError(f"{what}: no boxes given")
    wrong = [i for i, box in enumerate(boxes) if not isinstance(box, Galaxies)]
    if wrong:
        raise CosmoError(f"{what}: items {wrong[:5]} are not Galaxies")


class CosmoGNN:
    """GNN posterior-moment estimator of cosmological parameters from galaxy boxes.

    Hyperparameters (constructor keywords, defaults in :attr:`defaults`): ``hidden``,
    ``layers`` (network), ``r_link`` (Mpc/h), ``properties`` (galaxy property node
    features), ``use_global`` (log10 N_gal), ``line_of_sight`` (only v_z; forced on by
    redshift-space systematics), ``calibrate`` (scale the stds on the validation boxes,
    see the module docstring), ``members`` (networks in a deep ensemble, see the module
    docstring), and the shared loop's ``epochs``, ``batch_size``
    (graphs), ``learning_rate``, ``weight_decay``, ``patience``, ``schedule_patience``,
    ``average``.
    """

    family = FAMILY
    defaults: ClassVar[dict[str, Any]] = {
        "hidden": 64, "layers": 2, "r_link": 1.25, "properties": (), "use_global": True,
        "line_of_sight": False, "calibrate": True, "members": 1, "epochs": 300, "batch_size": 32,
        "learning_rate": 1e-3, "weight_decay": 1e-5, "patience": 30, "schedule_patience": 10,
        "average": 0.0,
    }

    def __init__(self, systematics: Systematics | None = None, **hyperparameters: Any):
        unknown = sorted(set(hyperparameters) - set(self.defaults))
        if unknown:
            raise ModelError(f"unknown {FAMILY} hyperparameters {unknown}; known: "
                             f"{sorted(self.defaults)}")
        if systematics is not None and not isinstance(systematics, Systematics):
            raise ModelError(f"systematics must be a Systematics, got "
                             f"{type(systematics).__name__}")
        self.hyperparameters = {**self.defaults, **hyperparameters}
        properties = self.hyperparameters["properties"]
        self.hyperparameters["properties"] = (
            (properties,) if isinstance(properties, str) else tuple(properties))
        self.systematics = systematics or Systematics()
        for name in ("hidden", "layers", "members"):
            value = self.hyperparameters[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"{name} must be a positive integer, got {value!r}")
        try:
            self.graph_config = GraphConfig(
                r_link=self.hyperparameters["r_link"],
                line_of_sight=bool(self.hyperparameters["line_of_sight"]
                                   or self.systematics.redshift_space),
                properties=self.hyperparameters["properties"],
                use_global=bool(self.hyperparameters["use_global"]))
            self.training_config = TrainingConfig(**{
                key: self.hyperparameters[key] for key in (
                    "epochs", "batch_size", "learning_rate", "weight_decay", "patience",
                    "schedule_patience", "average")})
        except ValueError as err:
            raise ModelError(str(err)) from None
        self.parameter_names: tuple[str, ...] = ()
        self.scalers: dict[str, ColumnScaler] = {}
        self.node_scale = 1.0
        #: per-parameter factor on the network's std (1 when not calibrated)
        self.std_scale = np.ones(0)
        #: side of the training boxes, Mpc/h (None: mixed sizes, or an older model)
        self.box_size: float | None = None
        self.network: PosteriorGNN | PosteriorEnsemble | None = None
        self.history: list[dict[str, float]] = []
        self.metrics: dict[str, Any] = {}
        self.seed: int | None = None

    def __repr__(self) -> str:
        state = ", ".join(self.parameter_names) if self.fitted else "not fitted"
        return f"CosmoGNN({state})"

    @property
    def fitted(self) -> bool:
        return self.network is not None

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise ModelError("this cosmo_gnn model is not fitted yet: call fit() or load()")

    # -- graphs
    def observe(self, boxes: Sequence[Galaxies], seed: int = 0) -> list[Galaxies]:
        """The boxes after the model's systematics; box i uses the generator seeded with
        (seed, i), so the same seed gives the same catalogs."""
        _check_boxes(boxes, "boxes")
        if not self.systematics.active:
            return list(boxes)
        observed = []
        for index, box in enumerate(boxes):
            try:
                observed.append(self.systematics.apply(
                    box, np.random.default_rng([int(seed), index])))
            except CosmoError as err:
                raise CosmoError(f"box {index}: {err}") from None
        return observed

    def graphs(self, boxes: Sequence[Galaxies], seed: int = 0) -> list[Data]:
        """Unscaled graphs (physical feature units) of the observed boxes."""
        return build_graphs(self.observe(boxes, seed), self.graph_config)

    def _scaled(self, graphs: Sequence[Data], targets: np.ndarray | None = None
                ) -> list[Data]:
        node, edge, glob = (self.scalers[k] for k in ("node", "edge", "global"))
        out = []
        for i, graph in enumerate(graphs):
            scaled = Data(
                x=torch.as_tensor(node.forward(graph.x.double().numpy())[0],
                                  dtype=torch.float32),
                edge_index=graph.edge_index,
                edge_attr=torch.as_tensor(edge.forward(graph.edge_attr.double().numpy())[0],
                                          dtype=torch.float32).reshape(
                    graph.edge_attr.shape[0], len(edge.names)),
                u=torch.as_tensor(glob.forward(graph.u.double().numpy())[0],
                                  dtype=torch.float32).reshape(1, len(glob.names)),
                num_nodes=graph.num_nodes)
            if targets is not None:
                scaled.y = torch.as_tensor(targets[i:i + 1], dtype=torch.float32)
            out.append(scaled)
        return out

    # -- fitting
    def fit(self, boxes: Sequence[Galaxies], parameters: np.ndarray,
            names: Sequence[str] = ("Omega_m",), valid: float = 0.2, seed: int = 0,
            progress: bool = True) -> CosmoGNN:
        """Learn the posterior moments of ``parameters`` given the boxes.

        Args:
            boxes: one :class:`Galaxies` per simulation.
            parameters: (boxes, len(names)) true parameter values (or (boxes,)).
            names: parameter names, e.g. ("Omega_m",).
            valid: fraction of boxes held out (seeded) for early stopping, the std
                calibration and the validation metrics.
            seed: seeds the split, the systematics, the weights and the batch order.
            progress: show the training progress bar.
        """
        _check_boxes(boxes, "boxes")
        names = (names,) if isinstance(names, str) else tuple(names)
        values = np.array(parameters, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape != (len(boxes), len(names)):
            raise CosmoError(f"parameters must have shape (boxes, parameters) = "
                             f"({len(boxes)}, {len(names)}), got {values.shape}")
        if not np.isfinite(values).all():
            raise CosmoError("parameters hold NaN or inf values")
        train_rows, valid_rows = validation_split(len(boxes), valid, seed)
        graphs = self.graphs(boxes, seed)
        train_graphs = [graphs[i] for i in train_rows]
        node_names, edge_names, global_names = feature_names(self.graph_config)
        self.parameter_names = names
        self.scalers = {
            "node": _scaler(node_names, np.concatenate(
                [g.x.double().numpy() for g in train_graphs]), "nodes"),
            "edge": _scaler(edge_names, np.concatenate(
                [g.edge_attr.double().numpy() for g in train_graphs]), "edges"),
            "global": _scaler(global_names, np.concatenate(
                [g.u.double().numpy() for g in train_graphs]), "global features")
            if global_names else ColumnScaler((), [], np.zeros(0), np.ones(0)),
            "parameters": _scaler(names, values[train_rows], "parameters"),
        }
        self.node_scale = float(np.mean([g.num_nodes for g in train_graphs]))
        sizes = {float(box.box_size) for box in boxes}
        self.box_size = sizes.pop() if len(sizes) == 1 else None
        targets = self.scalers["parameters"].forward(values)[0]
        scaled = self._scaled(graphs, targets)
        train_data = ([scaled[i] for i in train_rows], targets[train_rows])
        valid_data = ([scaled[i] for i in valid_rows], targets[valid_rows])
        members, histories = [], []
        for member in range(self.hyperparameters["members"]):
            member_seed = seed if member == 0 else int(
                np.random.SeedSequence([int(seed), member]).generate_state(1)[0])
            torch.manual_seed(member_seed)
            network = self._build_member()

            def loss(batch: Batch, truth: torch.Tensor, network=network) -> torch.Tensor:
                return moment_loss(*network(batch), truth)

            history = train(network, loss, train_data, valid_data, self.training_config,
                            member_seed, progress=progress, collate=collate_graphs)
            members.append(network)
            histories.append(history)
        self.network = members[0] if len(members) == 1 else PosteriorEnsemble(members)
        self.history = [{**h, "member": m} if len(members) > 1 else h
                        for m, history in enumerate(histories) for h in history]
        self.seed = int(seed)
        self.std_scale = np.ones(len(names))
        mean, raw_std = self._predict_scaled([scaled[i] for i in valid_rows])
        truth = values[valid_rows]
        calibrate = bool(self.hyperparameters["calibrate"])
        if calibrate:
            self.std_scale = calibration_factor(truth, mean, raw_std)
        # Scored out of sample: each validation box with the factor fitted on the others
        # (with the factor fitted on all of them, chi^2 would be 1 by construction).
        scored_std = raw_std * (leave_one_out_scale(truth, mean, raw_std) if calibrate
                                else 1.0)
        self.metrics = {
            "valid": posterior_metrics(truth, mean, scored_std, names),
            "valid_calibration": LEAVE_ONE_OUT if calibrate else "none",
            "valid_uncalibrated": posterior_metrics(truth, mean, raw_std, names),
            "std_scale": dict(zip(names, self.std_scale.tolist(), strict=True)),
            "valid_loss": float(np.mean([min(h["valid"] for h in history)
                                         for history in histories])),
            "epochs": len(histories[0]),
            "best_epoch": int(np.argmin([h["valid"] for h in histories[0]])) + 1,
            "train_boxes": len(train_rows), "valid_boxes": len(valid_rows)}
        if len(histories) > 1:
            self.metrics["member_epochs"] = [
                {"epochs": len(history),
                 "best_epoch": int(np.argmin([h["valid"] for h in history])) + 1}
                for history in histories]
        return self

    def _build(self) -> PosteriorGNN | PosteriorEnsemble:
        """The untrained network of the hyperparameters (an ensemble if members > 1)."""
        members = self.hyperparameters["members"]
        if members == 1:
            return self._build_member()
        return PosteriorEnsemble([self._build_member() for _ in range(members)])

    def _build_member(self) -> PosteriorGNN:
        return PosteriorGNN(len(self.scalers["node"].names), len(self.scalers["edge"].names),
                            len(self.scalers["global"].names), len(self.parameter_names),
                            self.hyperparameters["hidden"], self.hyperparameters["layers"],
                            self.node_scale)

    # -- using
    def _predict_scaled(self, scaled: Sequence[Data]) -> tuple[np.ndarray, np.ndarray]:
        """Physical (mean, std), each (boxes, parameters), of scaled graphs; the std
        includes the calibration factors."""
        self.network.eval()
        means, stds = [], []
        with torch.no_grad():
            for i in range(0, len(scaled), PREDICT_BATCH):
                mean, std = self.network(Batch.from_data_list(list(scaled[i:i + PREDICT_BATCH])))
                means.append(mean.double().numpy())
                stds.append(std.double().numpy())
        parameters = self.scalers["parameters"]
        return (parameters.inverse(np.concatenate(means)),
                np.concatenate(stds) * parameters.scale * self.std_scale)

    def predict_graphs(self, graphs: Sequence[Data]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior (mean, std) of unscaled graphs built with :attr:`graph_config`,
        each (boxes, parameters), in the parameters' units."""
        self._require_fitted()
        node, edge, glob = feature_names(self.graph_config)
        for i, graph in enumerate(graphs):
            shapes = (graph.x.shape[1], graph.edge_attr.shape[1], graph.u.shape[1])
            if shapes != (len(node), len(edge), len(glob)):
                raise CosmoError(f"graph {i} has (node, edge, global) feature counts "
                                 f"{shapes}; this model expects "
                                 f"{(len(node), len(edge), len(glob))}")
        return self._predict_scaled(self._scaled(graphs))

    def predict(self, boxes: Sequence[Galaxies], seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior (mean, std) per box, each (boxes, parameters), parameter units; the
        model's systematics are applied first, seeded by ``seed``.

        Raises:
            CosmoError: for a box whose side differs from the training boxes' (the
                galaxy count, the global feature and the graph sums scale with the
                volume, so such a prediction would be silently wrong).
        """
        self._require_fitted()
        _check_boxes(boxes, "boxes")
        if self.box_size is not None:
            for index, box in enumerate(boxes):
                if not np.isclose(box.box_size, self.box_size, rtol=1e-6):
                    raise CosmoError(
                        f"box {index} is {box.box_size:g} Mpc/h on a side, but this model "
                        f"was trained on {self.box_size:g} Mpc/h periodic boxes: predict "
                        "boxes of that size, or train on boxes of this one")
        return self.predict_graphs(self.graphs(boxes, seed))

    # -- persistence
    def config(self) -> dict[str, Any]:
        """What ``config.json`` holds."""
        self._require_fitted()
        return {"family": FAMILY, "galhalo_version": __version__,
                "hyperparameters": self.hyperparameters,
                "systematics": self.systematics.to_dict(),
                "graph": self.graph_config.to_dict(),
                "parameters": list(self.parameter_names),
                "scalers": {key: scaler.to_dict() for key, scaler in self.scalers.items()},
                "node_scale": self.node_scale,
                "std_scale": self.std_scale.tolist(), "box_size": self.box_size,
                "seed": self.seed, "metrics": self.metrics}

    def save(self, directory: str | Path) -> Path:
        """Write the model directory atomically; returns its path."""
        self._require_fitted()
        return save_network_directory(directory, self.network, self.config(), self.history)

    @classmethod
    def load(cls, directory: str | Path) -> CosmoGNN:
        """Read a directory written by :meth:`save`."""
        directory = Path(directory)
        config = read_network_config(directory, FAMILY)
        try:
            model = cls(Systematics.from_dict(config["systematics"]),
                        **config["hyperparameters"])
            model.parameter_names = tuple(config["parameters"])
            model.scalers = {key: ColumnScaler.from_dict(value)
                             for key, value in config["scalers"].items()}
            model.node_scale = float(config["node_scale"])
            model.std_scale = _std_scale(config.get("std_scale"), model.parameter_names)
            box_size = config.get("box_size")
            model.box_size = None if box_size is None else float(box_size)
            model.network = model._build()
            load_weights(model.network, directory)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ModelError(f"{directory}: cannot rebuild the model ({err})") from None
        restore_fit_record(model, config, directory)
        return model


def validation_split(n_boxes: int, valid: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) of :meth:`CosmoGNN.fit`: a seeded permutation of
    ``range(n_boxes)`` whose first ``round(valid * n_boxes)`` (at least 2) validate."""
    if not 0 < valid < 1:
        raise CosmoError(f"valid must be a fraction in (0, 1), got {valid}")
    order = np.random.default_rng(seed).permutation(n_boxes)
    n_valid = max(2, round(valid * n_boxes))
    if n_boxes - n_valid < 2:
        raise CosmoError(f"{n_boxes} boxes are too few to train and validate (at least 2 "
                         "validation and 2 training boxes are needed)")
    return order[n_valid:], order[:n_valid]


def _std_scale(values: Any, names: Sequence[str]) -> np.ndarray:
    """The calibration factors of a config: ones if absent (models saved before
    calibration existed), else one finite positive factor per parameter."""
    if values is None:
        return np.ones(len(names))
    scale = np.array(values, dtype=np.float64)
    if scale.shape != (len(names),) or not (np.isfinite(scale) & (scale > 0)).all():
        raise CosmoError(f"std_scale must be {len(names)} finite positive factors, got "
                         f"{values!r}")
    return scale


def evaluate_boxes(model: CosmoGNN, boxes: Sequence[Galaxies], truth: np.ndarray,
                   seed: int = 0) -> dict[str, Any]:
    """Predict the boxes (model's systematics, seeded) and score against ``truth``
    (boxes, parameters).

    Returns:
        ``{"metrics": {name: scores}, "truth", "mean", "std"}`` (arrays (boxes, params)).
    """
    truth = np.array(truth, dtype=np.float64)
    truth = truth[:, None] if truth.ndim == 1 else truth
    if len(truth) != len(boxes):
        raise CosmoError(f"{len(boxes)} boxes but {len(truth)} rows of true parameters")
    mean, std = model.predict(boxes, seed)
    return {"metrics": posterior_metrics(truth, mean, std, model.parameter_names),
            "truth": truth, "mean": mean, "std": std}


def evaluate_suites(model: CosmoGNN, suites: Mapping[str, Any], seed: int = 0
                    ) -> dict[str, dict[str, Any]]:
    """:func:`evaluate_boxes` for every suite (label -> an object with ``names``,
    ``parameters``, ``catalog(name)``, as ``galhalo.sim.suites.read_suite`` returns),
    reading the model's parameters and galaxy properties from each."""
    if not suites:
        raise CosmoError("no suites to evaluate")
    results = {}
    for label, suite in suites.items():
        try:
            boxes, truth, _ = galaxies_from_suite(suite, model.parameter_names,
                                                  model.graph_config.properties)
            results[label] = evaluate_boxes(model, boxes, truth, seed)
        except CosmoError as err:
            raise CosmoError(f"suite {label}: {err}") from None
    return results
