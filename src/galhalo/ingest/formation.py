"""Formation redshifts z_1/2 from a side table (CSV/Parquet) keyed by subhalo id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CatalogError
from .tables import read_table

__all__ = ["FORMATION_ID_COLUMNS", "FORMATION_VALUE_COLUMNS", "formation_redshifts"]

#: Accepted names of the subhalo-id column of a formation-redshift side table.
FORMATION_ID_COLUMNS: tuple[str, ...] = ("subhalo_id", "SubhaloID", "SubfindID", "ID",
                                         "halo_id")
#: Accepted names of the formation-redshift column of a side table.
FORMATION_VALUE_COLUMNS: tuple[str, ...] = ("z_h", "z_form", "z_half", "zform")


def _pick(columns: list[str], candidates: tuple[str, ...], what: str, where: Path) -> str:
    found = next((name for name in candidates if name in columns), None)
    if found is None:
        raise CatalogError(f"{where}: no {what} column (expected one of "
                           f"{', '.join(candidates)}; the file has: {', '.join(columns)})")
    return found


def formation_redshifts(path: str | Path, subhalo_ids: np.ndarray) -> np.ndarray:
    """Formation redshifts of the given subhalos from a side table (CSV/Parquet).

    Args:
        path: table with one row per subhalo: an id column (first found of
            :data:`FORMATION_ID_COLUMNS`: the global Subfind index of the subhalo at
            the catalog's snapshot) and a redshift column (first of
            :data:`FORMATION_VALUE_COLUMNS`). Other columns are ignored.
        subhalo_ids: shape (n,) integer ids to look up.

    Returns:
        shape (n,) float64 formation redshifts, in the order of ``subhalo_ids``.

    Raises:
        CatalogError: naming the file and column, for a missing column, repeated ids,
            NaN/inf/negative redshifts, or ids of ``subhalo_ids`` the table lacks.
    """
    source = Path(path)
    table = read_table(source)
    columns = [str(c) for c in table.columns]
    id_column = _pick(columns, FORMATION_ID_COLUMNS, "subhalo-id", source)
    value_column = _pick(columns, FORMATION_VALUE_COLUMNS, "formation-redshift", source)
    ids = table[id_column]
    if not pd.api.types.is_integer_dtype(ids.dtype):
        raise CatalogError(f"{source}: column {id_column!r}: subhalo ids must be integers, "
                           f"got dtype {ids.dtype}")
    repeated = ids.duplicated().to_numpy()
    if repeated.any():
        raise CatalogError(f"{source}: column {id_column!r}: {int(repeated.sum())} ids appear "
                           f"more than once (first {ids[repeated].iloc[0]})")
    try:
        values = table[value_column].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise CatalogError(f"{source}: column {value_column!r} is not numeric: {err}") from None
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise CatalogError(f"{source}: column {value_column!r}: {int(bad.sum())} of "
                           f"{len(values)} formation redshifts are NaN, inf or negative")
    where = pd.Index(ids.to_numpy()).get_indexer(np.asarray(subhalo_ids))
    absent = where < 0
    if absent.any():
        first = int(np.asarray(subhalo_ids)[absent][0])
        raise CatalogError(f"{source}: column {id_column!r}: {int(absent.sum())} of "
                           f"{len(where)} selected centrals have no formation redshift "
                           f"(first subhalo id {first}); the side table must cover every "
                           "selected central (same snapshot and cuts)")
    return values[where]
