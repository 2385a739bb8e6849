"""Torch building blocks shared by the DARTS-style cell spaces (``darts`` and the NDS families).

The ops and the CIFAR network follow DARTS (Liu et al., "DARTS: Differentiable Architecture
Search", ICLR 2019), reference ``quark0/darts`` ``cnn/operations.py`` and ``cnn/model.py``
(``NetworkCIFAR``, ``Cell``), and its port in pycls (Radosavovic et al., "On Network Design
Spaces for Visual Recognition", ICCV 2019), ``pycls/models/nas/operations.py`` and ``nas.py``,
which adds the ops of the NASNet, Amoeba, PNAS and ENAS op sets. Details that change results:

* every conv is bias-free; ``sep_conv_kxk`` is two stacked ``ReLU - depthwise kxk - 1x1 - BN``
  blocks (the first carries the stride), ``dil_conv_kxk`` one ``ReLU - depthwise kxk (dilation
  2) - 1x1 - BN`` block, ``dil_sep_conv_3x3`` two dilated blocks;
* ``avg_pool_kxk`` does not count padding; pools have no BatchNorm;
* ``skip_connect`` is the identity, or ``FactorizedReduce`` at stride 2: ``ReLU``, two 1x1
  stride-2 convs with ``C_out // 2`` channels each, the second applied to the input shifted by
  one pixel, concatenated, then ``BN``. pycls pads the input by one pixel on the right and bottom
  before the shift (``pad_reduce=True``) so odd sizes work; DARTS does not pad. On even sizes the
  two agree exactly;
* ``none`` multiplies by zero (subsampling first at stride 2);
* ``affine`` applies to the BatchNorms inside cell ops only; the cell preprocessing
  (``ReLUConvBN`` 1x1 / ``FactorizedReduce``) and the stem are always affine, as in both
  references.

The network (``NetworkCIFAR``): stem ``Conv3x3(3, 3C) + BN``; ``layers`` cells, the cells at
``layers // 3`` and ``2 * layers // 3`` are reduction cells that double the channels; each cell
takes the outputs of the two previous cells (both the stem output for the first cell),
preprocesses them to ``C`` channels (``FactorizedReduce`` for the older input when the previous
cell reduced), applies its ops (an op on input 0 or 1 of a reduction cell has stride 2) and
concatenates the chosen nodes; global average pooling and a linear classifier. ``forward``
returns the logits only.

Training extras (DARTS ``cnn/model.py`` and ``cnn/utils.py``), both off by default so that scoring
and the default network are unchanged: ``NetworkCIFAR.drop_path_prob`` (a plain attribute, not
a parameter; 0 unless a trainer sets it) drops, in training mode, each op output of a discrete
cell that is not an identity with that probability, per sample, scaling the kept ones by
``1 / (1 - p)``; the masks come from torch's default generator of the input's device.
:meth:`NetworkCIFAR.nasx_forward_train` also returns the logits of the auxiliary head (built
with ``auxiliary=True``), computed in training mode from the output of cell ``2 * layers // 3``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = [
    "CELL_OPS",
    "AuxiliaryHeadCIFAR",
    "Cell",
    "CellSpec",
    "DilConv",
    "DilSepConv",
    "FactorizedReduce",
    "MixedCell",
    "NetworkCIFAR",
    "ReLUConvBN",
    "SepConv",
    "Zero",
    "drop_path",
    "make_op",
]


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``prob`` and scale the others by
    ``1 / (1 - prob)`` (DARTS ``utils.drop_path``; not in place)."""
    keep = 1.0 - prob
    mask = torch.bernoulli(torch.full((x.shape[0], 1, 1, 1), keep, device=x.device,
                                      dtype=x.dtype))
    return x / keep * mask


class ReLUConvBN(nn.Module):
    """``ReLU -> Conv2d(bias=False) -> BatchNorm2d``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """``ReLU -> depthwise conv (dilated) -> 1x1 conv -> BN``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 dilation: int, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two ``ReLU -> depthwise kxk -> 1x1 -> BN`` blocks; the first carries the stride."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 affine: bool = True, dilation: int = 1) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=1, padding=padding, dilation=dilation,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilSepConv(SepConv):
    """pycls ``dil_sep_conv``: a :class:`SepConv` whose depthwise convs are dilated."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 dilation: int, affine: bool = True) -> None:
        super().__init__(c_in, c_out, kernel, stride, padding, affine, dilation=dilation)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset 1x1 stride-2 convs (see the module docstring)."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True, pad: bool = False) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        y = nn.functional.pad(x, (0, 1, 0, 1)) if self.pad else x
        out = torch.cat([self.conv_1(x), self.conv_2(y[:, :, 1:, 1:])], dim=1)
        return self.bn(out)


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape, still attached to the graph."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def _conv_pair(c: int, k: int, stride: int, affine: bool) -> nn.Module:
    """``ReLU -> Conv(1 x k) -> Conv(k x 1) -> BN`` (``conv_kx1_1xk`` ops)."""
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, (1, k), stride=(1, stride), padding=(0, k // 2), bias=False),
        nn.Conv2d(c, c, (k, 1), stride=(stride, 1), padding=(k // 2, 0), bias=False),
        nn.BatchNorm2d(c, affine=affine),
    )


def _plain_conv(c: int, k: int, stride: int, affine: bool) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(c, affine=affine),
    )


#: every op name the builders know (the union of the DARTS and pycls op tables)
CELL_OPS: tuple[str, ...] = (
    "none", "skip_connect",
    "avg_pool_2x2", "avg_pool_3x3", "avg_pool_5x5",
    "max_pool_2x2", "max_pool_3x3", "max_pool_5x5", "max_pool_7x7",
    "conv_1x1", "conv_3x3", "conv_3x1_1x3", "conv_7x1_1x7",
    "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
    "dil_conv_3x3", "dil_conv_5x5", "dil_sep_conv_3x3",
)


def make_op(name: str, c: int, stride: int, affine: bool, pad_reduce: bool = False) -> nn.Module:
    """The cell op ``name`` on ``c`` channels (input and output) with ``stride``."""
    if name == "none":
        return Zero(stride)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine, pad=pad_reduce)
    if name.startswith(("avg_pool_", "max_pool_")):
        k = int(name[-1])
        pad = 0 if k == 2 else k // 2
        if name.startswith("avg"):
            return nn.AvgPool2d(k, stride=stride, padding=pad, count_include_pad=False)
        return nn.MaxPool2d(k, stride=stride, padding=pad)
    if name == "conv_1x1":
        return _plain_conv(c, 1, stride, affine)
    if name == "conv_3x3":
        return _plain_conv(c, 3, stride, affine)
    if name == "conv_3x1_1x3":
        return _conv_pair(c, 3, stride, affine)
    if name == "conv_7x1_1x7":
        return _conv_pair(c, 7, stride, affine)
    if name.startswith("sep_conv_"):
        k = int(name[-1])
        return SepConv(c, c, k, stride, k // 2, affine)
    if name.startswith("dil_conv_"):
        k = int(name[-1])
        return DilConv(c, c, k, stride, k - 1, 2, affine)
    if name == "dil_sep_conv_3x3":
        return DilSepConv(c, c, 3, stride, 2, 2, affine)
    raise ValueError(f"unknown cell op {name!r}")  # callers validate names first


# A cell: ``ops[k]`` is applied to node ``inputs[k]``; node ``2 + k // 2`` sums ops 2k and 2k+1;
# ``concat`` lists the nodes whose outputs are concatenated.
CellSpec = tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]


class _CellBase(nn.Module):
    def _preprocess(self, c_pp: int, c_p: int, c: int, reduction_prev: bool,
                    pad_reduce: bool) -> None:
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_pp, c, pad=pad_reduce)
        else:
            self.preprocess0 = ReLUConvBN(c_pp, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0)


class Cell(_CellBase):
    """A discrete DARTS/NDS cell (``cnn/model.py`` ``Cell``)."""

    def __init__(self, spec: CellSpec, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool, affine: bool = True, pad_reduce: bool = False) -> None:
        super().__init__()
        self._preprocess(c_pp, c_p, c, reduction_prev, pad_reduce)
        names, inputs, concat = spec
        self.inputs = tuple(inputs)
        self.concat = tuple(concat)
        self.multiplier = len(concat)
        self.ops = nn.ModuleList(
            make_op(name, c, 2 if reduction and i < 2 else 1, affine, pad_reduce)
            for name, i in zip(names, inputs)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor,
                drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        drop = self.training and drop_prob > 0.0
        for k in range(0, len(self.ops), 2):
            a = self.ops[k](states[self.inputs[k]])
            b = self.ops[k + 1](states[self.inputs[k + 1]])
            if drop:
                if not isinstance(self.ops[k], nn.Identity):
                    a = drop_path(a, drop_prob)
                if not isinstance(self.ops[k + 1], nn.Identity):
                    b = drop_path(b, drop_prob)
            states.append(a + b)
        return torch.cat([states[i] for i in self.concat], dim=1)


class MixedCell(_CellBase):
    """A weightless DARTS supernet cell: every edge ``(i, j)`` sums the ops of its set.

    ``op_sets[k]`` holds the ops of the ``k``-th edge in the order ``(0, 2), (1, 2), (0, 3), (1, 3),
    (2, 3), ...`` (node-major). Node ``j`` is the sum of its incoming edges; an edge with no op
    gives zeros. ``mean=True`` divides an edge's sum by its number of ops. ``pad_reduce`` as in
    :class:`Cell` (pycls's padded ``FactorizedReduce``, for the NDS spaces).
    """

    def __init__(self, op_sets: Sequence[Sequence[str]], steps: int, c_pp: int, c_p: int, c: int,
                 reduction: bool, reduction_prev: bool, affine: bool = True,
                 mean: bool = False, pad_reduce: bool = False) -> None:
        super().__init__()
        self._preprocess(c_pp, c_p, c, reduction_prev, pad_reduce)
        self.steps = steps
        self.mean = mean
        self.multiplier = steps
        self.edge_inputs: list[int] = []
        self.edge_strides: list[int] = []
        edges = nn.ModuleList()
        k = 0
        for j in range(2, steps + 2):
            for i in range(j):
                stride = 2 if reduction and i < 2 else 1
                edges.append(nn.ModuleList(make_op(n, c, stride, affine, pad_reduce)
                                           for n in op_sets[k]))
                self.edge_inputs.append(i)
                self.edge_strides.append(stride)
                k += 1
        self.edges = edges

    def _edge(self, k: int, x: torch.Tensor) -> torch.Tensor:
        ops = self.edges[k]
        if len(ops) == 0:
            s = self.edge_strides[k]
            return (x if s == 1 else x[:, :, ::s, ::s]).mul(0.0)
        out = ops[0](x)
        for op in list(ops)[1:]:
            out = out + op(x)
        if self.mean and len(ops) > 1:
            out = out / len(ops)
        return out

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        k = 0
        for j in range(2, self.steps + 2):
            total = self._edge(k, states[0])
            k += 1
            for i in range(1, j):
                total = total + self._edge(k, states[i])
                k += 1
            states.append(total)
        return torch.cat(states[2:], dim=1)


@dataclass(frozen=True)
class CellFactory:
    """Builds the discrete cells of a :class:`NetworkCIFAR` (picklable, unlike a closure, so the
    networks pickle): ``normal`` / ``reduce`` are the :data:`CellSpec` of the two cell types."""

    normal: CellSpec
    reduce: CellSpec
    affine: bool = True
    pad_reduce: bool = False

    @classmethod
    def from_genotype(cls, geno: Sequence[Any], affine: bool = True,
                      pad_reduce: bool = False) -> CellFactory:
        """From a genotype ``(normal pairs, normal concat, reduce pairs, reduce concat)``."""
        def spec(pairs: Sequence[tuple[str, int]], concat: Sequence[int]) -> CellSpec:
            return tuple(op for op, _ in pairs), tuple(i for _, i in pairs), tuple(concat)

        return cls(spec(geno[0], geno[1]), spec(geno[2], geno[3]), affine, pad_reduce)

    def __call__(self, index: int, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool) -> nn.Module:
        return Cell(self.reduce if reduction else self.normal, c_pp, c_p, c, reduction,
                    reduction_prev, self.affine, self.pad_reduce)


@dataclass(frozen=True)
class MixedCellFactory:
    """Builds the supernet cells (:class:`MixedCell`) of a :class:`NetworkCIFAR` from the op sets
    of the normal and the reduction cell's edges."""

    normal: tuple[tuple[str, ...], ...]
    reduce: tuple[tuple[str, ...], ...]
    steps: int
    affine: bool = True
    mean: bool = False
    pad_reduce: bool = False

    def __call__(self, index: int, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool) -> nn.Module:
        return MixedCell(self.reduce if reduction else self.normal, self.steps, c_pp, c_p, c,
                         reduction, reduction_prev, self.affine, mean=self.mean,
                         pad_reduce=self.pad_reduce)


class AuxiliaryHeadCIFAR(nn.Module):
    """DARTS's auxiliary head for 8x8 inputs (evaluated only by
    :meth:`NetworkCIFAR.nasx_forward_train`, in training mode)."""

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class NetworkCIFAR(nn.Module):
    """DARTS's ``NetworkCIFAR``; ``make_cell(index, c_pp, c_p, c, reduction, reduction_prev)``
    builds each cell (a :class:`Cell` or :class:`MixedCell`; a :class:`CellFactory` or
    :class:`MixedCellFactory`, or any picklable callable, so the network pickles). Returns the
    logits only; :meth:`nasx_forward_train` adds the auxiliary logits, and
    ``drop_path_prob`` (0 by default) sets drop-path in training mode."""

    def __init__(self, C: int, num_classes: int, layers: int, make_cell: Any,
                 auxiliary: bool = False, in_channels: int = 3) -> None:
        super().__init__()
        self.layers = layers
        #: drop-path probability of the cell ops in training mode (set by a trainer)
        self.drop_path_prob = 0.0
        c_curr = 3 * C  # DARTS's stem multiplier
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr)
        )
        c_pp, c_p, c_curr = c_curr, c_curr, C
        cells = []
        reduction_prev = False
        c_aux = c_p
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = make_cell(i, c_pp, c_p, c_curr, reduction, reduction_prev)
            cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
            if i == 2 * layers // 3:
                c_aux = c_p
        self.cells = nn.ModuleList(cells)
        self._make_cell = make_cell
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def _run(self, x: torch.Tensor, aux: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        s0 = s1 = self.stem(x)
        p = float(self.drop_path_prob) if self.training else 0.0
        logits_aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, (cell(s0, s1, p) if p > 0.0 else cell(s0, s1))
            if aux and i == 2 * self.layers // 3:
                logits_aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), logits_aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, False)[0]

    def nasx_forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, auxiliary logits)`` as DARTS's ``forward``: the auxiliary logits are None
        unless the head was built and the network is in training mode."""
        return self._run(x, self.training and hasattr(self, "auxiliary_head"))

    def nasx_thin_model(self, channels: int = 1) -> nn.Module:
        """TE-NAS's thin network of this one (the hook of
        :func:`nasx.proxies.tenas.thin_model`), as TE-NAS builds it for the DARTS space
        (``prune_tenas.py``: ``C=1, N=1, depth=2, use_stem=False, stem_multiplier=1``): no stem,
        this network's normal cell with ``C = channels`` on ``channels``-channel inputs, then its
        reduction cell with ``2 * channels``, then ``BatchNorm2d + ReLU``. The cells are built by
        the same factory as this network's (the same ops, or the same op sets of a supernet).
        Freshly initialised: the caller seeds torch.

        Every :class:`FactorizedReduce` of the thin network pads (``pad=True``), as TE-NAS's
        does: TE-NAS feeds it ``3 x 3`` crops, on which DARTS's unpadded op is undefined (its two
        halves come out 2x2 and 1x1); on even sizes both give the same output."""
        c = int(channels)
        normal = self._make_cell(0, c, c, c, False, False)
        reduce = self._make_cell(1, c, normal.multiplier * c, 2 * c, True, False)
        thin = ThinCellNetwork([normal, reduce], reduce.multiplier * 2 * c)
        for module in thin.modules():
            if isinstance(module, FactorizedReduce):
                module.pad = True
        return thin


class ThinCellNetwork(nn.Module):
    """Cells applied to the input itself (no stem), then ``BatchNorm2d + ReLU``: TE-NAS's thin
    network of a two-input-cell space (see :meth:`NetworkCIFAR.nasx_thin_model`)."""

    def __init__(self, cells: Sequence[nn.Module], c_out: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_out), nn.ReLU(inplace=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = x
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.lastact(s1)
