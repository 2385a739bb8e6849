"""JSON-ready values: non-finite floats become null, numpy scalars Python numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["json_clean"]


def json_clean(x: Any) -> Any:
    """``x`` with NaN/inf replaced by None, mappings and sequences cleaned recursively, and
    numpy scalars turned into Python numbers (so ``json.dumps`` writes valid JSON)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Mapping):
        return {k: json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_clean(v) for v in x]
    item = getattr(x, "item", None)
    if callable(item) and type(x).__module__ == "numpy":
        return json_clean(item())
    return x
