"""Training and validation loss per epoch of each model, the best epoch marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ...errors import ReportError


def loss_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Training and validation loss per epoch, one panel per model; the best validation
    epoch (the weights kept) is marked. Losses are the training loop's (NLL per row of
    the scaled targets), comparable within a model, not across families.

    Args:
        histories: ``{label: [{"epoch", "train", "valid", ...}, ...]}`` (a model's
            ``history``, saved as history.json in its directory).

    Raises:
        ReportError: no history, or entries without epoch/train/valid.
    """
    histories = {label: h for label, h in histories.items() if h}
    if not histories:
        raise ReportError("no model has a training history")
    figure = Figure(figsize=(3.8 * len(histories) + 0.4, 3.2), layout="constrained")
    axes = figure.subplots(1, len(histories), squeeze=False)[0]
    for ax, (label, history) in zip(axes, histories.items(), strict=True):
        try:
            epoch = np.array([float(h["epoch"]) for h in history])
            train = np.array([float(h["train"]) for h in history])
            valid = np.array([float(h["valid"]) for h in history])
        except (KeyError, TypeError, ValueError):
            raise ReportError(f"history of {label!r}: every entry needs numeric 'epoch', "
                              "'train' and 'valid'") from None
        ax.plot(epoch, train, "-o", ms=2.5, color="C0", label="train")
        ax.plot(epoch, valid, "-s", ms=2.5, color="C1", label="validation")
        finite = np.isfinite(valid)
        if finite.any():
            best = int(np.flatnonzero(finite)[np.argmin(valid[finite])])
            ax.axvline(epoch[best], color="0.5", ls=":", lw=1)
            ax.plot(epoch[best], valid[best], "*", color="C3", ms=10,
                    label=f"best epoch {epoch[best]:g}")
        ax.set(xlabel="epoch", ylabel="loss (NLL per row, scaled targets)", title=label)
        ax.legend(fontsize="small")
    return figure

