"""How the report's tables and the command line's tables print a number.

No plotting imports, so the command line can use it without loading matplotlib.
"""

from __future__ import annotations

import numpy as np

__all__ = ["format_value"]


def format_value(value: object) -> str:
    """A number as the tables show it: floats to 4 significant digits, ``–`` for None,
    NaN or inf, anything else (integers, text) as ``str`` (not escaped)."""
    if value is None:
        return "–"
    if isinstance(value, float | np.floating):
        return f"{value:.4g}" if np.isfinite(value) else "–"
    return str(value)
