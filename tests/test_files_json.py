"""galhalo.files.to_jsonable: the nan_as_none option (undefined scores as null)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from galhalo.files import to_jsonable


def test_nan_as_none_turns_undefined_values_into_null_at_any_depth():
    value = {"f1": np.float64("nan"), "bins": [(1.0, np.inf), np.array([0.5, -np.inf])],
             "n": np.int64(3), "ok": np.float32(0.25)}
    out = to_jsonable(value, nan_as_none=True)
    assert out == {"f1": None, "bins": [[1.0, None], [0.5, None]], "n": 3, "ok": 0.25}
    json.dumps(out, allow_nan=False)  # strict JSON
    # without the option NaN is refused, naming where it sits
    with pytest.raises(ValueError, match=r"value\['f1'\] is nan"):
        to_jsonable(value)
