"""SWAP: the number of distinct sample-wise activation patterns.

Paper: Peng, Song, Fayek, Ciesielski & Chang, "SWAP-NAS: Sample-Wise Activation Patterns for
Ultra-fast NAS", ICLR 2024. Reference implementation followed: ``pym1024/SWAP``,
``src/metrics/swap.py`` (``SWAP``, ``SampleWiseActivationPatterns``) driven as in
``correlation.py`` (``--input_samples 16 --repeats 32``, weights re-drawn by
``network_weight_gaussian_init`` before every repeat).

Definition. Feed the probe batch of ``N`` images through the untrained network (training mode,
no gradients). Collect the *output* of every ``nn.ReLU`` module call whose input is 4-D,
flatten each per sample and concatenate them in call order into ``A`` of shape ``(N, units)``.
Each unit ``u`` has the sample-wise pattern ``s_u = sign(A[:, u])`` (a vector of ``N`` values in
{0, 1} after a ReLU). Then::

    SWAP_once = number of distinct patterns s_u over all units
    SWAP      = mean of SWAP_once over ``repeats`` independent weight draws

Higher is better: the paper's orientation, confirmed on NAS-Bench-201 (raw Spearman rho
0.835 against ``cifar10_test`` on 100 cells, C=8, N=1, seed 0;
``benchmarks/results/crosscheck_zico_meco_swap_truth.json``; 0.883 on 50 cells of the full
C=16, N=5 network, ``crosscheck_zico_meco_swap_truth_c16n5.json``).

Details that change results, all explicit:

* **Weights** (``init="gaussian"``, default, as ``correlation.py``): before each repeat every
  Conv2d/Linear weight is drawn from N(0, 1), their biases set to 0, and BatchNorm/GroupNorm
  weights set to 1 and biases to 0 (``network_weight_gaussian_init``). The draws come from
  ``ctx.generator`` in ``model.modules()`` order, so a score is reproducible for a seed; the
  reference draws from the global generator and (through ``nn.Module.apply``) re-initialises
  each module several times, keeping the last draw: the same distribution, a different stream.
  ``init="none"`` scores the network's own initial weights (``repeats`` must then be 1).
* **Repeats**: ``repeats=32`` as the reference's default; the score is the mean.
* **Samples** (``samples=16``, default, as the reference's ``--input_samples 16``): patterns are
  over ``samples`` images of the probe batch, the ones at the evenly spaced positions
  ``round(i * (N - 1) / (samples - 1))``, ``i = 0 .. samples-1`` (so a class-ordered batch gives
  images of every class), or over the whole batch when it has ``samples`` images or fewer, or
  when ``samples=None``. The value depends on the number of images (at most ``3^n`` patterns)
  and a network's cost grows with it: at 128 images one NB201 cell costs about 30x more.
* **BatchNorm** in training mode (batch statistics), as the reference's freshly built network.
* **Which modules**: ``nn.ReLU`` instances only (functional ``relu`` is not seen), hooked on
  their output, each call counted; calls whose input is not 4-D (e.g. after pooling) are
  skipped, as the reference's hook. Units that repeat a pattern (the same ReLU output used by
  several edges) do not change the count.
* **Regularisation** (the paper's "regularised SWAP"): with ``mu`` and ``sigma`` given, each
  ``SWAP_once`` is multiplied by ``exp(-(P - mu)^2 / sigma)`` where ``P`` is the parameter count
  in thousands (all parameters whose name does not contain ``auxiliary``). Off by default
  (the paper tunes ``mu``/``sigma`` per space; the reference's ``correlation.py`` does not use it).
* **Counting**: each unit's sign vector (digits -1/0/1 -> 0/1/2) is encoded exactly as
  base-3 integers: one int64 code when ``n <= 39`` (``3^39 < 2^63``) and one ``torch.unique``;
  otherwise one float64 word per 33 samples (``3^33 < 2^53``: every partial sum of the product
  that forms a word is an integer below ``2^53``, so it is exact in float64) and the distinct
  rows of words are counted after one lexicographic sort. Both count exactly the distinct rows
  that the reference's ``torch.unique(dim=0)`` on the sign matrix counts.
* A forward pass that reaches no ReLU on a 4-D input is an error (``ProxyError``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ProxyError
from ._common import forward_hooks, gaussian_init
from .base import ScoreContext, register_proxy

__all__ = ["swap", "count_patterns", "gaussian_init", "sample_positions", "swap_once"]

PAPER = ("Peng et al., SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS, "
         "ICLR 2024")

#: largest batch whose base-3 pattern codes fit in an int64 (3^39 < 2^63)
_MAX_CODED = 39
#: samples per float64 word when the codes need several words (3^33 < 2^53)
_WORD = 33


def count_patterns(activations: torch.Tensor) -> int:
    """Number of distinct columns of ``sign(activations)`` (``activations``: samples x units)."""
    s = torch.sign(activations.detach())
    n = int(s.shape[0])
    if n <= _MAX_CODED:
        digits = (s + 1).to(torch.int64)  # -1, 0, 1 -> 0, 1, 2
        weights = 3 ** torch.arange(n, dtype=torch.int64, device=s.device)
        codes = (digits * weights[:, None]).sum(0)
        return int(torch.unique(codes).numel())
    k = -(-n // _WORD)
    weights = torch.zeros(n, k, dtype=torch.float64, device=s.device)
    rows = torch.arange(n, device=s.device)
    weights[rows, rows // _WORD] = 3.0 ** (rows % _WORD).to(torch.float64)
    words = ((s + 1).to(torch.float64).T @ weights).cpu().numpy()  # units x k, exact integers
    if words.shape[0] == 0:
        return 0
    ordered = words[np.lexsort(words.T[::-1])]
    return 1 + int(np.count_nonzero((ordered[1:] != ordered[:-1]).any(axis=1)))


def param_thousands(model: nn.Module) -> float:
    """Parameter count in thousands, leaving out names containing ``auxiliary``."""
    return sum(p.numel() for n, p in model.named_parameters() if "auxiliary" not in n) / 1e3


def swap_once(model: nn.Module, x: torch.Tensor) -> int:
    """Distinct sample-wise patterns of the ReLU outputs of one forward pass of ``x``."""
    feats: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        if isinstance(inputs, tuple) and inputs and isinstance(inputs[0], torch.Tensor) \
                and inputs[0].dim() == 4:
            feats.append(output.detach().reshape(x.shape[0], -1))

    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ProxyError("SWAP found no nn.ReLU module in the model")
    with forward_hooks(relus, hook), torch.no_grad():
        model(x)
    if not feats:
        raise ProxyError("SWAP: no nn.ReLU module was called on a 4-D input")
    return count_patterns(torch.cat(feats, dim=1))


def sample_positions(n: int, samples: int | None) -> torch.Tensor | None:
    """Evenly spaced positions of ``samples`` of ``n`` images (``None``: use all of them)."""
    if samples is None or n <= samples:
        return None
    if samples == 1:
        return torch.zeros(1, dtype=torch.long)
    i = torch.arange(samples, dtype=torch.float64)
    return torch.round(i * (n - 1) / (samples - 1)).to(torch.long)


def swap(model: nn.Module, batch, ctx: ScoreContext, repeats: int = 32, init: str = "gaussian",
         mu: float | None = None, sigma: float | None = None,
         samples: int | None = 16) -> float:
    """SWAP: mean over weight draws of the number of distinct sample-wise ReLU activation
    patterns on the probe batch (higher is better)."""
    repeats = int(repeats)
    if repeats < 1:
        raise ProxyError(f"SWAP needs repeats >= 1, got {repeats}")
    if init not in ("gaussian", "none"):
        raise ProxyError(f"unknown SWAP init {init!r}; use 'gaussian' or 'none'")
    if init == "none" and repeats != 1:
        raise ProxyError("SWAP with init='none' scores the given weights once: use repeats=1")
    if (mu is None) != (sigma is None):
        raise ProxyError("SWAP regularisation needs both mu and sigma (or neither)")
    if sigma is not None and not float(sigma) > 0:
        raise ProxyError(f"SWAP regularisation needs sigma > 0, got {sigma}")
    if int(batch.x.shape[0]) < 1:
        raise ProxyError("SWAP needs a non-empty probe batch")
    if samples is not None and (isinstance(samples, bool) or int(samples) != samples
                                or int(samples) < 1):
        raise ProxyError(f"SWAP needs samples >= 1 (or None for the whole batch), got {samples}")
    x = batch.x
    pos = sample_positions(int(x.shape[0]), None if samples is None else int(samples))
    if pos is not None:
        x = x[pos.to(x.device)]
    factor = 1.0
    if mu is not None and sigma is not None:
        factor = math.exp(-((param_thousands(model) - float(mu)) ** 2) / float(sigma))
    model.train()
    counts = []
    for _ in range(repeats):
        if init == "gaussian":
            gaussian_init(model, ctx.generator)
        counts.append(swap_once(model, x) * factor)
    return float(sum(counts) / len(counts))


register_proxy(
    "swap", swap,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("data", "train-mode"),
    version="2",  # 2: 16 evenly spaced images of the batch by default (was: the whole batch)
    paper=PAPER,
    description="Mean over Gaussian weight draws of the number of distinct sample-wise ReLU "
    "activation patterns.",
)
