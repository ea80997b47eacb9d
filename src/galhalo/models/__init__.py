"""Conditional density models behind one interface (see ``base``)."""

from .base import (
    FAMILIES,
    ConditionalModel,
    ModelError,
    load_model,
    model_family,
)

__all__ = ["FAMILIES", "ConditionalModel", "ModelError", "load_model", "model_family"]
