"""Load a script of benchmarks/ as a module in a test (the directory is not a package;
its scripts import each other by name, so it goes on ``sys.path`` first)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_benchmark(file: str, name: str) -> ModuleType:
    """benchmarks/``file`` as a module called ``name`` (unique per test module)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / file)
    module = importlib.util.module_from_spec(spec)
    # registered while it runs, as an import would (a dataclass looks its module up by
    # name when its class is created), then forgotten: loaded from its file, not imported
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module
