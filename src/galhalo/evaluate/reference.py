"""Which model a scoring request names: a model directory, a fitted model, or ``"truth"``.

``"truth"`` names the catalog's own truth model (synthetic catalogs carry it in their
metadata): scored like any model, it sits at the noise floor. :func:`resolve_model` is
the one place that resolves it, for ``galhalo evaluate | compare | report`` and for
:func:`galhalo.report.build.build_report` alike.
"""

from __future__ import annotations

import os
from typing import Any

from ..catalog import Catalog
from ..errors import EvaluationError
from .run import as_model

__all__ = ["TRUTH_SPEC", "resolve_model"]

#: The spec that names the catalog's own truth model.
TRUTH_SPEC = "truth"


def resolve_model(spec: Any, catalog: Catalog) -> tuple[Any, str]:
    """The model ``spec`` names, ready to score on ``catalog``, and where it came from.

    Args:
        spec: ``"truth"`` (the catalog's truth model), a model directory (``str`` or
            path, read with :func:`galhalo.models.load_model`), or a fitted model
            object (a conditional model, or a ``TruthModel``).
        catalog: the catalog the model will be scored on (its metadata hold the truth).

    Returns:
        (the model, wrapped by :func:`galhalo.evaluate.run.as_model`; a description:
        ``"the catalog's truth model"``, the directory, or the object's type name).

    Raises:
        EvaluationError: ``"truth"`` for a catalog without a truth model, or an object
            that is not a fitted conditional model.
        ModelError: a directory that holds no readable model.
    """
    if isinstance(spec, str) and spec == TRUTH_SPEC:
        if catalog.meta.truth is None:
            raise EvaluationError("'truth' names the catalog's own truth model, but this "
                                  "catalog carries none (only synthetic catalogs do)")
        from ..sim.truth import TruthModel

        return as_model(TruthModel.from_dict(catalog.meta.truth)), "the catalog's truth model"
    if isinstance(spec, str | os.PathLike):
        from ..models import load_model

        return as_model(load_model(spec)), str(spec)
    return as_model(spec), type(spec).__name__
