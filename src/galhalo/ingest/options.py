"""The options of ``galhalo ingest`` as the readers take them.

:func:`parse_column_map` reads ``SOURCE=TARGET`` renames (``--map``) and
:func:`ingest_options` turns the command line's values into the keyword options of
:func:`galhalo.io.ingest` (building the SubLink tree reader from ``--sublink`` and
``--snapshot-redshifts``). Bad values raise :class:`~galhalo.errors.CatalogError`
naming the option.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CatalogError

__all__ = ["ingest_options", "parse_column_map"]


def parse_column_map(items: Sequence[str]) -> dict[str, str]:
    """``["stellar_mass=smass", ...]`` -> ``{"stellar_mass": "smass", ...}``.

    Raises:
        CatalogError: an item without ``=`` or with an empty side (all such named), or
            a source column renamed twice.
    """
    pairs = [item.split("=", 1) for item in items]
    bad = [item for item, pair in zip(items, pairs, strict=True)
           if len(pair) != 2 or not pair[0].strip() or not pair[1].strip()]
    if bad:
        raise CatalogError(f"--map takes SOURCE=TARGET, got {bad}")
    sources = [source.strip() for source, _ in pairs]
    twice = sorted({name for name in sources if sources.count(name) > 1})
    if twice:
        raise CatalogError(f"--map renames {', '.join(twice)} more than once")
    return {source.strip(): target.strip() for source, target in pairs}


def ingest_options(*, box: float | None = None, mapping: Sequence[str] | None = None,
                   redshift: float | None = None, mass_definition: str | None = None,
                   stellar_mass_min: float | None = None,
                   stellar_mass_field: str | None = None, sfr_floor: float | None = None,
                   formation_table: Path | None = None, sublink: Path | None = None,
                   snapshot_redshifts: Path | None = None) -> dict[str, Any]:
    """Keyword options of :func:`galhalo.io.ingest` from the command line's values.

    Options left at None are not passed (the reader's defaults apply); ``box`` becomes
    ``box_size`` (Mpc/h), ``mapping`` (``SOURCE=TARGET`` items) a rename dict, and
    ``sublink`` + ``snapshot_redshifts`` a :class:`~galhalo.io.SubLinkTrees`.

    Raises:
        CatalogError: a malformed ``--map`` item, or ``sublink`` without
            ``snapshot_redshifts``.
    """
    options = {key: value for key, value in {
        "box_size": box, "redshift": redshift, "mass_definition": mass_definition,
        "stellar_mass_min": stellar_mass_min, "stellar_mass_field": stellar_mass_field,
        "sfr_floor": sfr_floor, "formation_table": formation_table}.items()
        if value is not None}
    if mapping:
        options["mapping"] = parse_column_map(mapping)
    if sublink is not None:
        if snapshot_redshifts is None:
            raise CatalogError("--sublink needs --snapshot-redshifts")
        from .merger_trees import SubLinkTrees

        options["sublink"] = SubLinkTrees(sublink, snapshot_redshifts)
    return options
