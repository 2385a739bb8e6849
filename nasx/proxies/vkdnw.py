"""VKDNW: entropy of the Fisher-information spectrum of a few weights (and its aggregation).

Paper: Týbl & Neumann, "Training-free Neural Architecture Search through Variance of Knowledge
of Deep Network Weights", CVPR 2025. Reference implementation followed: ``ondratybl/VKDNW``,
``NB201/ZeroShotProxy/compute_vkdnw_score.py`` (``compute_nas_score``, ``get_fisher``,
``get_jacobian_index``, ``cholesky_covariance``), the experiment script ``NB201/tss_general_.py``
of the repository's history (batch 64, Gaussian inputs, ``params_grad_len=128``) and the
aggregation in ``NB201/paper_preparation.ipynb`` of its history. Five proxies:

``vkdnw-entropy`` -- ``VKDNW(f)``, **higher is better**.
    Select the first weight (flat index 0) of each of the first ``max_tensors = 128`` parameter
    tensors of ``model.named_parameters()`` (conv and linear weights, BatchNorm weights and
    biases alike): ``theta`` has ``P <= 128`` entries. In evaluation mode, for each of the
    ``B`` inputs ``x_b`` let ``J_b = d logits(x_b) / d theta`` (``K x P``, ``K`` classes) and
    ``p_b`` the smoothed softmax ``(1 - a) softmax(logits) + a / K`` with ``a = 0.05``. ``L_b``
    is the lower-triangular factor of the multinomial covariance ``diag(p) - p p^T`` (the
    reference's ``cholesky_covariance``: with ``q_j = 1 - sum_{i<=j} p_i``, ``q_{K-1} = 0``,
    ``d_j = sqrt(p_j q_j / q_{j-1})``: ``L[j, j] = d_j``, ``L[i, j] = -p_i d_j / q_j`` for
    ``i > j``). The empirical Fisher is ``F = mean_b (L_b J_b)^T (L_b J_b)`` (``P x P``),
    ``lambda`` its singular values, ``Q`` the nine deciles of ``lambda`` (``torch.quantile`` at
    0.1, ..., 0.9, linear interpolation), ``t = Q / (sum |Q| + 1e-10)`` and
    ``VKDNW = -sum t log(t + 1e-10)``: the entropy of the decile profile, at most ``log 9``.
``vkdnw-dim`` -- ``aleph(f)``: the number of parameter tensors of the network
    (``len(list(model.named_parameters()))``, the reference's ``vkdnw_dim``; on NAS-Bench-201
    three per convolution op and block), **higher is better**.
``vkdnw`` -- ``VKDNW_single``: the reference ranks networks by the pair ``(aleph, VKDNW)``
    lexicographically (first the number of tensors, ties broken by the entropy; pandas dense rank
    of the tuple in ``paper_preparation.ipynb``). nasx returns one number with exactly that order,
    ``aleph + VKDNW / log(10)`` (the second term lies in ``[0, log 9 / log 10) < 1``).
    **Higher is better.**
``vkdnw-agg`` -- ``VKDNW_agg``, population proxy: ``sum_k log(rank_k / n)`` over ``vkdnw``,
    ``jacob-cov``, ``az-expressivity``, ``az-trainability`` and ``az-complexity`` (FLOPs), the
    five terms of the reference's aggregation (:func:`nasx.population.log_rank_sum`). Higher is
    better.

Details that change results, all explicit:

* **The Fisher factor is applied as the reference applies it**: ``L_b J_b`` (not ``L_b^T J_b``),
  so ``F = mean J^T L^T L J``, which differs from ``J^T (diag p - p p^T) J = J^T L L^T J``. nasx
  reproduces the published code. The smoothing constant is the reference's float16 arithmetic:
  ``1 - a`` and ``a / K`` are computed on a float16 ``a = 0.05``, i.e. ``0.9501953125`` and
  ``0.004997...`` for ``K = 10`` (the smoothed probabilities sum to ``1.00017``), after which
  ``q_{K-1}`` is set to 0 as in the reference.
* **Which weights**: the reference's current code selects ``p`` evenly spaced flat indices per
  tensor (``torch.linspace(0, numel - 1, steps=p)``) with default ``p = 0``, which selects
  nothing and fails; the paper's setting (one weight per tensor, the first) is ``p = 1`` there
  and ``per_tensor=1`` here (``per_tensor=k`` takes the same ``k`` evenly spaced indices).
  The first ``max_tensors`` tensors in ``named_parameters()`` order: on NAS-Bench-201 the stem
  and the first stage(s), in the reference's edge order (nasx's network registers its modules
  in the order of AutoDL's ``TinyNetwork``).
* **Evaluation mode**: BatchNorm uses its running statistics (initially mean 0, variance 1), so
  the samples are independent; the Jacobian is computed per sample with ``torch.func``
  (``vmap`` over the batch of ``jacrev``), as the reference. ``ctx.chunk_size`` bounds the
  samples per ``vmap`` call.
* **Re-initialisation and inputs**, as AZ-NAS (the reference shares its code): Kaiming fan-in
  normal weights, zero biases, BatchNorm 1/0 (``init="kaiming"``; ``"none"`` keeps the scorer's
  weights), then ``batch_size = 64`` Gaussian inputs (``inputs="gaussian"``; ``"probe"`` uses
  the probe images), all drawn from ``ctx.generator`` in the reference's order.
* **Precision**: the network runs in float32; ``J``, ``L``, ``F``, its singular values and the
  deciles are computed in float64 here (float32 in the reference).
* **The aggregation's ``jacob-cov``** is nasx's ``jacob-cov`` (zero-cost-nas definition, probe
  images, the scorer's default initialisation); the VKDNW repository computes the same quantity
  after a Kaiming re-initialisation and replaces failures by the minimum (nasx ranks failures
  last, tied). Ranks average ties, where the reference's ``vkdnw`` term uses dense ranks of the
  tuple (ties of both ``aleph`` and ``VKDNW`` only).

Orientation (all higher is better) is the paper's and was measured on NAS-Bench-201
``cifar10_test`` in ``benchmarks/crosscheck_vkdnw.py --mode truth`` (results in
``benchmarks/results/vkdnw_truth_cpu.json``, C=8, N=1, and
``benchmarks/results/vkdnw_truth_c16n5_cpu.json``, C=16, N=5).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ProxyError
from .aznas import INITS, INPUTS, kaiming_fan_in_init
from .base import ScoreContext, register_proxy
from .ranks import log_rank_sum

__all__ = ["fisher_factor", "vkdnw_fisher", "decile_entropy", "vkdnw_scores", "vkdnw",
           "vkdnw_entropy", "vkdnw_dim"]

PAPER = ("Týbl & Neumann, Training-free Neural Architecture Search through Variance of "
         "Knowledge of Deep Network Weights, CVPR 2025")

#: the smoothing weight of the reference (a float16 constant there)
ALPHA = 0.05


def fisher_factor(logits: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """The reference's per-sample factor ``L`` (``B x K x K``, float64) of the smoothed softmax
    covariance (see the module docstring for the formula and its float16 constants)."""
    k = int(logits.shape[1])
    a16 = torch.tensor(alpha, dtype=torch.float16)
    scale, shift = float(1 - a16), float(a16 / k)
    p = torch.softmax(logits.double(), dim=1) * scale + shift
    q = 1.0 - torch.cumsum(p, dim=1)
    q[:, -1] = 0.0
    q_prev = torch.cat([torch.ones_like(q[:, :1]), q[:, :-1]], dim=1)
    d = torch.sqrt(p * q / q_prev)
    # strictly lower part: -p_i / q_j (column K-1 has q = 0 and only its diagonal entry)
    safe_q = torch.where(q > 0, q, torch.ones_like(q))
    low = -p[:, :, None] / safe_q[:, None, :]
    mask = torch.tril(torch.ones(k, k, dtype=torch.bool, device=logits.device), diagonal=-1)
    mask = mask & (q > 0)[:, None, :]
    eye = torch.eye(k, dtype=p.dtype, device=p.device).expand_as(low)
    factor = torch.where(mask, low, torch.zeros_like(low)) + eye
    return factor * d[:, None, :]


def _selection(model: nn.Module, per_tensor: int, max_tensors: int
               ) -> list[tuple[str, torch.Tensor]]:
    named = list(model.named_parameters())[:max_tensors]
    out = []
    for name, p in named:
        n = p.numel()
        idx = torch.linspace(0, n - 1, steps=per_tensor).long().to(p.device)
        out.append((name, idx))
    return out


def vkdnw_fisher(model: nn.Module, x: torch.Tensor, per_tensor: int = 1,
                 max_tensors: int = 128, chunk_size: int | None = None) -> torch.Tensor:
    """The reference's empirical Fisher ``mean_b (L_b J_b)^T (L_b J_b)`` (float64, ``P x P``)
    of the selected weights, in evaluation mode."""
    from torch.func import functional_call, jacrev, vmap

    if per_tensor < 1 or max_tensors < 1:
        raise ProxyError("VKDNW: per_tensor and max_tensors must be positive")
    sel = _selection(model, per_tensor, max_tensors)
    if not sel:
        raise ProxyError("VKDNW: the model has no parameters")
    model.eval()
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    small = {name: params[name].reshape(-1)[idx] for name, idx in sel}

    def logits_of(chosen: dict[str, torch.Tensor], sample: torch.Tensor) -> torch.Tensor:
        full = dict(params)
        for name, idx in sel:
            base = params[name]
            full[name] = base.reshape(-1).index_put((idx,), chosen[name]).reshape(base.shape)
        out = functional_call(model, (full, buffers), (sample.unsqueeze(0),))
        if isinstance(out, (tuple, list)):
            out = out[-1]
        return out.squeeze(0)

    jac = vmap(jacrev(logits_of), in_dims=(None, 0), chunk_size=chunk_size)(small, x)
    j = torch.cat([jac[name].reshape(x.shape[0], -1, per_tensor) for name, _ in sel],
                  dim=2).double()  # (B, K, P)
    with torch.no_grad():
        out = model(x)
        if isinstance(out, (tuple, list)):
            out = out[-1]
    lj = fisher_factor(out.detach()) @ j
    return (lj.transpose(1, 2) @ lj).mean(0)


def decile_entropy(fisher: torch.Tensor) -> float:
    """``VKDNW``: entropy of the normalised deciles of the singular values of ``fisher``."""
    lam = torch.linalg.svdvals(fisher.double().cpu())
    levels = torch.arange(0.1, 1.0, 0.1).double()  # the reference's nine float32 levels
    q = torch.quantile(lam, levels)
    t = q / (float(torch.linalg.norm(q, ord=1)) + 1e-10)
    return float(-(t * torch.log(t + 1e-10)).sum())


def vkdnw_scores(model: nn.Module, batch, ctx: ScoreContext, init: str = "kaiming",
                 inputs: str = "gaussian", batch_size: int = 64, per_tensor: int = 1,
                 max_tensors: int = 128) -> dict[str, float]:
    """``{"entropy", "dim"}`` of ``model`` (cached in ``ctx.cache`` per option set)."""
    if init not in INITS:
        raise ProxyError(f"VKDNW: unknown init {init!r}; use one of {', '.join(INITS)}")
    if inputs not in INPUTS:
        raise ProxyError(f"VKDNW: unknown inputs {inputs!r}; use one of {', '.join(INPUTS)}")
    if inputs == "gaussian" and batch_size < 1:
        raise ProxyError("VKDNW: batch_size must be positive")
    key = ("vkdnw.scores", init, inputs, batch_size, per_tensor, max_tensors, ctx.chunk_size)
    if key in ctx.cache:
        return ctx.cache[key]
    gen = ctx.generator
    if init == "kaiming":
        kaiming_fan_in_init(model, gen)
    if inputs == "gaussian":
        shape = tuple(getattr(ctx.space, "input_shape", None) or tuple(batch.x.shape[1:]))
        x = torch.randn((batch_size, *shape), generator=gen, device=batch.x.device)
    else:
        x = batch.x
    fisher = vkdnw_fisher(model, x, per_tensor, max_tensors, ctx.chunk_size)
    out = {"entropy": decile_entropy(fisher),
           "dim": float(len(list(model.named_parameters())))}
    ctx.cache[key] = out
    return out


def vkdnw_entropy(model: nn.Module, batch, ctx: ScoreContext, init: str = "kaiming",
                  inputs: str = "gaussian", batch_size: int = 64, per_tensor: int = 1,
                  max_tensors: int = 128) -> float:
    """VKDNW: entropy of the deciles of the Fisher spectrum of the selected weights."""
    v = vkdnw_scores(model, batch, ctx, init, inputs, batch_size, per_tensor,
                     max_tensors)["entropy"]
    return v if math.isfinite(v) else math.nan


def vkdnw_dim(model: nn.Module, batch, ctx: ScoreContext) -> float:
    """aleph: the number of parameter tensors of the network."""
    return float(len(list(model.named_parameters())))


def vkdnw(model: nn.Module, batch, ctx: ScoreContext, init: str = "kaiming",
          inputs: str = "gaussian", batch_size: int = 64, per_tensor: int = 1,
          max_tensors: int = 128) -> float:
    """VKDNW_single: ``aleph + VKDNW / log(10)`` (the reference's lexicographic order)."""
    s = vkdnw_scores(model, batch, ctx, init, inputs, batch_size, per_tensor, max_tensors)
    v = s["dim"] + s["entropy"] / math.log(10.0)
    return v if math.isfinite(v) else math.nan


register_proxy(
    "vkdnw-entropy", vkdnw_entropy,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("none", "grads", "per-sample-grads"),
    paper=PAPER + " (VKDNW)",
    description="Entropy of the deciles of the Fisher spectrum of the first weight of the first "
    "128 tensors (64 Gaussian inputs).",
)
register_proxy(
    "vkdnw-dim", vkdnw_dim,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("none",),
    paper=PAPER + " (number of parameter tensors)",
    description="Number of parameter tensors of the network (VKDNW's size term).",
)
register_proxy(
    "vkdnw", vkdnw,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("none", "grads", "per-sample-grads"),
    paper=PAPER + " (VKDNW_single)",
    description="Number of parameter tensors plus VKDNW / log 10 (lexicographic order).",
)
register_proxy(
    "vkdnw-agg",
    components=("vkdnw", "jacob-cov", "az-expressivity", "az-trainability", "az-complexity"),
    combine=log_rank_sum,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("data", "grads", "per-sample-grads", "train-mode"),
    paper=PAPER + " (VKDNW_agg)",
    description="Sum of log(rank/n) of vkdnw, jacob-cov, AZ-NAS expressivity and trainability "
    "and FLOPs over the population.",
)
