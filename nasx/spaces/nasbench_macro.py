"""The NAS-Bench-Macro search space.

NAS-Bench-Macro (Su, Huang, Wang, Qian, Zhang & Xu, "Prioritized Architecture Sampling with
Monto-Carlo Tree Search", CVPR 2021) is a macro space of 8 searched layers on CIFAR-10, each
layer one of 3 choices, so ``3**8 = 6,561`` networks, all trained for the benchmark.

Notation is the benchmark's 8-digit code, one digit per layer in network order, e.g.
``01201201``:

* ``0``: identity; where the layer changes the shape, a strided ``Conv1x1 + BN`` instead;
* ``1``: inverted residual, kernel 3, expansion 3;
* ``2``: inverted residual, kernel 5, expansion 6.

An inverted residual is ``Conv1x1-BN-ReLU`` (to ``expansion * C_in`` channels), a depthwise
``Conv kxk (stride)-BN-ReLU``, then ``Conv1x1-BN``, with the input added where input and output
shapes match. Convolutions have no bias. The network (the reference implementation,
``xiusu/NAS-Bench-Macro`` ``train/model.py``, read for the structure): a ``Conv3x3(3, 32)-BN-ReLU``
stem at full resolution; three stages of 2, 3 and 3 layers with 64, 128 and 256 channels, the
first layer of each stage with stride 2; ``Conv1x1(1280)-BN-ReLU``, global average pooling and a
``Linear`` classifier. With 10 classes the parameter counts are the benchmark's (``00000000``:
387,882; ``22222222``: 2,932,586; checked in the tests).

Codes are enumerated in numeric order (``00000000`` first, ``22222222`` last);
:meth:`NASBenchMacro.index_of` is the position of a code in that order (its base-3 value).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arch import Arch
from ..errors import ConfigError, InvalidArchError
from .base import SearchSpace, register_space

if TYPE_CHECKING:
    from torch import nn

__all__ = ["CHOICES", "LAYERS", "STAGES", "NUM_ARCHS", "NASBenchMacro"]

#: the choices of one layer, by digit
CHOICES: tuple[str, ...] = ("identity", "ir_k3_e3", "ir_k5_e6")
#: searched layers per stage
STAGES: tuple[int, ...] = (2, 3, 3)
#: number of searched layers
LAYERS: int = sum(STAGES)
#: number of architectures
NUM_ARCHS: int = len(CHOICES) ** LAYERS
_STEM = 32
_FORMAT_HINT = (f"expected the benchmark's code: {LAYERS} digits, one per layer, each 0 "
                "(identity), 1 (inverted residual k3 e3) or 2 (inverted residual k5 e6), e.g. "
                "'01201201'")


@register_space("nasbench-macro")
class NASBenchMacro(SearchSpace):
    """NAS-Bench-Macro: 8 layers, each identity or one of two inverted residuals (6,561 nets).

    Options:
        input_size: height and width of the input images (32 for CIFAR-10); a multiple of 8.

    Example:
        >>> import numpy as np
        >>> space = NASBenchMacro()
        >>> a = space.parse("01201201")
        >>> a.spec, space.parse(str(a)) == a, space.size()
        ((0, 1, 2, 0, 1, 2, 0, 1), True, 6561)
        >>> b = space.mutate(a, np.random.default_rng(0))
        >>> sum(x != y for x, y in zip(a.spec, b.spec))
        1
    """

    name = "nasbench-macro"
    options: dict[str, tuple[type, Any, str]] = {  # noqa: RUF012 (declared so by the base)
        "input_size": (int, 32, "height and width of the input images (a multiple of 8)"),
    }

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        size = self.opts["input_size"]
        if size < 8 or size % 8:
            raise ConfigError(f"{self.name}: option input_size must be a positive multiple of 8 "
                              f"(three stride-2 stages), got {size}")
        self.input_shape = (3, size, size)

    # -- notation -----------------------------------------------------------------------------
    def _arch(self, digits: tuple[int, ...]) -> Arch:
        text = "".join(map(str, digits))
        return Arch(space=self.name, key=text, text=text, spec=digits)

    def parse(self, text: str) -> Arch:
        """Parse an 8-digit code (surrounding whitespace allowed).

        Raises:
            InvalidArchError: not 8 digits in 0..2; the message gives the expected format.
        """
        if isinstance(text, Arch):
            text = text.text
        if not isinstance(text, str):
            raise InvalidArchError(f"a NAS-Bench-Macro architecture is its code string, got "
                                   f"{type(text).__name__}; {_FORMAT_HINT}")
        code = text.strip()
        if len(code) != LAYERS or any(c not in "012" for c in code):
            raise InvalidArchError(f"invalid NAS-Bench-Macro code {text!r}; {_FORMAT_HINT}")
        return self._arch(tuple(int(c) for c in code))

    def _digits(self, arch: Arch) -> tuple[int, ...]:
        arch = self.check(arch)
        spec = arch.spec
        if isinstance(spec, tuple) and "".join(map(str, spec)) == arch.key:
            return spec
        return self.parse(arch.text).spec  # an Arch made by hand

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """Each layer's choice drawn uniformly and independently."""
        return self._arch(tuple(int(d) for d in rng.integers(0, len(CHOICES), size=LAYERS)))

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """One uniformly chosen layer given a uniformly chosen different choice."""
        digits = list(self._digits(arch))
        i = int(rng.integers(LAYERS))
        new = int(rng.integers(len(CHOICES) - 1))
        digits[i] = new if new < digits[i] else new + 1
        return self._arch(tuple(digits))

    def neighbors(self, arch: Arch) -> list[Arch]:
        """The 16 codes that differ from ``arch`` in one layer (layer-major, digit order)."""
        digits = self._digits(arch)
        return [self._arch(digits[:i] + (d,) + digits[i + 1:])
                for i in range(LAYERS) for d in range(len(CHOICES)) if d != digits[i]]

    def size(self) -> int:
        return NUM_ARCHS

    def enumerate(self) -> Iterator[Arch]:
        """All 6,561 codes in numeric order."""
        for digits in itertools.product(range(len(CHOICES)), repeat=LAYERS):
            yield self._arch(digits)

    def index_of(self, arch: Arch | str) -> int:
        """Position of ``arch`` in :meth:`enumerate` order (the code read in base 3)."""
        digits = self._digits(arch if isinstance(arch, Arch) else self.parse(arch))
        return int("".join(map(str, digits)), len(CHOICES))

    # -- networks -----------------------------------------------------------------------------
    def build(self, arch: Arch, num_classes: int) -> nn.Module:
        """The benchmark's network for ``arch``, freshly initialised (the caller seeds torch)."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive int, got {num_classes!r}")
        from ._macro_net import MacroNetwork

        return MacroNetwork(self._digits(arch), STAGES, _STEM, num_classes)
