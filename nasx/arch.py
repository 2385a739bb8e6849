"""Architectures as frozen, hashable values.

An :class:`Arch` is the space name plus a canonical, hashable description of the cell(s). Two
architectures are equal when their space and canonical ``key`` are equal (for NAS-Bench-101 the
key is the isomorphism-invariant hash, so isomorphic cells are one architecture). ``str(arch)`` is
the space's native notation, and ``space.parse(str(arch)) == arch``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Arch"]


@dataclass(frozen=True)
class Arch:
    """One architecture of one search space.

    Attributes:
        space: registered name of the space (``"nasbench201"``).
        key: canonical identity string used for equality, hashing and as the store key.
        text: the space's native notation (what ``str()`` returns).
        spec: hashable structured description the space builds networks from (tuples only).
        meta: optional hashable extras (e.g. width/depth of an NDS model); part of identity
            only through ``key``.

    Example:
        >>> from nasx.spaces.nasbench201 import NASBench201
        >>> space = NASBench201()
        >>> a = space.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|")
        >>> space.parse(str(a)) == a
        True
    """

    space: str
    key: str
    text: str
    spec: Hashable = field(compare=False, repr=False)
    meta: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        return self.text

    def __hash__(self) -> int:
        return hash((self.space, self.key))
