"""Named galaxy-truth presets of the synthetic universe.

* ``classic``: ``truth.TruthModel``, the two-component Gaussian mixture (every
  catalog made before presets existed; its parameter dict has no ``preset`` key);
* ``tng_hard``: ``hard_truth.HardTruthModel``, four populations pushed through
  monotone bijections (a red ceiling, an sSFR floor, mass-dependent skewness and
  tails): as hard as TNG300 where TNG300 is hard (docs/truth_model.md §7).

The registry names classes as ``"module:Class"`` strings, so this module imports no
model (the models import it to resolve a stored ``preset``).
"""

from __future__ import annotations

import importlib

from ..errors import SimulationError

__all__ = ["CLASSIC", "DEFAULT_PRESET", "GALAXY_PRESETS", "preset_class", "preset_truth"]

CLASSIC = "classic"
GALAXY_PRESETS: dict[str, str] = {
    CLASSIC: "galhalo.sim.truth:TruthModel",
    "tng_hard": "galhalo.sim.hard_truth:HardTruthModel",
}
#: The preset of ``galhalo simulate`` / ``UniverseConfig`` when none is named: switch the
#: default universe here (one line).
DEFAULT_PRESET = "tng_hard"


def preset_class(name: str) -> type:
    """The truth-model class of preset ``name``.

    Raises:
        SimulationError: unknown name (the message lists the known ones).
    """
    if not isinstance(name, str) or name not in GALAXY_PRESETS:
        raise SimulationError(f"unknown galaxy preset {name!r}; known: "
                              f"{', '.join(GALAXY_PRESETS)}")
    module, _, cls = GALAXY_PRESETS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def preset_truth(name: str | None = None):
    """The default truth model (a ``TruthModel``) of preset ``name`` (None:
    :data:`DEFAULT_PRESET`)."""
    return preset_class(DEFAULT_PRESET if name is None else name)()
