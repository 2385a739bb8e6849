"""The torch modules of NAS-Bench-201 networks (built by :mod:`nasx.spaces.nasbench201`).

Kept apart from the space so that importing the space (``nasx list spaces``) does not import
torch; the space imports this module when it builds a network. The definitions follow AutoDL's
``TinyNetwork`` (see the space's docstring for the details that change results).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from torch import nn

from ..errors import InvalidArchError

__all__ = ["NB201Cell", "NB201Network", "ReLUConvBN", "ResNetBasicBlock", "ZeroOp", "make_op",
           "op_name"]


class ReLUConvBN(nn.Sequential):
    """``ReLU -> Conv2d(bias=False) -> BatchNorm2d`` (``nor_conv_kxk`` and block convs)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=True, track_running_stats=True),
        )

class ZeroOp(nn.Module):
    """The ``none`` op: its input times 0 (same shape, still attached to the graph)."""

    def forward(self, x: Any) -> Any:
        return x.mul(0.0)

class ResNetBasicBlock(nn.Module):
    """Stride-2 residual block between stages (no ReLU after the addition)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: Any) -> Any:
        return self.downsample(x) + self.conv_b(self.conv_a(x))

def make_op(op: str, channels: int) -> nn.Module:
    if op == "none":
        return ZeroOp()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise InvalidArchError(f"unknown NAS-Bench-201 op {op!r}")  # pragma: no cover

class NB201Cell(nn.Module):
    """The 4-node cell; ``edges[k]`` holds the ops of edge ``layout[k]`` (``(from, to)``
    nodes, the space's ``EDGES``), summed (``combine="mean"``: averaged)."""

    def __init__(self, sets: Sequence[Sequence[str]], channels: int, combine: str,
                 layout: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self.mean = combine == "mean"
        self.layout = tuple(tuple(e) for e in layout)
        self._index = {edge: k for k, edge in enumerate(self.layout)}
        self._num_nodes = 1 + max(to for _, to in self.layout)
        self.edges = nn.ModuleList(
            nn.ModuleList(make_op(op, channels) for op in ops) for ops in sets
        )

    def _edge(self, k: int, x: Any) -> Any:
        ops = cast("nn.ModuleList", self.edges[k])
        if len(ops) == 0:
            return x.mul(0.0)
        out = ops[0](x)
        for op in ops[1:]:
            out = out + op(x)
        if self.mean and len(ops) > 1:
            out = out / len(ops)
        return out

    def forward(self, x: Any) -> Any:
        nodes = [x]
        for node in range(1, self._num_nodes):
            total = self._edge(self._index[(0, node)], nodes[0])
            for source in range(1, node):
                total = total + self._edge(self._index[(source, node)], nodes[source])
            nodes.append(total)
        return nodes[-1]

class NB201Network(nn.Module):
    """NAS-Bench-201's ``TinyNetwork``: stem, 3 stages of cells, head; returns logits."""

    def __init__(
        self, sets: Sequence[Sequence[str]], C: int, N: int, num_classes: int, combine: str,
        layout: Sequence[tuple[int, int]],
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C)
        )
        cells: list[nn.Module] = []
        c_prev = C
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                cells.append(ResNetBasicBlock(c_prev, width))
            cells.extend(NB201Cell(sets, width, combine, layout) for _ in range(N))
            c_prev = width
        self.cells = nn.ModuleList(cells)
        # the reference uses ReLU(inplace=True) here; out-of-place is numerically identical
        # and safe under torch.func transforms
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: Any) -> Any:
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        h = self.global_pooling(self.lastact(h)).flatten(1)
        return self.classifier(h)

    def nasx_thin_model(self, channels: int = 1) -> nn.Module:
        """TE-NAS's thin network of this one (the hook of
        :func:`nasx.proxies.tenas.thin_model`): the first cell's ops rebuilt with ``channels``
        channels, then ``BatchNorm2d + ReLU``, as TE-NAS's ``depth=1, use_stem=False`` supernet.
        Freshly initialised: the caller seeds torch."""
        cell = next(c for c in self.cells if isinstance(c, NB201Cell))
        sets = [[op_name(op) for op in ops] for ops in cell.edges]
        combine = "mean" if cell.mean else "sum"
        return nn.Sequential(NB201Cell(sets, channels, combine, cell.layout),
                             nn.BatchNorm2d(channels), nn.ReLU(inplace=False))


def op_name(op: nn.Module) -> str:
    """The NAS-Bench-201 name of a built op (the inverse of :func:`make_op`)."""
    if isinstance(op, ZeroOp):
        return "none"
    if isinstance(op, nn.Identity):
        return "skip_connect"
    if isinstance(op, nn.AvgPool2d):
        return "avg_pool_3x3"
    if isinstance(op, ReLUConvBN):
        return "nor_conv_1x1" if op[1].kernel_size[0] == 1 else "nor_conv_3x3"
    raise InvalidArchError(f"not a NAS-Bench-201 op: {type(op).__name__}")
