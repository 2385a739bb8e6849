"""MeCo: minimum eigenvalue of the channel correlation of feature maps.

Paper: Jiang, Wang, Chen, Liu, Gao, Xiao & Zhang, "MeCo: Zero-Shot NAS with One Data and Single
Forward Pass via Minimum Eigenvalue of Correlation", NeurIPS 2023. Reference implementation
followed: ``HamsterMimi/MeCo``, ``correlation/NAS_Bench_201.py`` (``get_score`` with
``--measure meco``, the script behind the paper's NAS-Bench-201 correlations).

Definition. Run one forward pass of a single image (batch of one) through the untrained network
with a forward hook on *every* module (``model.named_modules()``, the root included). For each
hook call with output ``o`` take ``F = o[0]`` (the first sample of a tensor output), reshape it to
``(F.shape[0], -1)`` (rows are the channels ``c``, columns the spatial positions) and compute::

    P = corrcoef(F)    (c x c Pearson correlation of the channel maps; NaN/inf entries set to 0)
    m = lambda_min(P)

    MeCo = sum of m over every hook call whose m is finite

Higher is better: the paper's orientation, confirmed on NAS-Bench-201 (raw Spearman rho
0.880 against ``cifar10_test`` on 100 cells, C=8, N=1, seed 0;
``benchmarks/results/crosscheck_zico_meco_swap_truth.json``; 0.839 on 50 cells of the full
C=16, N=5 network, ``crosscheck_zico_meco_swap_truth_c16n5.json``).

Details that change results, all explicit:

* **One sample.** The reference's NAS-Bench-201 script uses one CIFAR-10 training image
  (``--batch_size 1``, 32x32). nasx uses the first image of the probe batch
  (``source="data"``). ``source="random"`` feeds one standard-normal image of the probe's
  shape drawn from ``ctx.generator`` instead (the reference's zero-cost-nas measure ``meco.py``
  replaces its input by ``randn(1, 3, 64, 64)``; note the different size).
* **BatchNorm** in training mode (a fresh network): with one image, BN normalises each channel
  over the image's spatial positions.
* **Which modules.** Every module with a forward call counts, once per call, so nested modules
  count their (often identical) outputs several times: on NAS-Bench-201 a ``nor_conv`` op
  contributes its ReLU, Conv, BN and the ``ReLUConvBN`` block itself; ``skip_connect``
  (``nn.Identity``) and the cells and the whole network count too. Outputs with one position per
  channel (pooled features, logits: ``F`` has one column) give an all-NaN correlation, set to 0,
  so ``m = 0``; so do all-zero maps (the ``none`` op) and constant channels give a zero row and
  column, hence ``m <= 0``.
* **Tuple outputs.** As in the reference, ``o[0]`` of a tuple output is its first element (the
  whole batch), reshaped by its first dimension.
* **Eigenvalues.** The reference uses the general ``torch.linalg.eig`` in float32 and keeps the
  real parts; nasx uses the symmetric solver ``eigvalsh`` on the float64 correlation of the
  float32 features (same values up to rounding).
* **NaN/inf policy.** Non-finite per-call values are dropped before summing (as the reference).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import ProxyError
from ._common import forward_hooks
from .base import ScoreContext, register_proxy

__all__ = ["meco", "min_corr_eig"]

PAPER = ("Jiang et al., MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum "
         "Eigenvalue of Correlation, NeurIPS 2023")


def min_corr_eig(feature: torch.Tensor) -> float:
    """``lambda_min`` of the row correlation matrix of ``feature.reshape(len, -1)`` (NaN/inf
    correlation entries set to 0), in float64."""
    f = feature.detach().reshape(feature.shape[0], -1).double()
    if f.shape[1] < 2:  # one observation per row: every correlation is NaN, set to 0
        return 0.0
    corr = torch.corrcoef(f)
    if corr.dim() == 0:
        corr = corr.reshape(1, 1)
    corr = torch.where(torch.isfinite(corr), corr, torch.zeros_like(corr))
    return float(torch.linalg.eigvalsh(corr.cpu())[0])


def meco(model: nn.Module, batch, ctx: ScoreContext, source: str = "data") -> float:
    """MeCo: sum over module calls of the minimum eigenvalue of the channel correlation of the
    first sample's output (higher is better)."""
    if int(batch.x.shape[0]) < 1:
        raise ProxyError("MeCo needs a probe batch with at least one image")
    if source == "data":
        x = batch.x[:1]
    elif source == "random":
        x = torch.randn(batch.x[:1].shape, generator=ctx.generator, device=batch.x.device,
                        dtype=batch.x.dtype)
    else:
        raise ProxyError(f"unknown MeCo input source {source!r}; use 'data' or 'random'")
    values: list[float] = []

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        try:
            first = output[0]
        except (TypeError, IndexError):
            return
        if not isinstance(first, torch.Tensor) or first.dim() == 0:
            return
        values.append(min_corr_eig(first))

    model.train()
    with forward_hooks(model.modules(), hook), torch.no_grad():
        model(x)
    finite = [v for v in values if math.isfinite(v)]
    if not values:
        raise ProxyError("MeCo: no module produced a tensor output")
    return float(math.fsum(finite))


register_proxy(
    "meco", meco,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("data", "train-mode"),
    paper=PAPER,
    description="Sum over module outputs of the minimum eigenvalue of the channel correlation "
    "matrix of one image's feature maps.",
)
