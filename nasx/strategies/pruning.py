"""Deprecated: see :mod:`nasx.search.pruning`."""

from __future__ import annotations

from ..search.pruning import PruningSearch, SupernetSpace

__all__ = ["PruningSearch", "SupernetSpace"]
