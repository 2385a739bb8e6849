"""The torch modules of NAS-Bench-101 networks (built by
:func:`nasx.spaces.nasbench101.build_network`).

Kept apart from the space so that importing the space does not import torch. The space passes
in what belongs to the benchmark's definition (the vertex-channel rule
``compute_vertex_channels`` and the BatchNorm settings), so this module depends on nothing of
the space. The definitions follow ``model_builder.py`` / ``base_ops.py`` of
google-research/nasbench (see the space's docstring for the details that change results).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import nn

from ..errors import InvalidArchError

__all__ = ["BatchNormSettings", "ConvBnRelu", "NB101Cell", "NB101Network", "make_op"]

Matrix = Sequence[Sequence[int]]
#: ``(c_in, c_out, matrix) -> channels of every vertex``
VertexChannels = Callable[[int, int, Matrix], list[int]]
#: std of a standard normal truncated to [-2, 2] (TensorFlow's truncated-normal initialiser)
_TRUNC_STD = 0.87962566103423978


class BatchNormSettings(NamedTuple):
    """``eps`` and ``momentum`` (PyTorch's convention) of every BatchNorm."""

    eps: float
    momentum: float


class ConvBnRelu(nn.Sequential):
    """``Conv2d(same padding, no bias) -> BatchNorm2d -> ReLU`` (``base_ops.conv_bn_relu``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, bn: BatchNormSettings) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, eps=bn.eps, momentum=bn.momentum),
            nn.ReLU(inplace=False),
        )

def make_op(op: str, channels: int, bn: BatchNormSettings) -> nn.Module:
    if op == "conv3x3-bn-relu":
        return ConvBnRelu(channels, channels, 3, bn)
    if op == "conv1x1-bn-relu":
        return ConvBnRelu(channels, channels, 1, bn)
    if op == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise InvalidArchError(f"unknown NAS-Bench-101 op {op!r}")  # pragma: no cover

class NB101Cell(nn.Module):
    """One cell (``model_builder.build_module``) on a pruned matrix."""

    def __init__(
        self, matrix: Matrix, ops: Sequence[str], c_in: int, c_out: int,
        vertex_channels: VertexChannels, bn: BatchNormSettings,
    ) -> None:
        super().__init__()
        n = len(matrix)
        self.matrix = tuple(tuple(int(x) for x in row) for row in matrix)
        self.num_vertices = n
        self.vertex_channels = vertex_channels(c_in, c_out, self.matrix)
        # projections of the cell input, keyed by target vertex, created in vertex order
        self.proj = nn.ModuleDict()
        self.op = nn.ModuleDict()
        for t in range(1, n - 1):
            if self.matrix[0][t]:
                self.proj[str(t)] = ConvBnRelu(c_in, self.vertex_channels[t], 1, bn)
            self.op[str(t)] = make_op(ops[t], self.vertex_channels[t], bn)
        if self.matrix[0][n - 1]:
            self.proj[str(n - 1)] = ConvBnRelu(c_in, c_out, 1, bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.num_vertices
        m = self.matrix
        tensors = [x]
        concat = []
        for t in range(1, n - 1):
            c = self.vertex_channels[t]
            fan_in = [
                tensors[s] if tensors[s].shape[1] == c else tensors[s][:, :c]
                for s in range(1, t)
                if m[s][t]
            ]
            if m[0][t]:
                fan_in.append(self.proj[str(t)](x))
            h = fan_in[0]
            for extra in fan_in[1:]:
                h = h + extra
            out = self.op[str(t)](h)
            tensors.append(out)
            if m[t][n - 1]:
                concat.append(out)
        if not concat:
            return self.proj[str(n - 1)](x)
        y = concat[0] if len(concat) == 1 else torch.cat(concat, dim=1)
        if m[0][n - 1]:
            y = y + self.proj[str(n - 1)](x)
        return y

class NB101Network(nn.Module):
    """Stem, ``stacks`` stacks of cells with max-pool downsampling, pooling and a dense
    layer (``model_builder.build_model_fn``); returns the logits."""

    def __init__(
        self,
        matrix: Matrix,
        ops: Sequence[str],
        num_classes: int,
        stem_channels: int,
        stacks: int,
        cells_per_stack: int,
        vertex_channels: VertexChannels,
        bn: BatchNormSettings,
    ) -> None:
        super().__init__()
        self.stem = ConvBnRelu(3, stem_channels, 3, bn)
        layers: list[nn.Module] = []
        c_in = channels = stem_channels
        for stack in range(stacks):
            if stack > 0:
                # TensorFlow padding='same' pooling == ceil_mode (equal on even sizes)
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                channels *= 2
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(matrix, ops, c_in, channels, vertex_channels, bn))
                c_in = channels
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)
        self.reset_parameters()

    @property
    def cells(self) -> list[NB101Cell]:
        """The cells in depth order (the max-pooling between stacks left out): with ``stem``,
        what cell-feature proxies such as AZ-NAS hook (:mod:`nasx.proxies.aznas`)."""
        return [m for m in self.layers if isinstance(m, NB101Cell)]

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """TensorFlow's default initialisers, as the reference network uses them."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
                std = math.sqrt(1.0 / fan_in) / _TRUNC_STD
                nn.init.trunc_normal_(module.weight, 0.0, std, -2.0 * std, 2.0 * std)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layers(self.stem(x))
        return self.classifier(h.mean(dim=(2, 3)))
