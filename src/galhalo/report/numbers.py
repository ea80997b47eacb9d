"""How galhalo prints a number, in one place: table cells of the HTML report and the
command line (:func:`format_value`, 4 significant digits) and the compact score tables
of the terminal (:func:`format_number`, 3 significant digits).

No plotting imports, so the command line can use it without loading matplotlib.
"""

from __future__ import annotations

import numpy as np

__all__ = ["format_number", "format_value"]


def format_value(value: object) -> str:
    """A number as the tables show it: floats to 4 significant digits, ``–`` for None,
    NaN or inf, anything else (integers, text) as ``str`` (not escaped)."""
    if value is None:
        return "–"
    if isinstance(value, float | np.floating):
        return f"{value:.4g}" if np.isfinite(value) else "–"
    return str(value)


def format_number(value: object) -> str:
    """Three significant digits below 100 (``0.112``, ``1.38``), whole numbers above
    (``177``), ``0.000`` for rounding noise below 5e-4, ``–`` for NaN/inf; anything that
    is not a float as ``str``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, float | np.floating):
        return str(value)
    if not np.isfinite(value):
        return "–"
    if abs(value) < 5e-4:
        return "0.000"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
