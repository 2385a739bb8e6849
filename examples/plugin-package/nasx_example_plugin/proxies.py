"""An example proxy shipped by a third-party package.

``weight-sign-balance``: the mean over Conv2d/Linear layers of ``1 - |mean(sign(W))|``, i.e. how
evenly the signs of each layer's initial weights are balanced. Data-free; a demonstration of the
plugin mechanism, not a proxy to rank architectures with.
"""

from __future__ import annotations

import torch
from torch import nn

import nasx


@nasx.register_proxy(
    "weight-sign-balance",
    higher_is_better=True,
    needs=["none"],
    paper="(example plugin)",
)
def weight_sign_balance(model: nn.Module, batch, ctx) -> float:
    vals = [
        1.0 - abs(float(torch.sign(m.weight.detach()).mean()))
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    return sum(vals) / len(vals) if vals else float("nan")
