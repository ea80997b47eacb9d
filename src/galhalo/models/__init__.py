"""Conditional density models behind one interface (see ``base``)."""

from ..errors import ModelError
from .interface import ConditionalModel
from .registry import FAMILIES, load_model, model_family

__all__ = ["FAMILIES", "ConditionalModel", "ModelError", "load_model", "model_family"]
