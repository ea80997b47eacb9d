"""HiVAl merge step: which cells pair in one iteration, and the merged generators."""

from __future__ import annotations

import numpy as np


def pair_cells(volumes: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """The pairs (M, 2) of one iteration: cells visited from the smallest volume up, each
    unpaired cell takes its most preferred unpaired candidate; each cell pairs once."""
    paired = np.zeros(len(volumes), dtype=bool).tolist()
    choices = partners.tolist()
    pairs = []
    for i in np.argsort(volumes, kind="stable").tolist():
        if paired[i]:
            continue
        for j in choices[i]:
            if j >= 0 and not paired[j]:
                paired[i] = paired[j] = True
                pairs.append((i, j))
                break
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def merge(generators: np.ndarray, volumes: np.ndarray, pairs: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Merge ``pairs``: (parent (K,) new class of every class, new generators (K', D)).

    A merged generator is the mean of the two weighted by V^(-1/D); unpaired classes
    carry over. New classes are numbered by their smallest old index.
    """
    n, d = generators.shape
    representative = np.arange(n)
    representative[pairs[:, 1]] = np.minimum(pairs[:, 0], pairs[:, 1])
    representative[pairs[:, 0]] = np.minimum(pairs[:, 0], pairs[:, 1])
    _, parent = np.unique(representative, return_inverse=True)
    weight = np.maximum(volumes, np.finfo(float).tiny) ** (-1.0 / d)
    total = np.zeros(parent.max() + 1)
    np.add.at(total, parent, weight)
    merged = np.zeros((len(total), d))
    np.add.at(merged, parent, weight[:, None] * generators)
    return parent, merged / total[:, None]

