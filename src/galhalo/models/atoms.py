"""Point masses at the edge of a target column (*atoms*): the sSFR floor that every galaxy
with SFR = 0 is set to, a value clipped at a limit.

A continuous model fitted to such a column grows a spike whose log-density rises without
bound, and draws around the value instead of on it. An atom owns a cell just beyond it
(below a floor, above a ceiling), which no other row reaches. Atom rows are dequantised
over the cell like the values of a discrete column, so the model learns to put the atom's
probability there; the model's probability of the atom is its whole mass beyond the atom
(the cell and any that leaked further), and its draws beyond the atom are the atom.
``detect_atom`` recognises such columns.

:class:`galhalo.models.transforms.ColumnScaler` holds a column's atom beside its support
and grid; ``ScaledModel.log_prob`` integrates over it (docs/models.md, "Point masses at
an edge").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A column has an atom when at least this share of its rows (and ``ATOM_MIN_ROWS``) hold
#: exactly its minimum or maximum value ...
ATOM_MIN_SHARE = 0.01
ATOM_MIN_ROWS = 20
#: ... and the atom's cell is this share of the 1-99 % range of the other rows wide.
ATOM_CELL = 0.05
#: The two parts of the integral over everything beyond an atom (:meth:`Atom.point`).
ATOM_PARTS = ("cell", "tail")
#: Beyond the cell, a model's leaked mass is integrated on this many cell widths' scale
#: (about the spread of the other rows).
ATOM_TAIL = 10.0


@dataclass(frozen=True)
class Atom:
    """A point mass at ``value``, the edge of a column: rows holding it own the cell
    between ``value`` and ``beyond`` (below it for a floor, above for a ceiling)."""

    value: float
    beyond: float

    @property
    def low(self) -> float:
        return min(self.value, self.beyond)

    @property
    def width(self) -> float:
        return abs(self.value - self.beyond)

    def held(self, values: np.ndarray) -> np.ndarray:
        """Which ``values`` are the atom (bool, same shape)."""
        return np.isclose(values, self.value, rtol=1e-12, atol=1e-12)

    def point(self, fraction: float, part: str) -> float:
        """The value at ``fraction`` in (0, 1) of one part of everything from the atom
        outwards, for integrating over it: ``"cell"`` evenly from the atom (1) to the
        cell's far end (0); ``"tail"`` from the cell's far end (1) ever further beyond
        towards 0, on the scale of :data:`ATOM_TAIL` cells."""
        direction = np.sign(self.beyond - self.value)
        if part == "cell":
            return self.value + direction * self.width * (1.0 - fraction)
        return self.beyond + direction * ATOM_TAIL * self.width * (1.0 / fraction - 1.0)

    def log_weight(self, fraction: float, part: str) -> float:
        """log |dx / d fraction| of :meth:`point`."""
        if part == "cell":
            return float(np.log(self.width))
        return float(np.log(ATOM_TAIL * self.width / fraction**2))

    def beyond_it(self, values: np.ndarray) -> np.ndarray:
        """Which ``values`` lie beyond the atom (where the model has no mass: its draws
        there are the atom), the atom itself excluded (bool, same shape)."""
        side = values < self.value if self.beyond < self.value else values > self.value
        return side & ~self.held(values)

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "beyond": self.beyond}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> Atom:
        return cls(float(data["value"]), float(data["beyond"]))


def detect_atom(values: np.ndarray) -> Atom | None:
    """The atom of a 1-D column (see :data:`ATOM_MIN_SHARE`), or None; when both edges
    qualify, the one more rows hold."""
    if len(values) == 0:
        return None
    need = max(ATOM_MIN_ROWS, ATOM_MIN_SHARE * len(values))
    best: tuple[int, float, float] | None = None
    for edge, side in ((values.min(), -1.0), (values.max(), 1.0)):
        held = int(np.sum(values == edge))
        rest = values[values != edge]
        if held < need or len(rest) < 2:
            continue
        low, high = np.quantile(rest, [0.01, 0.99])
        if not high > low:
            continue
        if best is None or held > best[0]:
            best = (held, float(edge), float(edge + side * ATOM_CELL * (high - low)))
    return None if best is None else Atom(best[1], best[2])
