"""Parameter dictionaries of the synthetic universe's models (``to_dict`` / ``from_dict``)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ..errors import SimulationError

__all__ = ["check_parameter_names"]


def check_parameter_names(cls: type, params: dict[str, Any], what: str) -> None:
    """Refuse keys of ``params`` that are no field of the dataclass ``cls``.

    Raises:
        SimulationError: ``unknown <what> parameters: [...]`` (sorted).
    """
    unknown = set(params) - {f.name for f in fields(cls)}
    if unknown:
        raise SimulationError(f"unknown {what} parameters: {sorted(unknown)}")
