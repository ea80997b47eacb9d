"""Moved to :mod:`galhalo.populate.manifest`; re-exported for old imports."""

from .populate.manifest import (
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    Manifest,
    PartRecord,
    PopulateError,
    file_sha256,
    model_hash,
    part_description,
    verify_part,
)

__all__ = [
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "Manifest",
    "PartRecord",
    "PopulateError",
    "file_sha256",
    "model_hash",
    "part_description",
    "verify_part",
]
