"""The HiVAl hierarchy container: every level's classes and statistics, the oracle PCC,
level choice, assignment of new points, and its directory (the model store's
``config.json`` + ``arrays.npz``; the older ``hival.npz`` + ``hival.json`` still load)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ...errors import HiValError, ModelError
from ..store import CONFIG_FILE, ModelFiles, read_model_directory, write_model_directory

#: The ``family`` of a hierarchy's directory in the model store.
FAMILY = "hival_hierarchy"
#: The files of a hierarchy saved before the model store (still read by :meth:`Hierarchy.load`).
LEGACY_ARRAYS_FILE = "hival.npz"
LEGACY_META_FILE = "hival.json"
#: Oracle rule assumed for hierarchies saved before the rule was recorded.
LEGACY_ORACLE = "member"


@dataclass
class Hierarchy:
    """Every level of a HiVAl run on N points with D target columns.

    Attributes:
        names: the target column names (D,).
        lower, upper: per-column minimum and maximum of the data (physical units); the
            unit cube of the geometry is ``(x - lower) / (upper - lower)``.
        labels: (levels, N) int32, the class of every input point at every level
            (level 0: every distinct point its own class).
        generators: per level, (K_l, D) generators in unit-cube coordinates.
        volumes: per level, (K_l,) cell volumes in units of the bounding box's volume.
        occupancy: per level, (K_l,) number of member points.
        dispersion: per level, (K_l, D) standard deviation of the members (physical
            units; 0 for a singleton).
        oracle_pcc: (levels, D) Pearson correlation between each point and the draw of
            a perfect classifier followed by in-class sampling, by the rule in
            ``settings["oracle"]`` (:func:`oracle_pcc`).
        settings: the options of the run (method, candidates, neighbours, directions,
            oracle, seed, duplicates merged at level 0).
    """

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    labels: np.ndarray
    generators: list[np.ndarray]
    volumes: list[np.ndarray]
    occupancy: list[np.ndarray]
    dispersion: list[np.ndarray]
    oracle_pcc: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)
    _trees: dict[int, cKDTree] = field(default_factory=dict, repr=False, compare=False)

    @property
    def counts(self) -> list[int]:
        """Number of classes per level, from the finest (level 0) to the coarsest."""
        return [len(g) for g in self.generators]

    @property
    def oracle(self) -> str:
        """The oracle PCC rule of ``oracle_pcc`` ("paper" or "member"; hierarchies saved
        before the rule was recorded used "member")."""
        return str(self.settings.get("oracle", LEGACY_ORACLE))

    @property
    def n_levels(self) -> int:
        return len(self.generators)

    @property
    def dimension(self) -> int:
        return len(self.names)

    def level_index(self, level: int) -> int:
        """``level`` as an index 0 .. n_levels - 1 (negative counts from the coarsest), or
        a HiValError naming the levels that exist."""
        try:
            integral = not isinstance(level, bool) and int(level) == level
        except (TypeError, ValueError):
            integral = False
        if not integral:
            raise HiValError(f"level must be an integer, got {level!r}")
        level = int(level)
        if level < 0:
            level += self.n_levels
        if not 0 <= level < self.n_levels:
            raise HiValError(f"level {level} does not exist: the hierarchy has levels "
                             f"0-{self.n_levels - 1}")
        return level

    def to_unit(self, points: np.ndarray) -> np.ndarray:
        """Physical (M, D) -> unit-cube coordinates (M, D)."""
        return (points - self.lower) / (self.upper - self.lower)

    def generators_physical(self, level: int) -> np.ndarray:
        """Generators of ``level`` in physical units, (K_l, D)."""
        return self.lower + self.generators[self.level_index(level)] * (self.upper - self.lower)

    def volumes_physical(self, level: int) -> np.ndarray:
        """Cell volumes of ``level`` in the product of the targets' physical units."""
        return self.volumes[self.level_index(level)] * float(np.prod(self.upper - self.lower))

    def assign(self, points: np.ndarray, level: int) -> np.ndarray:
        """Class (M,) of each of ``points`` (M, D) physical: the nearest generator of
        ``level`` in unit-cube distance (new points; training points keep ``labels``)."""
        level = self.level_index(level)
        points = _check_matrix(points, self.names, minimum_rows=1)
        if level not in self._trees:
            self._trees[level] = cKDTree(self.generators[level])
        return self._trees[level].query(self.to_unit(points), 1, workers=-1)[1].astype(np.int64)

    def coarsest_level(self, threshold: float | Sequence[float] | dict[str, float]) -> int:
        """The coarsest level whose oracle PCC is at least ``threshold`` for every target
        (one number for all, a sequence per column, or a {column: threshold} dict)."""
        if isinstance(threshold, dict):
            unknown = sorted(set(threshold) - set(self.names))
            if unknown:
                raise HiValError(f"thresholds for unknown columns {unknown}; "
                                 f"targets are {list(self.names)}")
            limit = np.array([threshold.get(name, -1.0) for name in self.names])
        else:
            limit = np.broadcast_to(np.asarray(threshold, dtype=float), (self.dimension,))
        passing = np.flatnonzero((self.oracle_pcc >= limit).all(axis=1))
        return int(passing.max()) if len(passing) else 0

    def summary(self) -> list[dict[str, Any]]:
        """One row per level: classes, singletons, median occupancy, oracle PCC."""
        return [{"level": level, "classes": len(g),
                 "singletons": int(np.sum(self.occupancy[level] == 1)),
                 "median_occupancy": float(np.median(self.occupancy[level])),
                 "oracle_pcc": dict(zip(self.names, map(float, self.oracle_pcc[level]),
                                        strict=True))}
                for level, g in enumerate(self.generators)]

    # -- persistence: a model-store directory (config.json + arrays.npz), no pickles
    def _arrays(self) -> dict[str, np.ndarray]:
        """The hierarchy as plain arrays (the layout is described in docs/hival.md)."""
        return {"labels": self.labels.astype(np.int32),
                "offsets": np.cumsum([0, *self.counts]),
                "generators": np.concatenate(self.generators),
                "volumes": np.concatenate(self.volumes),
                "occupancy": np.concatenate(self.occupancy),
                "dispersion": np.concatenate(self.dispersion),
                "oracle_pcc": self.oracle_pcc, "lower": self.lower, "upper": self.upper}

    def save(self, directory: str | Path) -> Path:
        """Write the hierarchy to ``directory`` atomically through the model store
        (:func:`~galhalo.models.store.write_model_directory`): ``config.json`` (family
        ``hival_hierarchy``, names, class counts, settings, checksums) and
        ``arrays.npz``. Returns the resolved path."""
        config = {"family": FAMILY, "names": list(self.names), "counts": self.counts,
                  "settings": self.settings}
        return write_model_directory(directory, config, ModelFiles(arrays=self._arrays()))

    @classmethod
    def load(cls, directory: str | Path) -> Hierarchy:
        """Read a hierarchy written by :meth:`save` (its own directory, or the ``hival/``
        sub-directory of an NNclass model), or by galhalo before the model store
        (``hival.npz`` + ``hival.json``, no ``config.json``).

        Raises:
            HiValError: naming the directory or file that is missing, modified,
                unreadable, from another galhalo version, or inconsistent.
        """
        directory = Path(directory)
        legacy = [directory / name for name in (LEGACY_META_FILE, LEGACY_ARRAYS_FILE)]
        if not (directory / CONFIG_FILE).exists() and any(p.exists() for p in legacy):
            return cls._load_legacy(directory)
        if directory.is_dir() and not (directory / CONFIG_FILE).exists():
            raise HiValError(f"{directory}: no HiVAl hierarchy (neither {CONFIG_FILE} nor "
                             f"{LEGACY_META_FILE} + {LEGACY_ARRAYS_FILE})")
        try:
            stored = read_model_directory(directory, FAMILY)
        except ModelError as err:
            raise HiValError(str(err)) from None
        return cls._from_arrays(directory / CONFIG_FILE, stored.config, stored.files.arrays)

    @classmethod
    def _load_legacy(cls, directory: Path) -> Hierarchy:
        """A hierarchy in the layout written before the model store."""
        try:
            meta = json.loads((directory / LEGACY_META_FILE).read_text())
            with np.load(directory / LEGACY_ARRAYS_FILE, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except FileNotFoundError as err:
            raise HiValError(f"{directory}: no HiVAl hierarchy ({Path(err.filename).name} "
                             "is missing)") from None
        except (OSError, ValueError) as err:
            raise HiValError(f"{directory}: unreadable HiVAl hierarchy "
                             f"({' '.join(str(err).split())})") from None
        return cls._from_arrays(directory / LEGACY_META_FILE, meta, arrays)

    @classmethod
    def _from_arrays(cls, meta_path: Path, meta: dict[str, Any],
                     arrays: dict[str, np.ndarray]) -> Hierarchy:
        """The hierarchy from :meth:`stored_arrays` and its metadata (names, counts,
        settings) read from ``meta_path``, checked for consistency."""
        directory = meta_path.parent
        try:
            split = [slice(a, b) for a, b in itertools.pairwise(arrays["offsets"])]
            hierarchy = cls(
                names=tuple(meta["names"]), lower=arrays["lower"], upper=arrays["upper"],
                labels=arrays["labels"],
                generators=[arrays["generators"][s] for s in split],
                volumes=[arrays["volumes"][s] for s in split],
                occupancy=[arrays["occupancy"][s] for s in split],
                dispersion=[arrays["dispersion"][s] for s in split],
                oracle_pcc=arrays["oracle_pcc"], settings=meta.get("settings", {}))
        except (KeyError, TypeError, ValueError) as err:
            raise HiValError(f"{directory}: HiVAl arrays are incomplete ({err})") from None
        if hierarchy.counts != list(meta.get("counts", [])) or \
                hierarchy.labels.shape[0] != hierarchy.n_levels:
            raise HiValError(f"{directory}: HiVAl arrays disagree with {meta_path.name}")
        return hierarchy


def _check_matrix(points: Any, names: Sequence[str], minimum_rows: int) -> np.ndarray:
    """A finite float (N, D) array with D = len(names), or a HiValError naming the issue."""
    try:
        x = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        raise HiValError("points must be a numeric (rows, columns) array") from None
    if x.ndim == 1 and len(names) == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != len(names):
        raise HiValError(f"points must have shape (rows, {len(names)}), got {x.shape}")
    if len(x) < minimum_rows:
        raise HiValError(f"need at least {minimum_rows} rows, got {len(x)}")
    bad = ~np.isfinite(x)
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        raise HiValError(f"column {names[column]!r}: {int(bad[:, column].sum())} of {len(x)} "
                         f"values are NaN or inf (first at row "
                         f"{int(np.flatnonzero(bad[:, column])[0])})")
    return x


