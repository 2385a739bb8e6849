"""jacob-cov: correlation of input Jacobians across a batch (NASWOT, first version).

Papers: Mellor, Turner, Storkey & Crowley, "Neural Architecture Search without Training",
arXiv:2006.04647 v1 (2020; the Jacobian-covariance score, replaced by a different score in later
versions); Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021 (``jacob_cov``).

Definition. Run the untrained network on the probe batch ``x`` (``N`` images) and let
``J = d(sum of all outputs)/dx``, one row ``J_i`` (flattened, ``C*H*W`` values) per image. Let
``Sigma`` be the ``N x N`` correlation matrix of the rows (``numpy.corrcoef``) and
``lambda_1..lambda_N`` its eigenvalues. With ``k = 1e-5``,

    jacob-cov = - sum_i [ log(lambda_i + k) + 1 / (lambda_i + k) ]

Each term is minimal (= 1 - log 1) at ``lambda = 1``, so the score is highest when the Jacobians
of different images are uncorrelated (``Sigma`` close to the identity).

Reference implementation followed: samsung/zero-cost-nas ``foresight/pruners/measures/jacob_cov.py``
(``get_batch_jacobian``, ``eval_score``) and NASLib ``naslib/predictors/pruners/measures/jacov.py``
(``zerocost`` branch; the same computation, without data splitting). Details that change
results:

* The Jacobian is of the *sum* of the outputs (all classes, all images) with respect to the
  input: labels are not used. BatchNorm is in training mode, so an image's output also depends
  on the other images through the batch statistics and ``J_i`` contains those cross terms, as in
  the references.
* Eigenvalues: the references call ``numpy.linalg.eig``; the correlation matrix is symmetric, so
  nasx uses ``numpy.linalg.eigvalsh`` (real eigenvalues, the same values up to rounding) in
  float64.
* Failure: a constant Jacobian row makes the correlation undefined (NaN), and an eigenvalue below
  ``-k`` (rounding on a rank-deficient matrix) makes the log undefined; the NaN is returned and
  the scorer records a failure. NASLib stores ``-1e8`` instead.
* The score depends on the batch size ``N`` (it has ``N`` terms); compare networks on one batch.
* Out-of-memory chunking (``ctx.chunk_size``): the batch is run in slices (each with its own
  BatchNorm statistics) and the Jacobians concatenated, as zero-cost-nas's ``split_data``.
* Orientation: higher is better (measured on NAS-Bench-201 CIFAR-10, see
  ``benchmarks/naslib_crosscheck.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from ._common import batch_chunks
from .base import ScoreContext, register_proxy

__all__ = ["jacob_cov", "jacob_cov_score"]

PAPER = ("Mellor et al., Neural Architecture Search without Training, arXiv:2006.04647 v1, "
         "2020; as jacob_cov: Abdelfattah et al., ICLR 2021")

_K = 1e-5


def jacob_cov_score(jacobians: np.ndarray, k: float = _K) -> float:
    """``-sum(log(l + k) + 1/(l + k))`` over the eigenvalues ``l`` of the correlation matrix
    of the rows of ``jacobians`` (N x D)."""
    jac = np.asarray(jacobians, dtype=np.float64).reshape(len(jacobians), -1)
    with np.errstate(all="ignore"):
        corr = np.corrcoef(jac)
        if not np.all(np.isfinite(corr)):
            return float("nan")
        eig = np.linalg.eigvalsh(corr)
        return float(-np.sum(np.log(eig + k) + 1.0 / (eig + k)))


def jacob_cov(model: torch.nn.Module, batch, ctx: ScoreContext) -> float:
    """Jacobian-covariance score of ``model`` on ``batch`` (BatchNorm in training mode)."""
    model.train()
    parts = []
    for x, _ in batch_chunks(batch.x, None, ctx.chunk_size):
        x = x.detach().clone().requires_grad_(True)
        out = model(x)
        if isinstance(out, (tuple, list)):
            out = out[-1]
        (jac,) = torch.autograd.grad(out.sum(), [x])
        parts.append(jac.reshape(jac.shape[0], -1).detach().double().cpu())
    return jacob_cov_score(torch.cat(parts).numpy())


register_proxy(
    "jacob-cov", jacob_cov,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("data", "grads", "train-mode"),
    paper=PAPER,
    description="-sum(log(l+k) + 1/(l+k)) over eigenvalues l of the correlation matrix of "
    "per-image input Jacobians (NASWOT v1).",
)
