"""Populations of a catalog: the rows selected by a :class:`Split` of one column.

Quantiles (``"color:quantiles=4"``), bins between thresholds
(``"smass:thresholds=9.5,10.5"``), cumulative threshold samples
(``"smass:above=9.5,10.5"``), the values of an integer class column
(``"hival_class:classes"`` or ``"hival_class:classes=0,3"``), or ``"all"``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..catalog import REALIZATION
from ..catalog.schema import POSITION, VELOCITY
from ..errors import ClusteringError

__all__ = ["Split", "SplitKind", "parse_split", "parse_splits"]

SplitKind = Literal["all", "quantiles", "thresholds", "above", "classes"]
_KINDS = ("quantiles", "thresholds", "above", "classes")


@dataclass(frozen=True)
class Split:
    """How to cut a catalog into populations by one column.

    Attributes:
        column: the column (any numeric column; ``""`` for ``kind="all"``).
        kind: ``"quantiles"`` (``values = (n,)``: n equal-count populations),
            ``"thresholds"`` (bins between the sorted ``values``: len + 1 populations),
            ``"above"`` (one population ``column >= t`` per threshold t), ``"classes"``
            (one population per integer value; ``values`` empty = every value present),
            or ``"all"`` (one population: every row).
        values: the numbers of the spec.
    """

    column: str
    kind: SplitKind
    values: tuple[float, ...] = ()

    @property
    def spec(self) -> str:
        """The text form, e.g. ``"color:quantiles=4"`` (inverse of :func:`parse_split`)."""
        if self.kind == "all":
            return "all"
        numbers = ",".join(f"{v:g}" for v in self.values)
        return f"{self.column}:{self.kind}" + (f"={numbers}" if numbers else "")

    def check(self, table: pd.DataFrame) -> np.ndarray | None:
        """The split column of ``table`` as float64 (None for ``"all"``); clear errors."""
        if self.kind == "all":
            return None
        if self.column not in table.columns:
            available = ", ".join(str(c) for c in table.columns
                                  if c not in (*POSITION, *VELOCITY, REALIZATION))
            raise ClusteringError(f"split {self.spec!r}: unknown column {self.column!r} "
                                  f"(available: {available})")
        try:
            values = table[self.column].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise ClusteringError(f"split {self.spec!r}: column {self.column!r} is not "
                                  "numeric") from None
        bad = ~np.isfinite(values)
        if bad.any():
            raise ClusteringError(f"split {self.spec!r}: column {self.column!r} has "
                                  f"{int(bad.sum())} NaN or inf values")
        if self.kind == "classes" and np.any(values != np.round(values)):
            raise ClusteringError(f"split {self.spec!r}: column {self.column!r} is not an "
                                  "integer class column")
        return values

    def edges(self, table: pd.DataFrame) -> tuple[float, ...]:
        """The split's boundaries in column units for ``table`` (quantile edges are
        computed from it; thresholds as given; classes: the class values)."""
        values = self.check(table)
        if values is None:
            return ()
        if self.kind == "quantiles":
            n = int(self.values[0])
            return tuple(float(q) for q in np.quantile(values, np.arange(1, n) / n))
        if self.kind == "classes":
            present = np.unique(values)
            return tuple(float(v) for v in (self.values or present))
        return tuple(self.values)

    def masks(self, table: pd.DataFrame, edges: Sequence[float] | None = None,
              ) -> dict[str, np.ndarray]:
        """``{population name: boolean mask (rows,)}`` in a fixed order.

        ``edges`` overrides the boundaries (e.g. quantile edges of another catalog).
        """
        values = self.check(table)
        if values is None:
            return {"all": np.ones(len(table), dtype=bool)}
        cuts = tuple(self.edges(table) if edges is None else edges)
        name = self.column
        if self.kind == "quantiles":
            n = int(self.values[0])
            if len(cuts) != n - 1:
                raise ClusteringError(f"split {self.spec!r}: {n - 1} quantile edges needed, "
                                      f"got {len(cuts)}")
            index = np.searchsorted(np.asarray(cuts), values, side="right")
            return {f"{name} q{i + 1}/{n}": index == i for i in range(n)}
        if self.kind == "thresholds":
            index = np.searchsorted(np.asarray(cuts), values, side="right")
            labels = ([f"{name} < {cuts[0]:g}"]
                      + [f"{lo:g} <= {name} < {hi:g}" for lo, hi in itertools.pairwise(cuts)]
                      + [f"{name} >= {cuts[-1]:g}"])
            return {label: index == i for i, label in enumerate(labels)}
        if self.kind == "above":
            return {f"{name} >= {cut:g}": values >= cut for cut in cuts}
        return {f"{name} = {cut:g}": values == cut for cut in cuts}


def parse_split(spec: str | Split) -> Split:
    """Parse ``"column:kind[=v1,v2,...]"`` or ``"all"`` into a :class:`Split`.

    Kinds: ``quantiles=N`` (integer N >= 2), ``thresholds=t1,t2,...`` (increasing),
    ``above=t1,...``, ``classes`` or ``classes=c1,c2,...`` (integers).

    Raises:
        ClusteringError: malformed spec, unknown kind, bad numbers (all named).
    """
    if isinstance(spec, Split):
        return spec
    if not isinstance(spec, str):
        raise ClusteringError(f"a split spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    if text == "all":
        return Split("", "all")
    match = re.fullmatch(r"\s*([^:=\s]+)\s*:\s*([a-z]+)\s*(?:=\s*(.*))?", text)
    if match is None:
        raise ClusteringError(f"split {spec!r}: expected 'column:kind=values' such as "
                              "'color:quantiles=4', 'smass:thresholds=9.5,10.5', "
                              "'hival_class:classes' or 'all'")
    column, kind, numbers = match.group(1), match.group(2), match.group(3)
    if kind not in _KINDS:
        raise ClusteringError(f"split {spec!r}: unknown kind {kind!r}; use one of "
                              f"{', '.join(_KINDS)}")
    try:
        values = tuple(float(part) for part in (numbers or "").split(",") if part.strip())
    except ValueError:
        raise ClusteringError(f"split {spec!r}: values must be numbers separated by "
                              "commas") from None
    if not all(math.isfinite(v) for v in values):
        raise ClusteringError(f"split {spec!r}: values must be finite")
    if kind == "quantiles":
        if len(values) != 1 or values[0] < 2 or not values[0].is_integer():
            raise ClusteringError(f"split {spec!r}: quantiles needs one integer >= 2")
    elif kind in ("thresholds", "above"):
        if not values:
            raise ClusteringError(f"split {spec!r}: {kind} needs at least one value")
        if any(b <= a for a, b in itertools.pairwise(values)):
            raise ClusteringError(f"split {spec!r}: {kind} must be strictly increasing")
    elif any(not v.is_integer() for v in values) or len(set(values)) != len(values):
        raise ClusteringError(f"split {spec!r}: classes must be distinct integers")
    return Split(column, kind, values)  # type: ignore[arg-type]


def parse_splits(splits: str | Split | Iterable[str | Split] | None) -> list[Split]:
    """One spec, several, or None (= ``"all"``) as a list of :class:`Split`."""
    if splits is None:
        return [Split("", "all")]
    if isinstance(splits, str | Split):
        splits = [splits]
    parsed = [parse_split(spec) for spec in splits]
    if not parsed:
        return [Split("", "all")]
    return parsed
