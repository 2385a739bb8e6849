"""The torch modules of the NAS-Bench-Macro and ``mbv2-macro`` networks (imported when a network
is built)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["MacroIdentity", "MacroInvertedResidual", "MacroNetwork"]


class MacroIdentity(nn.Module):
    """Choice ``0``: the identity, or a strided ``Conv1x1 + BN`` where the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.project: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.project = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        return x if self.project is None else self.project(x)


class MacroInvertedResidual(nn.Module):
    """Choices ``1`` and ``2`` (and the blocks of ``mbv2-macro``): ``Conv1x1-BN-act`` expanding
    ``expansion`` times (absent when ``expansion`` is 1), depthwise ``Conv kxk (stride)-BN-act``,
    ``Conv1x1-BN``; plus the input where the shapes match. ``act`` is ``nn.ReLU`` (as in
    NAS-Bench-Macro) unless given (``nn.ReLU6`` in MobileNetV2)."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expansion: int,
                 act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                       act(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, kernel, stride=stride, padding=kernel // 2, groups=hidden,
                      bias=False),
            nn.BatchNorm2d(hidden), act(inplace=True),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        ]
        self.body = nn.Sequential(*layers)
        self.shortcut = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return y + x if self.shortcut else y


class MacroNetwork(nn.Module):
    """Stem, the searched layers in stages, ``Conv1x1(1280)-BN-ReLU``, pooling, classifier.

    Args:
        digits: one choice (0, 1 or 2) per searched layer.
        stages: searched layers per stage; each stage's first layer halves the resolution and
            doubles the channels.
        stem: channels of the stem convolution.
        num_classes: outputs of the classifier.
        head: channels of the last 1x1 convolution.
    """

    def __init__(self, digits: Sequence[int], stages: Sequence[int], stem: int,
                 num_classes: int, head: int = 1280) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        c = stem
        it = iter(digits)
        for n in stages:
            for i in range(n):
                c_out, stride = (2 * c, 2) if i == 0 else (c, 1)
                d = next(it)
                if d == 0:
                    layers.append(MacroIdentity(c, c_out, stride))
                elif d == 1:
                    layers.append(MacroInvertedResidual(c, c_out, stride, 3, 3))
                else:
                    layers.append(MacroInvertedResidual(c, c_out, stride, 5, 6))
                c = c_out
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(c, head, 1, bias=False), nn.BatchNorm2d(head),
                                  nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.head(self.layers(self.stem(x))))
