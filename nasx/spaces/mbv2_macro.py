"""``mbv2-macro``: a MobileNetV2-style macro space for 224x224 images, defined by run.

The space searched by Zen-NAS (Lin et al., ICCV 2021) and AZ-NAS (Lee & Ham, CVPR 2024) on
ImageNet, in a small form: MobileNetV2's skeleton (Sandler et al., CVPR 2018) with, per stage,
a searched width (0.75x, 1x or 1.25x MobileNetV2's, rounded to a multiple of 8) and depth, and
per inverted-residual block a searched expansion (1, 3 or 6) and kernel (3, 5 or 7):

* stem ``Conv3x3(3, 32, stride 2)-BN-ReLU6``, then MobileNetV2's first block (depthwise
  ``Conv3x3-BN-ReLU6``, ``Conv1x1(16)-BN``);
* six searched stages (MobileNetV2 widths 24, 32, 64, 96, 160, 320; strides 2, 2, 2, 1, 2, 1;
  depths 1..3, 1..4, 1..4, 1..3, 1..3, 1..2); the first block of a stage has the stride and
  the new width, later blocks keep both and add their input;
* ``Conv1x1(1280)-BN-ReLU6``, global average pooling, ``Linear``.

Choice names: ``s{i}_width``, ``s{i}_depth`` and, for the blocks that exist,
``s{i}_b{j}_expand`` and ``s{i}_b{j}_kernel`` (``i`` from 1, ``j`` from 0). Search it under a
FLOPs limit, e.g. ``nasx search --space mbv2-macro --proxy zen --max-flops 450M --budget 20``.
``examples/spaces/mobilenet_space.py`` is the same space as a file to copy and edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .define_by_run import Trial, define_space

if TYPE_CHECKING:
    from torch import nn

__all__ = ["STAGES", "mbv2_macro"]

#: (MobileNetV2 width, stride, most blocks) of each searched stage
STAGES: tuple[tuple[int, int, int], ...] = (
    (24, 2, 3), (32, 2, 4), (64, 2, 4), (96, 1, 3), (160, 2, 3), (320, 1, 2))


def _round8(v: float) -> int:
    return max(8, int(round(v / 8)) * 8)


@define_space("mbv2-macro", input_size=224, size_limit=0)
def mbv2_macro(trial: Trial) -> nn.Module:
    """MobileNetV2-style macro space for 224x224 inputs (define-by-run).

    Per stage a width and a depth, per block an expansion and a kernel size.
    """
    from torch import nn

    from ._macro_net import MacroInvertedResidual

    def block(c_in: int, c_out: int, stride: int, expand: int, kernel: int) -> nn.Module:
        return MacroInvertedResidual(c_in, c_out, stride, kernel, expand, act=nn.ReLU6)

    c = 32
    layers: list[nn.Module] = [
        nn.Conv2d(trial.input_shape[0], c, 3, 2, 1, bias=False), nn.BatchNorm2d(c),
        nn.ReLU6(inplace=True), block(c, 16, 1, 1, 3)]
    c = 16
    for i, (width, stride, most) in enumerate(STAGES, start=1):
        c_out = trial.choice(f"s{i}_width", [_round8(width * f) for f in (0.75, 1.0, 1.25)])
        for j in range(trial.integer(f"s{i}_depth", 1, most)):
            expand = trial.choice(f"s{i}_b{j}_expand", [1, 3, 6])
            kernel = trial.choice(f"s{i}_b{j}_kernel", [3, 5, 7])
            layers.append(block(c, c_out, stride if j == 0 else 1, expand, kernel))
            c = c_out
    layers += [nn.Conv2d(c, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(inplace=True),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, trial.num_classes)]
    return nn.Sequential(*layers)
