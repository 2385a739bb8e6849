"""NASWOT: log-determinant of the kernel of binary ReLU activation codes.

Paper: Mellor, Turner, Storkey & Crowley, "Neural Architecture Search without Training",
ICML 2021 (the second version of arXiv:2006.04647; the first version scored Jacobian
correlations instead). Reference implementation followed: ``BayesWatch/nas-without-training``,
``score_networks.py`` (hooks, ``--score hook_logdet``, batch 128) and ``scores.py``
(``hooklogdet``).

Definition. Feed a probe batch of ``N`` images through the untrained network. For every hooked
activation module ``m`` and sample ``i`` let ``c_i^m`` be the binary code ``[input > 0]`` of the
module's input (flattened over channels and positions). With ``A`` the concatenation of all codes::

    K[i, j] = c_i . c_j + (1 - c_i) . (1 - c_j)      (= N_A - Hamming(c_i, c_j))
    NASWOT  = log |det K|                             (float64 slogdet)

Higher is better.

Details that change results, all explicit:

* **Score version.** nasx implements the v2 (ICML 2021) score above, which is what the
  repository's ``score_networks.py`` computes today. The v1 score (still in
  ``naswot_scores.csv`` of the shared data) is a different quantity (eigenvalues of the
  correlation of input Jacobians) and is not reproduced.
* **Training mode.** The reference scores a freshly built network, which is in training mode:
  BatchNorm uses the statistics of the probe batch. nasx does the same (``train_mode=True``); an
  eval-mode variant would normalise with the initial running statistics (mean 0, variance 1)
  and gives different codes.
* **Which modules count** (``match``). The reference hooks every module whose *type name*
  contains ``"ReLU"`` (``'ReLU' in str(type(module))``). On NAS-Bench-201 this includes
  ``nn.ReLU`` and also the ``ReLUConvBN`` blocks, whose input is the same pre-activation tensor,
  so the codes of every conv op enter ``K`` twice. ``match="name"`` (the default) reproduces that
  rule; ``match="module"`` hooks only ``nn.ReLU`` modules (each unit once; NASLib's ``nwot``
  excludes its own ``ReLU*`` op classes for this reason). Functional ``relu`` calls are not seen.
* **Only modules on the path to the output.** The reference counts a module only when the
  backward pass reached it (``visited_backwards`` set by a backward hook during a first
  forward/backward pass with an input that requires grad). nasx runs one forward pass (input
  requiring grad) recording each module's codes and one backward pass of the summed logits, and
  keeps the modules whose output received a gradient.
  A module called several times counts all its calls (as in the reference).
* **Precision.** Per-call Gram matrices are computed in float32 (exact: entries are integers
  below 2^24 for any layer of fewer than 16M units) and accumulated in float64. A singular or
  numerically indefinite ``K`` (e.g. two identical images) gives ``-inf``: a recorded failure
  (the reference would return ``-inf`` or the log of ``|det|``).
* The batch is real images (CIFAR-10 in the paper, batch 128); labels are not used.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import ProxyError
from ._common import forward_hooks
from .base import ScoreContext, register_proxy

__all__ = ["naswot", "activation_kernel", "hooked_modules"]

PAPER = "Mellor et al., Neural Architecture Search without Training, ICML 2021 (v2 score)"


def hooked_modules(model: nn.Module, match: str = "name") -> list[nn.Module]:
    """The modules whose inputs' codes NASWOT uses (see ``match`` in the module docstring)."""
    if match == "name":
        return [m for m in model.modules() if "ReLU" in str(type(m))]
    if match == "module":
        return [m for m in model.modules() if isinstance(m, nn.ReLU)]
    raise ProxyError(f"unknown NASWOT match rule {match!r}; use 'name' or 'module'")


def activation_kernel(codes: torch.Tensor) -> torch.Tensor:
    """``K = c c^T + (1-c)(1-c)^T`` for binary codes ``c`` of shape ``(N, units)`` (float64)."""
    c = codes.float()
    k = c @ c.T + (1.0 - c) @ (1.0 - c).T
    return k.double()


def naswot(model: nn.Module, batch, ctx: ScoreContext, match: str = "name",
           train_mode: bool = True) -> float:
    """NASWOT (v2) score: ``logdet`` of the activation-code kernel (higher is better)."""
    modules = hooked_modules(model, match)
    if not modules:
        raise ProxyError(
            "NASWOT found no ReLU module in the model (functional relu calls are not hooked)"
        )
    n = int(batch.x.shape[0])
    if n < 2:
        raise ProxyError("NASWOT needs a probe batch of at least two images")
    per_module: dict[int, torch.Tensor] = {}
    reached: set[int] = set()

    def forward_hook(module: nn.Module, inputs: Any, output: Any) -> None:
        inp = inputs[0] if isinstance(inputs, tuple) else inputs
        if not isinstance(inp, torch.Tensor) or inp.shape[0] != n:
            return
        k = activation_kernel(inp.detach().reshape(n, -1) > 0)
        key = id(module)
        per_module[key] = per_module[key] + k if key in per_module else k
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(lambda g, key=key: reached.add(key))

    model.train(train_mode)
    with forward_hooks(modules, forward_hook), torch.enable_grad():
        # the input requires grad, as in the reference's Jacobian pass, so that a module
        # right after the input is reached too
        out = model(batch.x.detach().clone().requires_grad_(True))
        if isinstance(out, (tuple, list)):
            out = out[-1]
        if out.requires_grad:
            out.sum().backward()
            model.zero_grad(set_to_none=True)
        else:  # nothing to differentiate: every hooked module counts
            reached.update(per_module)
    keys = [k for k in per_module if k in reached]
    if not keys:
        raise ProxyError("NASWOT: no hooked module lies on the path to the network output")
    kernel = sum((per_module[k] for k in keys[1:]), per_module[keys[0]])
    sign, logdet = torch.linalg.slogdet(kernel.cpu())
    if sign.item() <= 0:
        return -math.inf
    return float(logdet)


register_proxy(
    "naswot", naswot,
    higher_is_better=True,
    batch_split="invariant",
    needs=("data",),
    paper=PAPER,
    description="Log-determinant of the Hamming kernel of binary ReLU codes on a probe batch.",
)
