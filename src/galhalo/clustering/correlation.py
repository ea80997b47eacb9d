"""The result type of every clustering estimator: a binned statistic with its
delete-one jackknife copies, and the mean over realisations.

Units: separations in Mpc/h (comoving); xi dimensionless, wp in Mpc/h.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ClusteringError
from .jackknife import jackknife_covariance

__all__ = ["Correlation", "mean_over_realizations"]


@dataclass
class Correlation:
    """A binned two-point statistic with its delete-one jackknife copies.

    Attributes:
        statistic: what it is: ``"xi"``, ``"wp"``, ``"xi0"``, ``"xi2"``, ... (a cross-
            correlation carries the suffix ``" cross"``).
        edges: separation bin edges, shape (bins + 1,), Mpc/h (r, rp or s).
        value: the statistic on the full sample, shape (bins,) (dimensionless; wp in
            Mpc/h).
        copies: the same on each jackknife copy, shape (copies, bins).
        n_points: points of the population(s) it was measured on.
        meta: settings it was measured with (JSON-able).
    """

    statistic: str
    edges: np.ndarray
    value: np.ndarray
    copies: np.ndarray
    n_points: tuple[int, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def centers(self) -> np.ndarray:
        """Geometric bin centres, shape (bins,), Mpc/h."""
        return np.sqrt(self.edges[:-1] * self.edges[1:])

    @property
    def covariance(self) -> np.ndarray:
        """Jackknife covariance, shape (bins, bins) ((1, 1) for a scalar statistic)."""
        return jackknife_covariance(np.reshape(self.copies, (len(self.copies), -1)))

    @property
    def error(self) -> np.ndarray:
        """Jackknife standard error, the shape of ``value``."""
        return np.sqrt(np.diag(self.covariance)).reshape(np.shape(self.value))

    def combine(self, other: Correlation | None,
                function: Callable[..., np.ndarray], statistic: str) -> Correlation:
        """A derived statistic: ``function(self_values[, other_values])`` applied to the
        full sample and to each jackknife copy alike (so its jackknife error is right).

        ``other`` must have the same bins and jackknife copies; its values are the second
        argument (``None``: ``function`` takes one argument).
        """
        if other is None:
            return Correlation(statistic, self.edges, function(self.value),
                               function(self.copies), self.n_points, dict(self.meta))
        if other.copies.shape != self.copies.shape or not np.allclose(other.edges, self.edges):
            raise ClusteringError(
                f"cannot combine {self.statistic} and {other.statistic}: different bins or "
                f"jackknife copies ({self.copies.shape} vs {other.copies.shape})")
        return Correlation(statistic, self.edges, function(self.value, other.value),
                           function(self.copies, other.copies),
                           (*self.n_points, *other.n_points), dict(self.meta))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: edges, centres, value, error (NaN becomes ``None``)."""
        return {"statistic": self.statistic, "edges": _listed(self.edges),
                "centers": _listed(self.centers), "value": _listed(self.value),
                "error": _listed(self.error), "n_points": list(self.n_points),
                "copies": len(self.copies), "meta": self.meta}


def _listed(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def mean_over_realizations(correlations: Sequence[Correlation]) -> Correlation:
    """The mean of one statistic over realisations (value and each jackknife copy)."""
    if not correlations:
        raise ClusteringError("no realisations to average")
    first = correlations[0]
    for other in correlations[1:]:
        if other.copies.shape != first.copies.shape:
            raise ClusteringError("realisations differ in bins or jackknife copies")
    return Correlation(
        first.statistic, first.edges, np.mean([c.value for c in correlations], axis=0),
        np.mean([c.copies for c in correlations], axis=0),
        tuple(int(n) for n in np.mean([c.n_points for c in correlations], axis=0).round()),
        {**first.meta, "realizations": len(correlations)})
