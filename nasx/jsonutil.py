"""JSON-ready values: kept as the import path of :func:`json_clean`, which lives in
:mod:`nasx.records` with the other record rules."""

from __future__ import annotations

from .records import json_clean

__all__ = ["json_clean"]
