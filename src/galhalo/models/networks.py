"""Small building blocks shared by the neural families."""

from __future__ import annotations

from dataclasses import asdict

import torch

from .training import TrainingConfig

#: Training hyperparameters every neural family accepts (defaults of TrainingConfig).
TRAINING_DEFAULTS = asdict(TrainingConfig())


def mlp(inputs: int, hidden: tuple[int, ...], outputs: int) -> torch.nn.Sequential:
    """A multilayer perceptron with SiLU activations."""
    layers: list[torch.nn.Module] = []
    width = inputs
    for size in hidden:
        layers += [torch.nn.Linear(width, int(size)), torch.nn.SiLU()]
        width = int(size)
    layers.append(torch.nn.Linear(width, outputs))
    return torch.nn.Sequential(*layers)
