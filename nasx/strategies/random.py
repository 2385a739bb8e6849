"""Deprecated: see :mod:`nasx.search.random`."""

from __future__ import annotations

from ..search.random import RandomSearch

__all__ = ["RandomSearch"]
