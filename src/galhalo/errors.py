"""Every error galhalo raises for input it cannot use, in one module.

:class:`GalhaloError` is the one notion of *bad input* in the package: the command
line prints any subclass as one line and exits with code 2. Anything else that
escapes a command is a bug in galhalo and is reported as one (exit code 1, with a
hint to rerun with ``--debug`` for the traceback).

``GalhaloError`` subclasses :class:`ValueError`, so code that caught ``ValueError``
before keeps working. :class:`OutputPathError` is also an :class:`OSError`, so
``except OSError`` catches an output path that cannot be written.

Each subclass stays importable from the module that raised it before this module
existed (``from galhalo.catalog import CatalogError`` still works).
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "ClusteringError",
    "CosmoError",
    "EvaluationError",
    "FoFError",
    "GalhaloError",
    "HiValError",
    "ModelError",
    "OutputPathError",
    "ParticleMeshError",
    "PhotometryError",
    "PopulateError",
    "ReportError",
    "ScenarioError",
    "SimulationError",
    "SmognError",
    "SuiteError",
    "one_line",
]


class GalhaloError(ValueError):
    """Input galhalo cannot use; the message names the column, row, file or argument."""


class OutputPathError(GalhaloError, OSError):
    """An output path cannot be written (missing or read-only directory, wrong kind).

    Also an :class:`OSError`, so ``except OSError`` in callers catches it.
    """


class CatalogError(GalhaloError):
    """A catalog (table, metadata or file) is invalid or unreadable.

    The message names the offending column or file and, for value problems, how many
    rows are affected.
    """


class ModelError(GalhaloError):
    """A model cannot be built, trained, loaded or applied to this input."""


class HiValError(ModelError):
    """HiVAl cannot run on this input, or a saved hierarchy is unreadable."""


class SmognError(GalhaloError):
    """Bad input to SMOGN (table, column, parameter or control points); the message says which."""


class EvaluationError(GalhaloError):
    """Input an evaluation cannot use: wrong shapes, NaN/inf, too few rows, bad names."""


class ScenarioError(EvaluationError):
    """A selection is malformed, names an unknown or missing column, or selects too few rows."""


class ClusteringError(GalhaloError):
    """Invalid input to a clustering measurement (positions, box, bins, populations).

    The message names the offending argument or population and what is wrong with it.
    """


class PopulateError(GalhaloError):
    """A populate run cannot start or finish: bad input, an incompatible output
    directory, or a part that failed (the message names the file or the part)."""


class CosmoError(GalhaloError):
    """Bad input to the cosmology graphs, systematics, GNN or metrics; the message names
    the argument or column and what is wrong."""


class PhotometryError(GalhaloError):
    """Bad input to the survey photometry: a filter or depth file (non-positive or
    unsorted wavelengths, a filter without depth), a source outside a template's
    wavelength range, a catalog without the columns a source model needs, or a survey
    classifier applied to the wrong bands; the message names the file, filter or column."""


class ReportError(GalhaloError):
    """Input a report figure or the report cannot use: missing columns, empty samples,
    NaN/inf, unknown scenarios or results without the needed entries."""


class SimulationError(GalhaloError):
    """Bad settings of a synthetic universe, its halo model or its galaxy (truth) model,
    or halos the truth model cannot use; the message names the setting or column."""


class FoFError(SimulationError):
    """Bad input of the FoF finder (the message names the argument)."""


class ParticleMeshError(SimulationError):
    """Bad settings of the particle-mesh code (the message names the setting)."""


class SuiteError(SimulationError):
    """Bad suite settings, parameters or directory (the message names the problem)."""


def one_line(message: object) -> str:
    """``message`` (an exception or text) on one line: every run of whitespace, line
    breaks included, becomes one space. Library errors often span several lines."""
    return " ".join(str(message).split())
