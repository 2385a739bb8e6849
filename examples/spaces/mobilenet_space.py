"""A MobileNetV2-style macro space for 224x224 images, written as one define-by-run function.

The function builds the network and asks for each choice as it goes: per stage a width and a
depth, per block (only for the blocks that exist) an expansion and a kernel size, as Zen-NAS
and AZ-NAS search on ImageNet. nasx derives sampling, mutation and the notation (the choices as
JSON) from it. The built-in space ``mbv2-macro`` is this space.

Search it from the command line, under a FLOPs limit:

    nasx search --space examples/spaces/mobilenet_space.py:mobilenet_space \\
        --proxy zen --max-flops 450M --budget 20

or from Python: ``nasx.search(space=mobilenet_space, proxy="zen", max_flops="450M", budget=20)``.
"""

from __future__ import annotations

from torch import nn

#: (MobileNetV2 width, stride, most blocks) of each searched stage
STAGES = [(24, 2, 3), (32, 2, 4), (64, 2, 4), (96, 1, 3), (160, 2, 3), (320, 1, 2)]


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise kxk, project (1x1); the input is added where shapes match."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, kernel: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden,
                             bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def mobilenet_space(trial) -> nn.Module:
    """MobileNetV2-style macro space: width and depth per stage, expansion and kernel per
    block."""
    c = 32
    layers: list[nn.Module] = [
        nn.Conv2d(trial.input_shape[0], c, 3, 2, 1, bias=False), nn.BatchNorm2d(c),
        nn.ReLU6(inplace=True), InvertedResidual(c, 16, 1, 1, 3)]
    c = 16
    for i, (width, stride, most) in enumerate(STAGES, start=1):
        c_out = trial.choice(f"s{i}_width", [max(8, round(width * f / 8) * 8)
                                              for f in (0.75, 1.0, 1.25)])
        for j in range(trial.integer(f"s{i}_depth", 1, most)):
            expand = trial.choice(f"s{i}_b{j}_expand", [1, 3, 6])
            kernel = trial.choice(f"s{i}_b{j}_kernel", [3, 5, 7])
            layers.append(InvertedResidual(c, c_out, stride if j == 0 else 1, expand, kernel))
            c = c_out
    layers += [nn.Conv2d(c, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(inplace=True),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, trial.num_classes)]
    return nn.Sequential(*layers)
