"""Small building blocks shared by the neural families."""

from __future__ import annotations

from dataclasses import asdict

import torch

from .training import TrainingConfig
from .transforms import SMASS_CUT_WIDTH

#: Hyperparameters every neural family accepts: the TrainingConfig fields,
#: ``dequantise`` ("auto", "none" or target names; see transforms.detect_grid), and the
#: noise regularisation of Rothfuss et al. (2019): Gaussian noise of these standard
#: deviations (standardised units) added to the conditions and targets of each training
#: batch, which smooths the learned density against overfitting small samples; and
#: ``smass_cut_width``, the bend width (dex) of the stellar-mass-cut support
#: (transforms.default_supports); ``bounds``, declared one-sided bounds of target
#: columns (None: none; transforms.declared_supports); ``mass_balance`` and
#: ``mass_balance_by``, training weights that make sparse halo masses count more (0:
#: none; models/mass_balance.py).
TRAINING_DEFAULTS = {**asdict(TrainingConfig()), "dequantise": "auto",
                     "condition_noise": 0.0, "target_noise": 0.0,
                     "smass_cut_width": SMASS_CUT_WIDTH, "bounds": None, "edges": "none",
                     "mass_balance": 0.0, "mass_balance_by": "M_h"}


def mlp(inputs: int, hidden: tuple[int, ...], outputs: int) -> torch.nn.Sequential:
    """A multilayer perceptron with SiLU activations."""
    layers: list[torch.nn.Module] = []
    width = inputs
    for size in hidden:
        layers += [torch.nn.Linear(width, int(size)), torch.nn.SiLU()]
        width = int(size)
    layers.append(torch.nn.Linear(width, outputs))
    return torch.nn.Sequential(*layers)
