"""galhalo: learn the stochastic galaxy-halo connection, and score it against a known truth.

The Python API mirrors the command line: ``galhalo.simulate(...)`` is ``galhalo
simulate``, ``galhalo.read_catalog(path)`` reads what any command writes.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# name -> module; imported on first use so that `import galhalo` stays light.
_LAZY = {
    "Catalog": "galhalo.catalog",
    "CatalogError": "galhalo.catalog",
    "CatalogMeta": "galhalo.catalog",
    "read_catalog": "galhalo.catalog",
    "write_catalog": "galhalo.catalog",
    "ingest": "galhalo.ingest",
    "simulate": "galhalo.sim.universe",
    "simulate_halos": "galhalo.sim.universe",
    "run_demo": "galhalo.demo",
    "UniverseConfig": "galhalo.sim.universe",
    "TruthModel": "galhalo.sim.truth",
    "HardTruthModel": "galhalo.sim.hard_truth",
    "HaloModel": "galhalo.sim.halos",
    "Cosmology": "galhalo.sim.cosmology",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'galhalo' has no attribute {name!r}")
