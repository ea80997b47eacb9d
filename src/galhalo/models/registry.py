"""The registry of model families: family name -> model class.

The families shipped with galhalo are named in :data:`FAMILY_PATHS` as
``"module:Class"`` strings and imported on first use, so this module (and
``models.base``, which re-exports it) imports no family: the families import the base,
never the other way round. A family defined elsewhere (a plugin, a test) joins with the
:func:`register` class decorator. Adding a family to galhalo is one file in
``models/`` plus one line in :data:`FAMILY_PATHS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelError
from .store import read_config

if TYPE_CHECKING:
    from .interface import ConditionalModel

#: The families shipped with galhalo: name -> "module:Class" (imported when first used).
FAMILY_PATHS: dict[str, str] = {
    "gauss": "galhalo.models.gauss:GaussModel",
    "flow": "galhalo.models.flow:FlowModel",
    "flow_rodrigues25": "galhalo.models.published_flow:PublishedFlowModel",
    "nnclass": "galhalo.models.classifier:ClassifierModel",
    "knn": "galhalo.models.regression.families:KNNModel",
    "extra_trees": "galhalo.models.regression.families:ExtraTreesModel",
    "lightgbm": "galhalo.models.regression.families:LightGBMModel",
    "mlp_regression": "galhalo.models.regression.families:MLPRegressionModel",
    "stacked": "galhalo.models.regression.families:StackedModel",
    "hod": "galhalo.models.hod:HODModel",
    "nfw": "galhalo.models.nfw:NFWModel",
    "occupation": "galhalo.models.occupation:OccupationModel",
}


class FamilyTable(Mapping):
    """Read-only mapping family name -> class over :data:`FAMILY_PATHS` and the
    classes passed to :func:`register`; a shipped family's module is imported the first
    time its name is looked up."""

    def __init__(self) -> None:
        self.registered: dict[str, type[ConditionalModel]] = {}

    def __getitem__(self, name: str) -> type[ConditionalModel]:
        if name not in self.registered and name in FAMILY_PATHS:
            module, attribute = FAMILY_PATHS[name].split(":")
            cls = getattr(importlib.import_module(module), attribute)
            self.registered.setdefault(name, cls)
        return self.registered[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(set(FAMILY_PATHS) | set(self.registered)))

    def __len__(self) -> int:
        return len(set(FAMILY_PATHS) | set(self.registered))

    def __contains__(self, name: object) -> bool:
        return name in FAMILY_PATHS or name in self.registered


#: Every known family, by name (see :class:`FamilyTable`).
FAMILIES = FamilyTable()


def register(cls: type[ConditionalModel]) -> type[ConditionalModel]:
    """Class decorator: make a family available by its ``family`` name."""
    FAMILIES.registered[cls.family] = cls
    return cls


def model_family(name: str) -> type[ConditionalModel]:
    """The model class registered as ``name``; a clear error listing the known names."""
    if name not in FAMILIES:
        raise ModelError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def load_model(directory: str | Path) -> ConditionalModel:
    """Load any saved model: the family is read from its ``config.json``."""
    return model_family(read_config(Path(directory))["family"]).load(directory)
