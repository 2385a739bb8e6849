"""Testing helpers for nasx and for plugin authors.

* :mod:`nasx.testing.toy`: a toy space with a known optimum and an oracle proxy;
* :mod:`nasx.testing.contracts`: contract checks to run on your own spaces and proxies
  (``check_space``, ``check_proxy``).

Importing this module registers the ``toy`` space and the ``toy-oracle`` proxy.
"""

from __future__ import annotations

from ..registry import proxies as _proxies
from ..registry import spaces as _spaces
from ..spaces.base import register_space
from .contracts import check_proxy, check_space
from .toy import ToySpace, toy_fitness

__all__ = ["ToySpace", "toy_fitness", "check_space", "check_proxy"]

if not _spaces.registered("toy"):
    register_space("toy")(ToySpace)

if not _proxies.registered("toy-oracle"):
    from ..proxies.base import register_proxy

    def _oracle(model, batch, ctx):
        """Known fitness of a toy architecture (read from the model's conv widths)."""
        import torch.nn as nn

        widths = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
        digits = tuple(w // 4 - 1 for w in widths)
        choices = ctx.space.opts["choices"] if ctx.space is not None else max(digits) + 1
        return toy_fitness(digits, choices)

    register_proxy("toy-oracle", higher_is_better=True, needs=("none",),
                   paper="(test oracle)")(_oracle)
