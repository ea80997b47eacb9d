"""What every ingestion reader shares: type aliases, opening HDF5 files, and checking
positions against the periodic box."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from ..errors import CatalogError
from ..progress import Progress

__all__ = ["PathLike", "Progress", "open_hdf5", "positions_in_box"]

PathLike = str | os.PathLike[str]


@contextmanager
def open_hdf5(path: Path) -> Iterator[h5py.File]:
    """``path`` opened read-only; a :class:`CatalogError` naming it if it is not HDF5."""
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise CatalogError(f"{path}: not a readable HDF5 file ({err})") from None
    with handle:
        yield handle


def positions_in_box(values: np.ndarray, box: float, where: str, hint: str = "") -> np.ndarray:
    """Positions checked against a periodic box and wrapped into [0, box).

    Args:
        values: positions, any shape, in the unit of ``box`` (Mpc/h in galhalo).
        box: periodic box side.
        where: what the values are, for messages (file and field/column).
        hint: appended to the out-of-box message (which option or header sets ``box``).

    Returns:
        float64 copy, values equal to ``box`` (rounding at the upper face) set to 0.

    Raises:
        CatalogError: a value is NaN/inf or outside [0, box].
    """
    try:
        positions = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CatalogError(f"{where}: positions are not numeric ({err})") from None
    flat = positions.reshape(len(positions), -1) if positions.ndim else positions.reshape(1, 1)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        raise CatalogError(f"{where}: {int(bad.sum())} of {len(flat)} positions are NaN or inf "
                           f"(first at row {int(np.flatnonzero(bad)[0])})")
    outside = ((flat < 0) | (flat > box)).any(axis=1)
    if outside.any():
        hint_text = f"; {hint}" if hint else ""
        raise CatalogError(
            f"{where}: {int(outside.sum())} of {len(flat)} positions lie outside the box "
            f"[0, {box:g}] (min {flat.min():.6g}, max {flat.max():.6g}; first at row "
            f"{int(np.flatnonzero(outside)[0])}): the box size disagrees with the "
            f"positions{hint_text}")
    return np.where(positions >= box, 0.0, positions)
