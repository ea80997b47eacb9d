"""Table-level metadata of a catalog (:class:`CatalogMeta`), checked on construction."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .. import __version__
from ..errors import CatalogError
from ..files import to_jsonable

__all__ = ["CatalogMeta"]


def _real(name: str, value: Any, *, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CatalogError(f"metadata {name!r}: expected a number, got {value!r}")
    return float(value)


def _integer(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CatalogError(f"metadata {name!r}: expected an integer or null, got {value!r}")
    return int(value)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise CatalogError(f"metadata {name!r}: expected a string, got {value!r}")
    return value


def _json_dict(name: str, value: Any, *, optional: bool) -> dict[str, Any] | None:
    if value is None and optional:
        return None
    if not isinstance(value, Mapping):
        raise CatalogError(f"metadata {name!r}: expected a mapping, got {value!r}")
    try:
        return to_jsonable(value, where=f"metadata {name!r}")
    except (TypeError, ValueError) as err:
        raise CatalogError(str(err)) from None


@dataclass
class CatalogMeta:
    """Table-level metadata of a catalog.

    Attributes:
        box_size: side of the periodic box in Mpc/h; ``None`` if the table is not a
            periodic box. Finite and > 0 when set.
        redshift: redshift of the snapshot (finite, >= 0).
        cosmology: cosmological parameters (``name``, ``Om0``, ``Ob0``, ``H0``,
            ``sigma8``, ``ns``, ...); any JSON-able mapping.
        seed: random seed that produced the catalog, if any.
        source: where the catalog came from (simulation name, file path, command).
        truth: parameters of the known-truth galaxy model of a synthetic catalog
            (JSON-able nested mapping), ``None`` for real data.
        extra: anything else, JSON-able.
        galhalo_version: package version that wrote the catalog.

    Values are checked and normalised on construction (numpy scalars become Python
    numbers, mappings are copied); :meth:`validate` re-checks after mutation.
    """

    box_size: float | None = None
    redshift: float = 0.0
    cosmology: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    source: str = ""
    truth: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    galhalo_version: str = __version__

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> CatalogMeta:
        """Check and normalise every field; raise :class:`CatalogError`. Returns self."""
        box_size = _real("box_size", self.box_size, optional=True)
        if box_size is not None and not (math.isfinite(box_size) and box_size > 0):
            raise CatalogError(f"metadata 'box_size': must be finite and > 0 (Mpc/h), "
                               f"got {box_size}")
        redshift = _real("redshift", self.redshift, optional=False)
        if not (math.isfinite(redshift) and redshift >= 0):
            raise CatalogError(f"metadata 'redshift': must be finite and >= 0, got {redshift}")
        self.box_size = box_size
        self.redshift = redshift
        self.cosmology = _json_dict("cosmology", self.cosmology, optional=False)
        self.seed = _integer("seed", self.seed)
        self.source = _text("source", self.source)
        self.truth = _json_dict("truth", self.truth, optional=True)
        self.extra = _json_dict("extra", self.extra, optional=False)
        self.galhalo_version = _text("galhalo_version", self.galhalo_version)
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy: ``{field name: value}`` for every field."""
        return to_jsonable({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CatalogMeta:
        """Inverse of :meth:`to_dict`; missing keys take their defaults.

        Raises:
            CatalogError: ``data`` is not a mapping, has unknown keys (all listed), or a
                value has the wrong type or range.
        """
        if not isinstance(data, Mapping):
            raise CatalogError(f"metadata must be a mapping, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise CatalogError(f"unknown metadata keys {', '.join(map(repr, unknown))}; "
                               f"known keys: {', '.join(known)}")
        return cls(**data)
