"""The one scaler of galhalo: physical columns <-> the unconstrained, standardised space
that the networks see, with the exact log-Jacobian.

Per column: an optional support map, then standardisation with the training split's
mean and standard deviation (``scaling="standard"``) or min-max scaling of the training
split onto [-1, 1] (``scaling="minmax"``: centre (max + min) / 2, scale (max - min) / 2,
as in Rodrigues et al. 2025; held-out values may fall outside [-1, 1], and the density
stays defined there because the map is affine on the whole line):

* ``identity``: u = x;
* ``log``: u = ln(x - lower), for positive, scale-like quantities (C_h, S_h, Delta3_h);
* ``softplus``: u = w ln(expm1((x - lower) / w)), for a sharp selection boundary such
  as the stellar-mass cut: like ``w ln((x - lower) / w)`` within ~w of the bound, like
  the identity (x - lower) far from it. A small width ``w`` keeps the transformed
  variable compact: its left tail decays as exp(u / w) instead of exp(u).

Each non-identity map has ONE bound: a ``lower`` one as above, or an ``upper`` one
(``Support("softplus", upper=1.19)``), the mirror image: u = -f(upper - x) with f the
lower-bound map of the distance, so u still increases with x (a red colour ceiling).

So a model's density in x is the density in z = (u - mean) / scale times
``|dz/dx| = |du/dx| / scale`` (``forward`` returns its log). Values outside the support
have zero density (``log_prob`` gives -inf for them).

Discrete columns (a formation redshift stored on the snapshot grid, an integer count) have
no density: a continuous model trained on them piles up infinitely sharp spikes. Such a
column carries a ``grid`` (its sorted distinct values): each grid value owns the cell
between the midpoints to its neighbours, training data are *dequantised* (spread uniformly
over their cell), the model's density is then that of the dequantised variable, and draws
are snapped back onto the grid (:meth:`ColumnScaler.snap`). ``detect_grid`` recognises
such columns. A point mass at a column's edge (an *atom*, models/atoms.py) is handled the
same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..catalog.schema import STELLAR_MASS_CUT
from ..errors import ModelError
from .atoms import Atom

KINDS = ("identity", "log", "softplus")
#: How a column is scaled after its support map: by mean and standard deviation, or
#: min-max onto [-1, 1].
SCALINGS = ("standard", "minmax")
#: Smallest distance above a lower bound that the support maps accept (unit of x).
_EPSILON = 1e-9


@dataclass(frozen=True)
class Support:
    """Support map of one column: ``kind``, its bound (none for identity, else exactly
    one of ``lower`` and ``upper``) and, for ``softplus``, the ``width`` (x units) over
    which it bends from log to identity."""

    kind: str = "identity"
    lower: float | None = None
    width: float = 1.0
    upper: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelError(f"unknown support kind {self.kind!r}; known: {', '.join(KINDS)}")
        bounds = (self.lower is not None) + (self.upper is not None)
        if bounds != (0 if self.kind == "identity" else 1):
            raise ModelError(f"support {self.kind!r} needs a lower bound or an upper bound "
                             "(exactly one) when not identity, none when identity")
        if not all(np.isfinite(b) for b in (self.lower, self.upper) if b is not None):
            raise ModelError(f"support bound must be finite, got lower={self.lower} "
                             f"upper={self.upper}")
        if not self.width > 0:
            raise ModelError(f"support width must be > 0, got {self.width}")

    def inside(self, x: np.ndarray) -> np.ndarray:
        if self.upper is not None:
            return x < self.upper
        return np.ones(x.shape, dtype=bool) if self.lower is None else x > self.lower

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, ln|du/dx|) for values inside the support (others are clipped to it)."""
        if self.kind == "identity":
            return x.copy(), np.zeros_like(x)
        # Distance inside the bound; an upper bound mirrors the map: u = -f(upper - x),
        # whose derivative f'(upper - x) is the lower-bound map's at that distance.
        sign = 1.0 if self.upper is None else -1.0
        distance = np.maximum(x - self.lower if self.upper is None else self.upper - x,
                              _EPSILON)
        if self.kind == "log":
            return sign * np.log(distance), -np.log(distance)
        # softplus inverse: u = w ln(expm1(d / w)) = d + w ln(-expm1(-d / w));
        # du/dx = 1 / (1 - exp(-d / w))
        log_term = np.log(-np.expm1(-distance / self.width))
        return sign * (distance + self.width * log_term), -log_term

    def inverse(self, u: np.ndarray) -> np.ndarray:
        if self.kind == "identity":
            return u.copy()
        if self.upper is not None:
            return self.upper - Support(self.kind, 0.0, self.width).inverse(-u)
        if self.kind == "log":
            return self.lower + np.exp(u)
        return self.lower + self.width * np.logaddexp(0.0, u / self.width)

    def to_dict(self) -> dict[str, Any]:
        """JSON form; ``upper`` only when set (so lower-bounded supports are saved as
        before the upper bound existed)."""
        data = {"kind": self.kind, "lower": self.lower, "width": self.width}
        return data if self.upper is None else {**data, "upper": self.upper}


#: Default support of columns when they are modelled (targets) or used as conditions:
#: log at 0 for positive halo ratios and the sub-halo's positive radius and speeds
#: (so a profile model, target ``r_host, v_r, v_t``, never draws r_host < 0 or v_t < 0
#: and its density is exact), softplus at 0 for redshifts.
POSITIVE_HALO_COLUMNS = ("C_h", "S_h", "Delta3_h")
POSITIVE_SUBHALO_COLUMNS = ("r_host", "v_t", "Vmax_sub", "Vmax_peak")
REDSHIFT_COLUMNS = ("z_h", "z_infall")
#: Default width (dex) over which the stellar-mass support bends from log to identity:
#: the hyperparameter ``smass_cut_width`` of every scaled family (``--set
#: smass_cut_width=1.0``), so the choice can be compared with benchmarks/models.py.
SMASS_CUT_WIDTH = 0.2


def default_supports(names: tuple[str, ...], stellar_mass_cut: float | None,
                     smass_cut_width: float = SMASS_CUT_WIDTH) -> list[Support]:
    """Supports for columns: log above 0 for positive halo ratios and for ``r_host``,
    ``v_t``, ``Vmax_sub``, ``Vmax_peak``; softplus above the stellar-mass cut (when the
    sample has one; bend width ``smass_cut_width`` dex) and above ``z_h = 0`` and
    ``z_infall = 0``; identity otherwise (``v_r``, log masses, colours, ...)."""
    supports = []
    for name in names:
        if name in POSITIVE_HALO_COLUMNS or name in POSITIVE_SUBHALO_COLUMNS:
            supports.append(Support("log", 0.0))
        elif name in REDSHIFT_COLUMNS:
            supports.append(Support("softplus", 0.0))
        elif name == "smass" and stellar_mass_cut is not None:
            supports.append(Support("softplus", float(stellar_mass_cut),
                                    float(smass_cut_width)))
        else:
            supports.append(Support())
    return supports


#: Default bend width (units of the column) of a declared bound's softplus support.
BOUND_WIDTH = 0.2


def declared_supports(bounds: dict[str, Any] | None) -> dict[str, Support]:
    """Softplus supports of the hyperparameter ``bounds``: a mapping column -> ``[lower,
    upper]`` or ``[lower, upper, width]`` (units of the column) with exactly one of
    lower and upper a number, the other None, e.g. ``{"sSFR": [-15, None], "color":
    [None, 1.19]}`` for a sample whose sSFR was set to a floor and whose colours
    saturate; the width (default :data:`BOUND_WIDTH`) is where the map bends from log
    to identity. Raises ModelError for anything else."""
    if bounds is None:
        return {}
    if not isinstance(bounds, dict):
        raise ModelError(f"bounds must map column names to [lower, upper] (or [lower, "
                         f"upper, width]), got {bounds!r}")
    supports = {}
    for name, value in bounds.items():
        if not isinstance(value, list | tuple) or len(value) not in (2, 3):
            raise ModelError(f"bounds of {name!r} must be [lower, upper] or [lower, upper, "
                             f"width], got {value!r}")
        lower, upper = value[0], value[1]
        width = value[2] if len(value) == 3 else BOUND_WIDTH
        numbers = [v for v in (lower, upper, width) if v is not None]
        if any(isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v)
               for v in numbers):
            raise ModelError(f"bounds of {name!r} must be finite numbers or null, got "
                             f"{value!r}")
        if (lower is None) == (upper is None):
            raise ModelError(f"bounds of {name!r} must declare exactly one of lower and "
                             f"upper (the other null), got {value!r}")
        if width is None or not width > 0:
            raise ModelError(f"bounds of {name!r}: the width must be > 0, got {width!r}")
        supports[str(name)] = Support("softplus", None if lower is None else float(lower),
                                      float(width), None if upper is None else float(upper))
    return supports


def stellar_mass_cut_of(meta_truth: dict | None, smass: np.ndarray | None) -> float | None:
    """The sample's stellar-mass cut: the truth model's, else the TNG300 cut 8.75 when
    every stellar mass lies above it, else None (no boundary assumed)."""
    if meta_truth and "stellar_mass_cut" in meta_truth:
        return float(meta_truth["stellar_mass_cut"])
    if smass is not None and len(smass) and np.min(smass) >= STELLAR_MASS_CUT:
        return STELLAR_MASS_CUT
    return None


#: An edge: at least ``EDGE_MIN_ROWS`` rows, and ``EDGE_MIN_SHARE`` of them, lie within
#: ``EDGE_WINDOW`` of the column's 1-99 % range from its minimum (or maximum). A smooth
#: tail puts one or two rows there (at 1e5 rows: the sample extreme and maybe one more);
#: a sample piled up against a floor or a ceiling hundreds (tng_hard's sSFR floor and
#: colour ceiling; ``tests/test_edges.py``).
EDGE_WINDOW = 0.01
EDGE_MIN_SHARE = 1e-3
EDGE_MIN_ROWS = 20
#: The support of a detected edge lies this share of the 1-99 % range beyond the sample
#: extreme, so held-out values a little past the training extreme keep a density.
EDGE_MARGIN = 0.005


def edge_supports(y: np.ndarray, supports: list[Support], grids: list[np.ndarray | None],
                  atoms: list[Atom | None] | None = None) -> list[Support]:
    """``supports`` with a softplus support (bend width :data:`BOUND_WIDTH`) for every
    column of ``y`` (rows, columns; one support and one grid per column) that piles up
    against an edge (:data:`EDGE_WINDOW`) and has no support, grid or atom yet: a
    bound :data:`EDGE_MARGIN` of its 1-99 % range below its minimum (a floor) or above
    its maximum (a ceiling; the larger pile if both). What the hyperparameter
    ``edges="auto"`` adds to the declared ``bounds``."""
    result = list(supports)
    atoms = atoms or [None] * len(supports)
    for j, (support, grid, atom) in enumerate(zip(supports, grids, atoms, strict=True)):
        column = y[:, j]
        if support.kind != "identity" or grid is not None or atom is not None \
                or len(column) == 0:
            continue
        low, high = np.quantile(column, [0.01, 0.99])
        spread = high - low
        if not spread > 0:
            continue
        need = max(EDGE_MIN_ROWS, EDGE_MIN_SHARE * len(column))
        floor_rows = int(np.sum(column <= column.min() + EDGE_WINDOW * spread))
        ceiling_rows = int(np.sum(column >= column.max() - EDGE_WINDOW * spread))
        if max(floor_rows, ceiling_rows) < need:
            continue
        margin = EDGE_MARGIN * spread
        if floor_rows >= ceiling_rows:
            result[j] = Support("softplus", float(column.min() - margin), BOUND_WIDTH)
        else:
            result[j] = Support("softplus", None, BOUND_WIDTH, float(column.max() + margin))
    return result


#: A column is discrete when it has at most this many distinct values ...
GRID_MAX_LEVELS = 256
#: ... each repeated this many times on average (continuous data never are).
GRID_MIN_REPEATS = 20


def detect_grid(values: np.ndarray) -> np.ndarray | None:
    """The sorted distinct values of a 1-D column if it is discrete (at most
    ``GRID_MAX_LEVELS`` distinct values, each seen ``GRID_MIN_REPEATS`` times on
    average), else None."""
    levels = np.unique(values)
    if 1 < len(levels) <= GRID_MAX_LEVELS and len(values) >= GRID_MIN_REPEATS * len(levels):
        return levels
    return None


def grid_edges(grid: np.ndarray, support: Support) -> np.ndarray:
    """Cell edges (len(grid) + 1,) of a grid: midpoints between neighbours, the outer
    cells as wide as their inner neighbour's half-spacing, kept inside the support."""
    middle = 0.5 * (grid[1:] + grid[:-1])
    edges = np.concatenate([[2 * grid[0] - middle[0]], middle, [2 * grid[-1] - middle[-1]]])
    if support.lower is not None:
        edges[0] = max(edges[0], support.lower + 1e-6 * (grid[-1] - grid[0]))
    if support.upper is not None:
        edges[-1] = min(edges[-1], support.upper - 1e-6 * (grid[-1] - grid[0]))
    return edges


@dataclass
class ColumnScaler:
    """Support maps plus standardisation for named columns (fit on the training split);
    ``grids[j]`` is the grid of a discrete column j (else None). z = (u - mean) / scale
    whatever the ``scaling`` (see :data:`SCALINGS`), which only says how ``mean`` and
    ``scale`` were fitted."""

    names: tuple[str, ...]
    supports: list[Support]
    mean: np.ndarray
    scale: np.ndarray
    grids: list[np.ndarray | None] | None = None
    scaling: str = "standard"
    atoms: list[Atom | None] | None = None

    def __post_init__(self) -> None:
        if self.grids is None:
            self.grids = [None] * len(self.names)
        if self.atoms is None:
            self.atoms = [None] * len(self.names)

    @property
    def discrete(self) -> list[int]:
        """Indices of the discrete columns."""
        return [j for j, grid in enumerate(self.grids) if grid is not None]

    @property
    def celled(self) -> list[int]:
        """Indices of the columns with cells: discrete ones and those with an atom."""
        return [j for j, (grid, atom) in enumerate(zip(self.grids, self.atoms, strict=True))
                if grid is not None or atom is not None]

    @classmethod
    def fit(cls, names: tuple[str, ...], values: np.ndarray, supports: list[Support],
            grids: list[np.ndarray | None] | None = None,
            scaling: str = "standard", atoms: list[Atom | None] | None = None
            ) -> ColumnScaler:
        """Fit on ``values`` of shape (rows, len(names)), physical units. Discrete
        columns (``grids``) and columns with an atom (``atoms``) are standardised after
        dequantisation, as the model sees them. ``scaling``: "standard" (mean 0, sd 1)
        or "minmax" (training range onto [-1, 1])."""
        if values.shape[1] != len(names) or len(supports) != len(names):
            raise ValueError("values, names and supports disagree in the number of columns")
        if scaling not in SCALINGS:
            raise ModelError(f"unknown scaling {scaling!r}; known: {', '.join(SCALINGS)}")
        if grids is not None or atoms is not None:
            values = cls(tuple(names), supports, np.zeros(len(names)), np.ones(len(names)),
                         None if grids is None else list(grids), scaling,
                         None if atoms is None else list(atoms)
                         ).dequantise(values, np.random.default_rng(0))
        for name, support, column in zip(names, supports, values.T, strict=True):
            outside = ~support.inside(column)
            if outside.any():
                side = ("below", support.lower) if support.upper is None else (
                    "above", support.upper)
                raise ModelError(
                    f"column {name!r}: {outside.sum()} training rows are at or {side[0]} "
                    f"the {support.kind} support bound {side[1]}")
        u = np.column_stack([s.forward(c)[0] for s, c in zip(supports, values.T, strict=True)])
        if scaling == "minmax":
            low, high = u.min(axis=0), u.max(axis=0)
            centre, scale = (high + low) / 2, (high - low) / 2
        else:
            centre, scale = u.mean(axis=0), u.std(axis=0)
        if np.any(scale == 0):
            constant = [n for n, s in zip(names, scale, strict=True) if s == 0]
            raise ModelError(f"columns {constant} are constant in the training data")
        return cls(tuple(names), list(supports), centre, scale,
                   None if grids is None else list(grids), scaling,
                   None if atoms is None else list(atoms))

    def cells(self, values: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """For each column with cells (:attr:`celled`): (lower edge, width) of every
        row's cell, each (rows,): a discrete column's grid cells (ModelError for a value
        not on the grid); for a column with an atom, the atom's cell on the rows holding
        it and (value, 0) on the others, which keep their value."""
        cells = {}
        for j, atom in enumerate(self.atoms):
            if atom is not None:
                held = atom.held(values[:, j])
                cells[j] = (np.where(held, atom.low, values[:, j]),
                            np.where(held, atom.width, 0.0))
        for j in self.discrete:
            grid, edges = self.grids[j], grid_edges(self.grids[j], self.supports[j])
            cell = np.clip(np.searchsorted(grid, values[:, j]), 0, len(grid) - 1)
            off = ~np.isclose(grid[cell], values[:, j], rtol=1e-9, atol=1e-12)
            if off.any():
                raise ModelError(f"column {self.names[j]!r} is discrete (grid of {len(grid)} "
                                 f"values) but {off.sum()} rows are not on the grid, e.g. "
                                 f"{values[np.flatnonzero(off)[0], j]!r}")
            cells[j] = (edges[cell], edges[cell + 1] - edges[cell])
        return cells

    def beyond_atoms(self, values: np.ndarray) -> np.ndarray:
        """Rows (bool, (rows,)) with a value beyond its column's atom: zero probability."""
        beyond = np.zeros(len(values), dtype=bool)
        for j, atom in enumerate(self.atoms):
            if atom is not None:
                beyond |= atom.beyond_it(values[:, j])
        return beyond

    def dequantise(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Physical (rows, d) with each discrete column spread uniformly over the cell of
        its grid value, and each atom over its cell; raises ModelError for a value that
        is not on the grid."""
        values = np.array(values, dtype=float)
        for j, (low, width) in self.cells(values).items():
            values[:, j] = low + width * rng.random(len(values))
        return values

    def snap(self, values: np.ndarray) -> np.ndarray:
        """Physical (..., d) with each discrete column moved to the grid value of its cell
        and each value beyond an atom moved onto it."""
        values = np.array(values, dtype=float)
        for j, atom in enumerate(self.atoms):
            if atom is not None:
                values[..., j] = np.where(atom.beyond_it(values[..., j]), atom.value,
                                          values[..., j])
        for j in self.discrete:
            grid, edges = self.grids[j], grid_edges(self.grids[j], self.supports[j])
            cell = np.clip(np.searchsorted(edges, values[..., j]) - 1, 0, len(grid) - 1)
            values[..., j] = grid[cell]
        return values

    def forward(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Physical (rows, d) -> (z (rows, d), ln|dz/dx| summed (rows,), inside (rows,))."""
        z = np.empty_like(values, dtype=float)
        log_jacobian = np.zeros(len(values))
        inside = np.ones(len(values), dtype=bool)
        for j, support in enumerate(self.supports):
            inside &= support.inside(values[:, j])
            u, log_du = support.forward(values[:, j])
            z[:, j] = (u - self.mean[j]) / self.scale[j]
            log_jacobian += log_du - np.log(self.scale[j])
        return z, log_jacobian, inside

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Standardised (..., d) -> physical values (..., d)."""
        u = z * self.scale + self.mean
        return np.stack([s.inverse(u[..., j]) for j, s in enumerate(self.supports)], axis=-1)

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names),
                "supports": [s.to_dict() for s in self.supports],
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "grids": [None if g is None else g.tolist() for g in self.grids],
                "scaling": self.scaling,
                **({"atoms": [None if a is None else a.to_dict() for a in self.atoms]}
                   if any(a is not None for a in self.atoms) else {})}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnScaler:
        grids = data.get("grids") or [None] * len(data["names"])
        atoms = data.get("atoms") or [None] * len(data["names"])
        return cls(tuple(data["names"]), [Support(**s) for s in data["supports"]],
                   np.asarray(data["mean"], dtype=float), np.asarray(data["scale"], dtype=float),
                   [None if g is None else np.asarray(g, dtype=float) for g in grids],
                   data.get("scaling", "standard"),
                   [None if a is None else Atom.from_dict(a) for a in atoms])
