"""The one torch training loop of every neural family.

Mini-batches, AdamW, a plateau learning-rate schedule, gradient clipping, early stopping
on the validation negative log-likelihood with best-epoch restore, seeds, and a rich
progress bar showing the losses. Returns the loss curve, which the model saves.

The conditions are normally one float array (rows, c); a family whose rows are not
arrays (graphs, for the cosmology GNNs) passes its own ``collate``, which turns a
sequence of rows and an index tensor into the batch its loss understands.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import ModelError

#: A loss maps (condition batch, target batch) to per-row negative log-likelihoods
#: (rows,), or to one value for the whole batch (a 0-d tensor, for losses that normalise
#: over the batch, such as the moment loss of the cosmology GNNs).
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: A collate maps (all condition rows, index tensor (b,)) to one condition batch.
Collate = Callable[[Any, torch.Tensor], Any]


@dataclass(frozen=True)
class TrainingProblem:
    """What the shared loop fits: the per-row training ``loss``, the scaled training and
    validation data (condition (n, c), target (n, d)) and, when the validation rows are
    scored another way, their ``valid_loss`` (see :func:`train`)."""

    loss: Loss
    train: tuple[Any, Any]
    valid: tuple[Any, Any]
    valid_loss: Loss | None = None


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings (shared by all neural families).

    Attributes:
        epochs: maximum number of passes over the training split.
        batch_size: rows per gradient step.
        learning_rate: initial AdamW learning rate.
        weight_decay: AdamW decoupled weight decay (the L2 of the published models).
        patience: epochs without a validation improvement before stopping.
        schedule_patience: epochs without improvement before halving the learning rate.
        clip: maximum gradient norm.
        min_delta: smallest validation improvement (nats per row) that counts.
        average: time scale, in epochs, of an exponential moving average of the weights
            (0 = off), updated every step with decay exp(-1 / (average * steps per
            epoch)); validation, early stopping and the restored best epoch then use the
            averaged weights, which generalise better than the last step's.
    """

    epochs: int = 200
    batch_size: int = 512
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    patience: int = 20
    schedule_patience: int = 6
    clip: float = 5.0
    min_delta: float = 1e-4
    average: float = 0.0

    def __post_init__(self) -> None:
        for name, value in self.to_dict().items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ModelError(f"{name} must be a number, got {value!r}")
        for name in ("epochs", "batch_size", "patience", "schedule_patience"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "clip"):
            if not getattr(self, name) > 0:
                raise ModelError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.average < math.inf:
            raise ModelError(f"average must be >= 0 epochs, got {self.average}")

    def to_dict(self) -> dict:
        return asdict(self)


def mean_loss(loss: Loss, x: Any, y: torch.Tensor, batch_size: int,
              collate: Collate | None = None) -> float:
    """The row-weighted mean of ``loss`` over (``x``, ``y``) in batches of ``batch_size``
    rows, without gradients (nats per row for a per-row NLL); what :func:`train`
    records as an epoch's validation loss."""
    with torch.no_grad():
        total = 0.0
        for i in range(0, len(x), batch_size):
            rows = torch.arange(i, min(i + batch_size, len(x)))
            batch = x[i:i + batch_size] if collate is None else collate(x, rows)
            values = loss(batch, y[i:i + batch_size])
            total += float(values.sum()) if values.ndim else float(values) * len(rows)
    return total / len(x)


def train(
    network: torch.nn.Module,
    loss: Loss,
    train_data: tuple[np.ndarray, np.ndarray],
    valid_data: tuple[np.ndarray, np.ndarray],
    config: TrainingConfig,
    seed: int,
    progress: bool = True,
    collate: Collate | None = None,
    valid_loss: Loss | None = None,
    weights: np.ndarray | None = None,
) -> list[dict[str, float]]:
    """Fit ``network`` by minimising ``loss``; restores the best validation epoch.

    Args:
        network: the module whose parameters are optimised (modified in place).
        loss: per-row negative log-likelihood of (condition, target) batches, or one
            value per batch (0-d); the validation loss is then the batch-size-weighted
            mean of the values of batches of ``4 * batch_size`` rows.
        train_data, valid_data: (condition (n, c), target (n, d)) float arrays, already
            scaled.
        config: optimisation settings.
        seed: seeds the batch order (and, through ``torch.manual_seed``, any dropout).
        progress: show a progress bar on stderr.
        collate: for conditions that are not one array (e.g. a list of graphs): builds
            a batch from (all condition rows, index tensor); the conditions are then
            used as given (only the targets become a tensor). ``None``: index a tensor.
        valid_loss: the per-row loss of the validation rows, which drives early
            stopping, the learning-rate schedule and the restored epoch, when it is not
            the training ``loss`` (NNclass trains on a cross-entropy but is scored on
            its mixture NLL); the validation targets are then what it expects.
        weights: per-training-row weights (n,) of a per-row ``loss`` (models/mass_balance.py):
            each batch minimises the weighted mean; validation stays unweighted.

    Returns:
        The loss curve: one dict per epoch with ``epoch, train, valid, learning_rate,
        seconds`` (losses in nats per row, in the scaled space).
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x_train, x_valid = (data[0] if collate is not None
                        else torch.as_tensor(data[0], dtype=torch.float32)
                        for data in (train_data, valid_data))
    y_train, y_valid = (torch.as_tensor(data[1], dtype=torch.float32)
                        for data in (train_data, valid_data))
    row_weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    if row_weights is not None and row_weights.shape != (len(y_train),):
        raise ModelError(f"weights must have one value per training row ({len(y_train)}), "
                         f"got shape {tuple(row_weights.shape)}")
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=config.schedule_patience)
    averaged = (torch.optim.swa_utils.AveragedModel(
        network, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(math.exp(
            -1.0 / (config.average * math.ceil(len(x_train) / config.batch_size)))))
        if config.average > 0 else None)
    best = math.inf
    best_state = copy.deepcopy(network.state_dict())
    stale = 0
    history: list[dict[str, float]] = []
    columns = (TextColumn("[bold]training"), BarColumn(), TextColumn("epoch {task.completed}"),
               TextColumn("train {task.fields[train]:.4f}  valid {task.fields[valid]:.4f}"),
               TimeElapsedColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("fit", total=config.epochs, train=math.nan, valid=math.nan)
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            network.train()
            order = torch.randperm(len(x_train), generator=generator)
            running = 0.0
            for i in range(0, len(order), config.batch_size):
                batch = order[i:i + config.batch_size]
                rows = x_train[batch] if collate is None else collate(x_train, batch)
                values = loss(rows, y_train[batch])
                if row_weights is not None:
                    if values.ndim != 1:
                        raise ModelError("weights need a per-row loss")
                    values = values * row_weights[batch]
                value = values.mean()
                if not torch.isfinite(value):
                    raise FloatingPointError(
                        f"training loss became {float(value)} at epoch {epoch}; lower the "
                        "learning rate or check the inputs for extreme values")
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                torch.nn.utils.clip_grad_norm_(network.parameters(), config.clip)
                optimizer.step()
                if averaged is not None:
                    averaged.update_parameters(network)
                running += value.item() * len(batch)
            network.eval()
            current = None
            if averaged is not None:  # the loss reads `network`: evaluate the average in it
                current = copy.deepcopy(network.state_dict())
                network.load_state_dict(averaged.module.state_dict())
            valid = mean_loss(valid_loss or loss, x_valid, y_valid, 4 * config.batch_size,
                               collate)
            scheduler.step(valid)
            history.append({"epoch": epoch, "train": running / len(order), "valid": valid,
                            "learning_rate": optimizer.param_groups[0]["lr"],
                            "seconds": time.perf_counter() - start})
            bar.update(task, advance=1, train=history[-1]["train"], valid=valid)
            if valid < best - config.min_delta:
                best, stale = valid, 0
                best_state = copy.deepcopy(network.state_dict())
            else:
                stale += 1
            if current is not None:
                network.load_state_dict(current)
            if stale >= config.patience:
                break
    network.load_state_dict(best_state)
    network.eval()
    return history
