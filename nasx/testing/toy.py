"""A toy search space with a known optimum, for tests of strategies, the engine and plugins.

``ToySpace`` ("toy"): an architecture is a tuple of ``length`` digits in ``0..choices-1``
(notation ``"0-3-1-2"``). Its networks are tiny conv nets (8x8 inputs) whose layer widths follow
the digits, so proxies see real, distinct networks. :func:`toy_fitness` is a known objective with
its optimum at ``(choices-1, ..., choices-1)``; the ``toy-oracle`` proxy returns it, so a search
with it has a known answer. Importing :mod:`nasx.testing` registers both.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..arch import Arch
from ..errors import InvalidArchError
from ..spaces.base import SearchSpace

__all__ = ["ToySpace", "toy_fitness"]


def toy_fitness(digits: tuple[int, ...], choices: int) -> float:
    """Known objective: larger digits are better, with a small interaction term; the optimum is
    all digits at ``choices - 1``."""
    d = np.asarray(digits, dtype=float)
    return float(d.sum() + 0.1 * np.sum(d[:-1] * d[1:]) / max(1, choices))


class ToySpace(SearchSpace):
    """Tuples of digits; tiny conv nets whose widths follow the digits (8x8 inputs)."""

    name = "toy"
    input_shape = (3, 8, 8)
    options = {
        "length": (int, 4, "number of digits"),
        "choices": (int, 3, "values per digit"),
    }

    def _make(self, digits: tuple[int, ...]) -> Arch:
        text = "-".join(str(d) for d in digits)
        return Arch(self.name, text, text, spec=tuple(digits))

    def parse(self, text: str) -> Arch:
        parts = str(text).strip().split("-")
        n, c = self.opts["length"], self.opts["choices"]
        try:
            digits = tuple(int(p) for p in parts)
        except ValueError:
            raise InvalidArchError(
                f"toy arch {text!r}: expected {n} digits joined by '-'"
            ) from None
        if len(digits) != n or any(not 0 <= d < c for d in digits):
            raise InvalidArchError(f"toy arch {text!r}: expected {n} digits in 0..{c - 1}")
        return self._make(digits)

    def sample(self, rng: np.random.Generator) -> Arch:
        n, c = self.opts["length"], self.opts["choices"]
        return self._make(tuple(int(v) for v in rng.integers(0, c, size=n)))

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        digits = list(arch.spec)
        i = int(rng.integers(len(digits)))
        new = int(rng.integers(self.opts["choices"] - 1))
        digits[i] = new if new < digits[i] else new + 1
        return self._make(tuple(digits))

    def neighbors(self, arch: Arch) -> list[Arch]:
        out = []
        for i, d in enumerate(arch.spec):
            for v in range(self.opts["choices"]):
                if v != d:
                    digits = list(arch.spec)
                    digits[i] = v
                    out.append(self._make(tuple(digits)))
        return out

    def size(self) -> int:
        return int(self.opts["choices"] ** self.opts["length"])

    def enumerate(self) -> Iterator[Arch]:
        for digits in itertools.product(range(self.opts["choices"]), repeat=self.opts["length"]):
            yield self._make(tuple(digits))

    def build(self, arch: Arch, num_classes: int) -> Any:
        from torch import nn

        layers: list[nn.Module] = []
        c_in = 3
        for d in arch.spec:
            c_out = 4 * (int(d) + 1)
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU()]
            c_in = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
        return nn.Sequential(*layers)

    def fitness(self, arch: Arch) -> float:
        return toy_fitness(tuple(arch.spec), self.opts["choices"])
