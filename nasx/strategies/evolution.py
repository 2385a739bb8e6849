"""Deprecated: see :mod:`nasx.search.evolution`."""

from __future__ import annotations

from ..search.evolution import RegularizedEvolution

__all__ = ["RegularizedEvolution"]
