"""Deprecated: see :mod:`nasx.search.base`."""

from __future__ import annotations

from ..search.base import Strategy, ask_width, told_fitness

__all__ = ["Strategy", "ask_width", "told_fitness"]
