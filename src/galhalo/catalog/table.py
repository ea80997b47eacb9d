"""The :class:`Catalog`: one table of halos and/or galaxies with its metadata."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import CatalogError
from .hosts import with_central_columns
from .meta import CatalogMeta
from .schema import ALL_COLUMNS, CENTRAL, COLUMNS, GALAXY, HALO, HOST, IS_CENTRAL
from .validation import column_names, quoted, validate_table

__all__ = ["GALAXY_KINDS", "Catalog"]

#: Which rows a model is trained on or scored against (:meth:`Catalog.galaxies`).
GALAXY_KINDS = ("centrals", "satellites", "all")


def _summary(values: np.ndarray) -> list[float]:
    """min, p1, p16, p50, p84, p99, max, mean, sd (ddof=1; NaN for one row).

    NaN entries (a satellite-only column on central rows) are left out; a column with
    no defined value gives NaN throughout.
    """
    values = values[~np.isnan(values)]
    if values.size == 0:
        return [math.nan] * len(_SUMMARY_COLUMNS)
    percentiles = np.percentile(values, [0, 1, 16, 50, 84, 99, 100])
    sd = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
    return [*(float(p) for p in percentiles), float(np.mean(values)), sd]


_SUMMARY_COLUMNS = ["min", "p1", "p16", "p50", "p84", "p99", "max", "mean", "sd"]


@dataclass(eq=False)
class Catalog:
    """A table of halos/galaxies (one row each) with its :class:`CatalogMeta`.

    Construction does not validate (call :meth:`validate`); :func:`read_catalog` and
    :func:`write_catalog` always do.

    Attributes:
        table: pandas DataFrame, columns named as in :mod:`galhalo.columns`.
        meta: table-level metadata (box size in Mpc/h, redshift, cosmology, ...).
    """

    table: pd.DataFrame
    meta: CatalogMeta = field(default_factory=CatalogMeta)

    def __post_init__(self) -> None:
        if not isinstance(self.table, pd.DataFrame):
            raise TypeError(f"Catalog.table must be a DataFrame, got {type(self.table).__name__}")
        if not isinstance(self.meta, CatalogMeta):
            raise TypeError(f"Catalog.meta must be a CatalogMeta, got {type(self.meta).__name__}")

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return (f"Catalog({len(self)} rows, columns={list(self.table.columns)}, "
                f"box_size={self.meta.box_size}, source={self.meta.source!r})")

    @property
    def halo_columns(self) -> tuple[str, ...]:
        """Halo-property columns present (``columns.HALO`` order)."""
        return tuple(name for name in HALO if name in self.table.columns)

    @property
    def galaxy_columns(self) -> tuple[str, ...]:
        """Galaxy-property columns present (``columns.GALAXY`` order)."""
        return tuple(name for name in GALAXY if name in self.table.columns)

    @property
    def has_satellites(self) -> bool:
        """Whether the table carries the host structure (``host_id``, ``is_central``).

        True even when every row is a central: the catalog was made with satellites in
        mind (hosts that happen to hold none), so its satellite statistics are zero,
        not unknown.
        """
        return all(name in self.table.columns for name in HOST)

    def central_mask(self) -> np.ndarray:
        """Bool array (rows,): true for central rows (every row of a centrals-only table)."""
        if IS_CENTRAL.name not in self.table.columns:
            return np.ones(len(self), dtype=bool)
        return self.table[IS_CENTRAL.name].to_numpy().astype(bool)

    def centrals(self) -> Catalog:
        """The central rows (the whole catalog when it has no satellites)."""
        return self if not self.has_satellites else self.select(self.central_mask())

    def satellites(self) -> Catalog:
        """The satellite rows (none in a centrals-only catalog)."""
        return self.select(~self.central_mask())

    def galaxies(self, which: str) -> Catalog:
        """The rows of one kind: ``"centrals"``, ``"satellites"`` or ``"all"``.

        Raises:
            CatalogError: an unknown kind, or ``"satellites"`` asked of a catalog
                without satellite rows.
        """
        if which not in GALAXY_KINDS:
            raise CatalogError(f"unknown galaxy kind {which!r}: choose one of "
                               f"{', '.join(GALAXY_KINDS)}")
        if which == "all":
            return self
        if which == "centrals":
            return self.centrals()
        if not (~self.central_mask()).any():
            raise CatalogError("the catalog has no satellite rows (no 'is_central' false)")
        return self.satellites()

    def with_centrals(self, names: Iterable[str] = CENTRAL) -> Catalog:
        """A copy with the derived central columns ``names`` (``sSFR_central`` ...: the
        galaxy property of each row's host's central; a central's own), by
        :func:`~.hosts.with_central_columns`. Call it before :meth:`galaxies` picks
        satellites, while their centrals are still rows; same metadata (a copy)."""
        return Catalog(with_central_columns(self.table, names), copy.deepcopy(self.meta))

    def validate(self, required: str | Iterable[str] = (), source: object = None) -> Catalog:
        """Check table and metadata (see :func:`validate_table`); returns self.

        ``source`` (e.g. the file the table came from) prefixes any error message.
        """
        try:
            validate_table(self.table, self.meta, required)
        except CatalogError as err:
            if source is None:
                raise
            raise CatalogError(f"{source}: {err}") from None
        return self

    def values(self, names: str | Iterable[str]) -> np.ndarray:
        """The named columns as a new float64 array of shape (rows, len(names)).

        Units are those of the columns (``galhalo.columns``); integer ids beyond 2**53
        lose precision. Raises :class:`CatalogError` naming every missing column.
        """
        wanted = column_names(names)
        if not wanted:
            raise CatalogError("values() needs at least one column name")
        missing = [name for name in wanted if name not in self.table.columns]
        if missing:
            raise CatalogError(f"missing columns {quoted(missing)} "
                               f"(the catalog has: {', '.join(map(str, self.table.columns))})")
        try:
            return self.table[wanted].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        except (TypeError, ValueError) as err:
            raise CatalogError(f"columns {quoted(wanted)} are not all numeric: {err}") from None

    def select(self, mask: np.ndarray | pd.Series) -> Catalog:
        """Rows where ``mask`` (bool, shape (rows,)) is true, index reset; a copy of meta."""
        keep = np.asarray(mask)
        if keep.dtype != np.bool_ or keep.shape != (len(self),):
            raise CatalogError(f"selection mask must be boolean with shape ({len(self)},), "
                               f"got dtype {keep.dtype} and shape {keep.shape}")
        return Catalog(self.table.iloc[keep].reset_index(drop=True), copy.deepcopy(self.meta))

    def describe(self) -> pd.DataFrame:
        """Summary of every known column present (schema order, ``halo_id`` excluded).

        Returns a DataFrame indexed by column name with columns ``unit, min, p1, p16,
        p50, p84, p99, max, mean, sd`` (percentiles in the column's unit; sd with ddof=1).
        """
        if len(self) == 0:
            raise CatalogError("cannot describe a catalog with no rows")
        names = [c.name for c in ALL_COLUMNS
                 if c.kind not in ("id", "flag") and c.name in self.table.columns]
        stats = self.values(names) if names else np.empty((len(self), 0))
        rows = [[COLUMNS[name].unit, *_summary(stats[:, i])] for i, name in enumerate(names)]
        return pd.DataFrame(rows, index=pd.Index(names, name="column"),
                            columns=["unit", *_SUMMARY_COLUMNS])
