"""Families that model their targets through the shared :class:`ColumnScaler`.

:class:`ScaledModel` holds what every such family (neural or regressor) shares: the
seeded split with its row minimums, the scalers, discrete-target grids and their
dequantisation at fit time, ``log_prob`` with a probability per grid value for discrete
targets (a lattice rule over the grid cells) and the common ``config.json`` keys.

Two hyperparameters choose how columns are scaled: ``scaling`` ("standard", the
default: mean 0 and sd 1 after the support maps; "minmax": the training range onto
[-1, 1]) and ``supports`` ("default": the support maps of ``transforms.default_supports``;
"none": every column as given, as in the published models). A third, ``bounds``
(``transforms.declared_supports``; neural families), declares a lower or upper bound of
target columns, which then get a softplus support in place of their usual map, so the
density is exactly zero beyond the bound (an sSFR floor, a colour ceiling).
"""

from __future__ import annotations

import functools
import itertools
import numbers
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..catalog import Catalog
from ..catalog.schema import parse_column_list
from ..errors import ModelError
from .atoms import ATOM_PARTS, Atom, detect_atom
from .interface import ConditionalModel, column_matrix, split_rows, table_of
from .transforms import (
    SCALINGS,
    SMASS_CUT_WIDTH,
    ColumnScaler,
    Support,
    declared_supports,
    default_supports,
    detect_grid,
    edge_supports,
    stellar_mass_cut_of,
)

#: Values of the ``supports`` hyperparameter: galhalo's support maps, or none.
SUPPORT_CHOICES = ("default", "none")
#: The hyperparameter ``edges``: "auto" puts a support at every target edge the training
#: sample piles up against (``transforms.edge_supports``), "none" assumes none.
EDGE_CHOICES = ("auto", "none")
#: Fewest points of the lattice rule that integrates a model's density over the grid
#: cells of discrete targets (one model evaluation per point).
LATTICE_MIN_POINTS = 11
#: ... and with an atom (a point mass at a target's edge, integrated over a half line).
ATOM_LATTICE_MIN_POINTS = 41
#: Smallest singular value of the rule's standardised, centred coordinate matrix it
#: accepts (1 for orthogonal columns, 0 for affinely dependent ones).
LATTICE_MIN_SINGULAR_VALUE = 0.5


def _primes_from(start: int):
    candidate = max(start, 2)
    while True:
        if all(candidate % p for p in range(2, int(candidate**0.5) + 1)):
            yield candidate
        candidate += 1


def worst_case_error(points: np.ndarray) -> float:
    """Worst-case integration error of the equal-weight rule ``points`` (n, d) in
    (0, 1)^d over the unit ball of the unanchored Sobolev space of mixed first
    derivatives (weights 1): |mean f(points) - integral f| <= this times ||f||, with
    ||f||^2 = (integral f)^2 + integral (f')^2 per coordinate for product functions.
    Computed exactly from the space's kernel 1 + B1(x) B1(y) + B2(|x - y|) / 2 per
    coordinate (B1, B2 the Bernoulli polynomials), whose integral over y is 1."""
    b1 = points - 0.5
    distance = np.abs(points[:, None, :] - points[None, :, :])
    kernel = np.prod(1 + b1[:, None, :] * b1[None, :, :]
                     + (distance**2 - distance + 1 / 6) / 2, axis=2)
    return float(np.sqrt(max(kernel.mean() - 1, 0.0)))


@functools.cache
def lattice_rule(dimensions: int, min_points: int = LATTICE_MIN_POINTS) -> np.ndarray:
    """Points (n, dimensions) in (0, 1)^dimensions of a rank-1 Korobov lattice rule.

    Point k has coordinates ((k z_i mod n) + 1/2) / n with z_i = g^i mod n, n prime:
    every column is a permutation of the n-point midpoint rule (exact 1-D projections).
    n is the smallest prime >= ``min_points`` and 2 * dimensions + 1, and g
    the generator with z_i distinct up to sign mod n (no column equal or mirrored to
    another) of least :func:`worst_case_error`; n grows to the next prime until the
    standardised centred columns have a smallest singular value >=
    ``LATTICE_MIN_SINGULAR_VALUE`` (full rank: no two columns identical or affinely
    dependent, for any number of discrete columns). The former rule (8 points,
    generator 3) repeated column 1 as column 3, since 3^2 = 1 (mod 8).
    """
    if dimensions < 1:
        raise ValueError(f"a lattice rule needs >= 1 dimension, got {dimensions}")
    for points in _primes_from(max(min_points, 2 * dimensions + 1)):
        best = None
        for generator in range(1, points):
            vector = [pow(generator, i, points) for i in range(dimensions)]
            if len(set(vector) | {-v % points for v in vector}) < 2 * dimensions:
                continue
            rule = ((np.arange(points)[:, None] * np.array(vector)) % points + 0.5) / points
            error = worst_case_error(rule)
            if best is None or error < best[0]:
                best = (error, rule)
        if best is None:
            continue
        centred = best[1] - best[1].mean(axis=0)
        centred /= np.linalg.norm(centred, axis=0)
        if np.linalg.svd(centred, compute_uv=False).min() >= LATTICE_MIN_SINGULAR_VALUE:
            best[1].flags.writeable = False
            return best[1]
    raise AssertionError("unreachable: primes are unbounded")


@dataclass
class FitData:
    """The rows of one fit, physical units: conditions ``x`` (rows, c), targets ``y``
    (rows, d) as read, and ``y_model``: ``y`` with discrete targets dequantised (what the
    model learns); the same for the validation rows."""

    x: np.ndarray
    y: np.ndarray
    y_model: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    y_valid_model: np.ndarray


class ScaledModel(ConditionalModel):
    """Families that model the targets through the shared :class:`ColumnScaler`: the
    split, the scalers, discrete-target grids and their dequantisation at fit time, and
    ``log_prob`` with a probability per grid value for discrete targets. A subclass
    defines ``_continuous_log_prob`` (physical arrays, scaler Jacobian included)."""

    def __init__(self, **hyperparameters: Any):
        super().__init__(**hyperparameters)
        width = self.hyperparameters.get("smass_cut_width", SMASS_CUT_WIDTH)
        if isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0:
            raise ModelError(f"smass_cut_width must be a width > 0 in dex, got {width!r}")
        if self.hyperparameters.get("scaling", "standard") not in SCALINGS:
            raise ModelError(f"scaling must be one of {', '.join(SCALINGS)}, got "
                             f"{self.hyperparameters['scaling']!r}")
        if self.hyperparameters.get("supports", "default") not in SUPPORT_CHOICES:
            raise ModelError(f"supports must be one of {', '.join(SUPPORT_CHOICES)}, got "
                             f"{self.hyperparameters['supports']!r}")
        if self.hyperparameters.get("edges", "none") not in EDGE_CHOICES:
            raise ModelError(f"edges must be one of {', '.join(EDGE_CHOICES)}, got "
                             f"{self.hyperparameters['edges']!r}")
        declared_supports(self.hyperparameters.get("bounds"))  # ModelError if malformed
        self.condition_scaler: ColumnScaler | None = None
        self.target_scaler: ColumnScaler | None = None
        #: The edges the last fit found (``edges="auto"``): target -> {"lower": x} or
        #: {"upper": x}, physical units; also in ``metrics["edges"]`` of neural families.
        self.found_edges: dict[str, dict[str, float]] = {}
        #: The atoms the last fit found (``dequantise="auto"``): target -> {"value": x,
        #: "share": fraction of the fit's rows holding it}; in ``metrics["atoms"]``.
        self.found_atoms: dict[str, dict[str, float]] = {}

    def _supports(self, names: tuple[str, ...], cut: float | None, width: float,
                  declared: dict[str, Support] | None = None) -> list[Support]:
        """The support maps of ``names`` by the ``supports`` hyperparameter, with the
        ``declared`` ones (column -> Support) in place of theirs."""
        if self.hyperparameters.get("supports", "default") == "none":
            supports = [Support() for _ in names]
        else:
            supports = default_supports(names, cut, width)
        if declared:
            supports = [declared.get(name, s) for name, s in zip(names, supports, strict=True)]
        return supports

    def _prepare_fit(self, catalog, condition, target, valid, seed: int) -> FitData:
        """Set the columns and fit the scalers on the training split; the split is a
        seeded ``valid`` fraction or the given validation table."""
        self._set_columns(condition, target)
        frame = table_of(catalog)
        x = column_matrix(frame, self.condition, "condition")
        y = column_matrix(frame, self.target, "target")
        if isinstance(valid, Catalog | pd.DataFrame):
            x_valid = column_matrix(valid, self.condition, "validation condition")
            y_valid = column_matrix(valid, self.target, "validation target")
            self.check_row_counts(len(x), len(x_valid))
        else:
            train_rows, valid_rows = split_rows(
                len(x), valid, seed, *self.row_minimums(len(self.target)),
                what=f"a {self.family} model")
            x, x_valid, y, y_valid = x[train_rows], x[valid_rows], y[train_rows], y[valid_rows]
        truth = catalog.meta.truth if isinstance(catalog, Catalog) else None
        smass = y[:, self.target.index("smass")] if "smass" in self.target else None
        cut = stellar_mass_cut_of(truth, smass)
        width = float(self.hyperparameters.get("smass_cut_width", SMASS_CUT_WIDTH))
        scaling = self.hyperparameters.get("scaling", "standard")
        declared = declared_supports(self.hyperparameters.get("bounds"))
        if set(declared) - set(self.target):
            raise ModelError(f"bounds name {sorted(set(declared) - set(self.target))}, which "
                             f"are not targets ({', '.join(self.target)})")
        try:
            self.condition_scaler = ColumnScaler.fit(
                self.condition, x, self._supports(self.condition, cut, width),
                scaling=scaling)
            grids = self._target_grids(y)
            supports = self._supports(self.target, cut, width, declared)
            # atoms and edges from every row the fit sees, so no validation row holds an
            # atom the scaler lacks or falls outside a support
            seen = np.concatenate([y, y_valid])
            atoms = self._target_atoms(seen, supports, grids)
            self.found_edges = {}
            if self.hyperparameters.get("edges", "none") == "auto":
                found = edge_supports(seen, supports, grids, atoms)
                self.found_edges = {
                    name: ({"lower": new.lower} if new.lower is not None
                           else {"upper": new.upper})
                    for name, new, old in zip(self.target, found, supports, strict=True)
                    if new != old}
                supports = found
            self.target_scaler = ColumnScaler.fit(self.target, y, supports, grids, scaling,
                                                  atoms)
            # Discrete targets are spread over their grid cells once, with the fit's seed.
            rng = np.random.default_rng(seed)
            y_model = self.target_scaler.dequantise(y, rng)
            y_valid_model = self.target_scaler.dequantise(y_valid, rng)
        except ValueError as err:
            raise ModelError(str(err)) from None
        return FitData(x, y, y_model, x_valid, y_valid, y_valid_model)

    def _target_atoms(self, y: np.ndarray, supports: list[Support],
                      grids: list[np.ndarray | None]) -> list[Atom | None]:
        """Atoms (point masses at an edge, atoms.detect_atom) of the target columns
        that have neither a grid nor a support, when ``dequantise`` is "auto" (a family
        without that hyperparameter, like the count model, has none); recorded in
        :attr:`found_atoms`."""
        self.found_atoms = {}
        if self.hyperparameters.get("dequantise") != "auto":
            return [None] * len(self.target)
        atoms = [detect_atom(column) if grid is None and support.kind == "identity"
                 else None for column, support, grid in zip(y.T, supports, grids, strict=True)]
        for name, atom, column in zip(self.target, atoms, y.T, strict=True):
            if atom is not None:
                self.found_atoms[name] = {"value": atom.value,
                                          "share": float(np.mean(atom.held(column)))}
        return atoms

    def _target_grids(self, y: np.ndarray) -> list[np.ndarray | None]:
        """Grids of the discrete target columns, by the ``dequantise`` hyperparameter:
        "auto" (detect), "none", or a list of column names to treat as discrete."""
        setting = self.hyperparameters.get("dequantise", "auto")
        if setting == "none":
            return [None] * len(self.target)
        if setting == "auto":
            return [detect_grid(column) for column in y.T]
        names = parse_column_list(setting)
        unknown = sorted(set(names) - set(self.target))
        if unknown:
            raise ModelError(f"dequantise names {unknown}, which are not targets "
                             f"({', '.join(self.target)})")
        return [np.unique(column) if name in names else None
                for name, column in zip(self.target, y.T, strict=True)]

    def config(self) -> dict[str, Any]:
        """What ``config.json`` holds: family, version, hyperparameters, columns,
        scalers, seed and validation metrics (families add their own keys)."""
        self._require_fitted()
        return {
            "family": self.family, "galhalo_version": __version__,
            "hyperparameters": self.hyperparameters,
            "condition": list(self.condition), "target": list(self.target),
            "condition_scaler": self.condition_scaler.to_dict(),
            "target_scaler": self.target_scaler.to_dict(),
            "seed": self.seed, "metrics": self.metrics,
        }

    @abstractmethod
    def _continuous_log_prob(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """log-density (rows,) of physical targets ``y`` given conditions ``x``."""

    def log_prob(self, condition_table, target_table):
        self._require_fitted()
        x = column_matrix(condition_table, self.condition, "condition")
        y = column_matrix(target_table, self.target, "target")
        if len(x) != len(y):
            raise ModelError(f"condition has {len(x)} rows but target has {len(y)}")
        celled = self.target_scaler.celled
        if not celled:
            return self._continuous_log_prob(x, y)
        # A grid value has a probability: the integral of the model's density over its
        # cell; an atom the integral over everything beyond it (its cell and further, by
        # the substitution of Atom.point). Both by a rank-1 lattice rule. Rows without a
        # cell (off an atom, and no grid) keep their density.
        try:
            cells = self.target_scaler.cells(y)
        except ValueError as err:
            raise ModelError(str(err)) from None
        rows = np.any([cells[j][1] > 0 for j in celled], axis=0)
        result = np.empty(len(y))
        if not rows.all():
            result[~rows] = self._continuous_log_prob(x[~rows], y[~rows])
        if rows.any():
            atoms = self.target_scaler.atoms
            atom_columns = [j for j in celled if atoms[j] is not None]
            rule = lattice_rule(len(celled), ATOM_LATTICE_MIN_POINTS if atom_columns
                                else LATTICE_MIN_POINTS)
            x_rows, y_rows = x[rows], y[rows]
            row_cells = {j: (low[rows], width[rows]) for j, (low, width) in cells.items()}
            terms = []
            # an atom's integral in two parts (its cell, and the rest beyond), each with
            # the rule: every combination of parts over the atom columns
            for parts in itertools.product(ATOM_PARTS, repeat=len(atom_columns)):
                part_of = dict(zip(atom_columns, parts, strict=True))
                for point in rule:
                    y_k, log_weight = y_rows.copy(), np.zeros(len(y_rows))
                    for fraction, j in zip(point, celled, strict=True):
                        low, width = row_cells[j]
                        if atoms[j] is None:
                            y_k[:, j] = low + fraction * width
                            log_weight += np.log(width)
                            continue
                        held = width > 0
                        y_k[held, j] = atoms[j].point(fraction, part_of[j])
                        log_weight[held] += atoms[j].log_weight(fraction, part_of[j])
                        if part_of[j] != ATOM_PARTS[0]:
                            log_weight[~held] = -np.inf  # off the atom: counted once
                    terms.append(self._continuous_log_prob(x_rows, y_k) + log_weight)
            result[rows] = np.logaddexp.reduce(terms, axis=0) - np.log(len(rule))
        result[self.target_scaler.beyond_atoms(y)] = -np.inf
        return result
