"""Scenarios: named selections of catalog rows by halo (or any column) properties.

Every metric is computed on the whole sample and on selections, as in the published
evaluation (REFERENCES.md, "Evaluation scenarios"). A selection is text:

    "11.2<M_h<11.5"            chained bounds on one column
    "M_h>12"                   one bound
    "11<M_h<=12 & z_h>1"       clauses joined by "&" (all must hold)
    "12>=M_h>11"               bounds may also run downwards
    "11.95<M_h<=12.05 & z_h>median"

Operators are ``<``, ``<=``, ``>``, ``>=``; numbers may carry a sign and an exponent.
The word ``median`` stands for the median of that column over the rows that satisfy
every numeric clause (so "z_h>median" inside a mass bin splits the bin in two halves).
Column names must be galhalo columns (``galhalo.columns``).

Published presets (:data:`PRESETS`): ``whole``; ``high_mass`` M_h > 12.75;
``intermediate_mass`` 11.95 < M_h <= 12.05; ``low_mass`` M_h <= 11.25; ``fixed_mass``
11.2 < M_h < 11.5; ``fixed_age`` 0.2 < z_h < 1.5; ``mass_and_age`` 11.2 < M_h < 11.5 and
1.0 < z_h < 1.5; ``old_intermediate`` / ``young_intermediate``: the intermediate-mass bin
split at its median formation redshift (old = formed earlier = z_h above the median).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..catalog.schema import COLUMNS
from ..errors import ScenarioError
from ..models.base import Table, table_of

MEDIAN = "median"
_OPERATORS = ("<=", ">=", "<", ">")
_TOKEN = re.compile(r"\s*(?:(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><=|>=|=<|=>|==|!=|<|>|=))")



@dataclass(frozen=True)
class Clause:
    """One bound ``column op value``; ``value`` is a number or the string ``"median"``."""

    column: str
    op: str
    value: float | str

    def text(self) -> str:
        value = self.value if isinstance(self.value, str) else f"{self.value:g}"
        return f"{self.column}{self.op}{value}"


@dataclass(frozen=True)
class Scenario:
    """A named selection of rows: all ``clauses`` hold (none: every row).

    Attributes:
        name: short identifier used as a key in results (e.g. ``"high_mass"``).
        selection: the selection text (``""`` for the whole sample).
        clauses: the parsed bounds.
        description: one line for tables and reports.
    """

    name: str
    selection: str = ""
    clauses: tuple[Clause, ...] = field(default=(), repr=False)
    description: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the selection reads."""
        return tuple(dict.fromkeys(c.column for c in self.clauses))

    def label(self) -> str:
        """``name (selection)``, or the name alone when the selection is the name."""
        if not self.selection:
            return f"{self.name} (all rows)"
        return self.name if self.name == self.selection else f"{self.name} ({self.selection})"

    def mask(self, table: Table) -> np.ndarray:
        """Boolean mask (rows,) of the rows this scenario selects.

        Raises :class:`ScenarioError` naming the scenario when a column is missing or
        holds NaN/inf.
        """
        data = table_of(table)
        n = _row_count(data)
        values = {}
        for name in self.columns:
            if name not in data:
                raise ScenarioError(f"scenario {self.label()}: column {name!r} is not in the "
                                    f"catalog (it has: {', '.join(map(str, data.keys()))})")
            column = np.asarray(data[name], dtype=float)
            bad = ~np.isfinite(column)
            if bad.any():
                raise ScenarioError(f"scenario {self.label()}: column {name!r} has "
                                    f"{bad.sum()} NaN or inf values")
            values[name] = column
        keep = np.ones(n, dtype=bool)
        for clause in self.clauses:
            if clause.value != MEDIAN:
                keep &= _compare(values[clause.column], clause.op, float(clause.value))
        numeric = keep.copy()
        for clause in self.clauses:
            if clause.value == MEDIAN:
                if not numeric.any():
                    break
                median = float(np.median(values[clause.column][numeric]))
                keep &= _compare(values[clause.column], clause.op, median)
        return keep

    def rows(self, table: Table, min_rows: int = 1) -> np.ndarray:
        """Indices of the selected rows; :class:`ScenarioError` if fewer than ``min_rows``."""
        mask = self.mask(table)
        selected = int(mask.sum())
        if selected < min_rows:
            need = "" if min_rows <= 1 else f"; at least {min_rows} are needed"
            raise ScenarioError(f"scenario {self.label()} selects {selected} of {len(mask)} "
                                f"rows{need}")
        return np.flatnonzero(mask)


def _row_count(data: Any) -> int:
    if hasattr(data, "shape"):
        return int(data.shape[0])
    lengths = {len(np.atleast_1d(np.asarray(v))) for v in data.values()}
    if len(lengths) > 1:
        raise ScenarioError(f"table columns have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _compare(values: np.ndarray, op: str, bound: float) -> np.ndarray:
    if op == "<":
        return values < bound
    if op == "<=":
        return values <= bound
    if op == ">":
        return values > bound
    return values >= bound


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _tokens(text: str, where: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None:
            raise ScenarioError(f"{where}: cannot read {stripped[position:].strip()!r} "
                                f"(at character {position + 1}); expected a number, a column "
                                "name or one of < <= > >=")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _clause(part: str, where: str) -> list[Clause]:
    tokens = _tokens(part, where)
    if len(tokens) not in (3, 5) or any(kind != "op" for kind, _ in tokens[1::2]):
        raise ScenarioError(f"{where}: {part.strip()!r} is not a comparison; write e.g. "
                            "'M_h>12' or '11.2<M_h<11.5'")
    ops = [value for _, value in tokens[1::2]]
    wrong = [op for op in ops if op not in _OPERATORS]
    if wrong:
        raise ScenarioError(f"{where}: operator {wrong[0]!r} in {part.strip()!r} is not "
                            "supported; use < <= > >=")
    if len(ops) == 2 and (ops[0][0] != ops[1][0]):
        raise ScenarioError(f"{where}: {part.strip()!r} mixes directions; a chained bound "
                            "reads 'low < column < high' or 'high > column > low'")
    operands = tokens[0::2]
    names = [i for i, (kind, value) in enumerate(operands)
             if kind == "name" and value.lower() != MEDIAN]
    if len(names) != 1:
        raise ScenarioError(f"{where}: {part.strip()!r} must compare exactly one column with "
                            "numbers")
    index = names[0]
    column = operands[index][1]
    if column not in COLUMNS:
        raise ScenarioError(f"{where}: unknown column {column!r}; galhalo columns are: "
                            f"{', '.join(COLUMNS)}")
    if len(operands) == 3 and index != 1:
        raise ScenarioError(f"{where}: in {part.strip()!r} the column must sit between the two "
                            "bounds")

    def bound(kind: str, value: str) -> float | str:
        if kind == "name":  # "median": the only other name allowed above
            return MEDIAN
        number = float(value)
        if not np.isfinite(number):
            raise ScenarioError(f"{where}: bound {value!r} is not finite")
        return number

    clauses = []
    for i, op in enumerate(ops):
        left, right = operands[i], operands[i + 1]
        if i == index:  # column op value
            clauses.append(Clause(column, op, bound(*right)))
        else:  # value op column  ->  column flipped-op value
            clauses.append(Clause(column, _FLIP[op], bound(*left)))
    return clauses


def _check_satisfiable(clauses: Sequence[Clause], where: str) -> None:
    for column in dict.fromkeys(c.column for c in clauses):
        lower, upper = -np.inf, np.inf
        lower_open = upper_open = False
        for c in clauses:
            if c.column != column or c.value == MEDIAN:
                continue
            if c.op in (">", ">=") and (c.value > lower or (c.value == lower and c.op == ">")):
                lower, lower_open = c.value, c.op == ">"
            if c.op in ("<", "<=") and (c.value < upper or (c.value == upper and c.op == "<")):
                upper, upper_open = c.value, c.op == "<"
        if lower > upper or (lower == upper and (lower_open or upper_open)):
            raise ScenarioError(f"{where}: the bounds on {column} exclude every value "
                                f"(lower {lower:g}, upper {upper:g})")


def parse_selection(text: str, name: str | None = None, description: str = "") -> Scenario:
    """Parse a selection like ``"11<M_h<=12 & z_h>1"`` into a :class:`Scenario`.

    Args:
        text: clauses joined by ``&`` (see the module docstring).
        name: scenario name (default: the selection text itself, spaces removed).
        description: one line for tables and reports.

    Raises:
        ScenarioError: empty or malformed text, unknown operators or columns, a clause
            without exactly one column, bounds that exclude every value.
    """
    if not isinstance(text, str):
        raise ScenarioError(f"a selection must be text, got {type(text).__name__}")
    compact = " ".join(text.split())
    where = f"selection {compact!r}"
    if not compact:
        raise ScenarioError("empty selection; write e.g. 'M_h>12' or '11.2<M_h<11.5'")
    parts = compact.split("&")
    if any(not part.strip() for part in parts):
        raise ScenarioError(f"{where}: empty clause around '&'")
    clauses = [c for part in parts for c in _clause(part, where)]
    _check_satisfiable(clauses, where)
    canonical = " & ".join(part.replace(" ", "") for part in parts)
    return Scenario(name or canonical, canonical, tuple(clauses), description)


WHOLE = Scenario("whole", "", (), "the whole sample")


def _preset(name: str, text: str, description: str) -> Scenario:
    return parse_selection(text, name, description)


#: The published evaluation scenarios (REFERENCES.md), in report order.
PRESETS: dict[str, Scenario] = {s.name: s for s in (
    WHOLE,
    _preset("high_mass", "M_h>12.75", "high halo mass"),
    _preset("intermediate_mass", "11.95<M_h<=12.05", "intermediate halo mass"),
    _preset("low_mass", "M_h<=11.25", "low halo mass"),
    _preset("fixed_mass", "11.2<M_h<11.5", "fixed halo mass"),
    _preset("fixed_age", "0.2<z_h<1.5", "fixed formation redshift"),
    _preset("mass_and_age", "11.2<M_h<11.5 & 1.0<z_h<1.5", "fixed mass and formation redshift"),
    _preset("old_intermediate", "11.95<M_h<=12.05 & z_h>median",
            "intermediate mass, formed earlier than the bin's median"),
    _preset("young_intermediate", "11.95<M_h<=12.05 & z_h<=median",
            "intermediate mass, formed later than the bin's median"),
)}


def scenario(spec: str | Scenario) -> Scenario:
    """A preset name, a selection text or a :class:`Scenario`, as a :class:`Scenario`."""
    if isinstance(spec, Scenario):
        return spec
    if isinstance(spec, str) and spec.strip() in PRESETS:
        return PRESETS[spec.strip()]
    if isinstance(spec, str) and re.fullmatch(r"\s*[A-Za-z_]\w*\s*", spec):
        raise ScenarioError(f"unknown scenario {spec.strip()!r}; presets: "
                            f"{', '.join(PRESETS)}; or give a selection like 'M_h>12'")
    return parse_selection(spec)


def scenarios(specs: Iterable[str | Scenario] | str | Scenario) -> list[Scenario]:
    """Several scenarios (see :func:`scenario`); repeated names are refused."""
    if isinstance(specs, str | Scenario):
        specs = [specs]
    out = [scenario(spec) for spec in specs]
    if not out:
        raise ScenarioError("no scenarios given")
    names = [s.name for s in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ScenarioError(f"scenario names appear more than once: {', '.join(repeated)}")
    return out


def describe(scenario_: Scenario, table: Table) -> dict[str, Any]:
    """JSON-ready description: name, selection text, description, rows selected."""
    return {"name": scenario_.name, "selection": scenario_.selection,
            "description": scenario_.description, "rows": int(scenario_.mask(table).sum())}
