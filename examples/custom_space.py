"""Your own search space in ten lines: one function that builds the network and asks for its
choices as it goes (define-by-run), then a search over it from Python.

Run:  python examples/custom_space.py --budget 20
"""

from __future__ import annotations

import argparse

from torch import nn

import nasx


def my_space(trial) -> nn.Module:
    width = trial.choice("width", [8, 16, 32])
    layers = [nn.Conv2d(trial.input_shape[0], width, 3, padding=1), nn.ReLU()]
    for i in range(trial.integer("depth", 1, 4)):
        k = trial.choice(f"kernel{i}", [1, 3, 5])  # asked only for the layers that exist
        act = nn.ReLU() if trial.choice(f"act{i}", ["relu", "gelu"]) == "relu" else nn.GELU()
        layers += [nn.Conv2d(width, width, k, padding=k // 2), nn.BatchNorm2d(width), act]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, trial.num_classes))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=None, help="probe data (default: the embedded CIFAR-10 "
                   "probe set; see `nasx search --help`)")
    p.add_argument("--budget", type=int, default=20)
    p.add_argument("--input-size", type=int, default=32)
    args = p.parse_args()
    result = nasx.search(space=my_space, space_opts={"input_size": args.input_size},
                         proxy="naswot", strategy="evolution", budget=args.budget,
                         data=args.data, batch_size=16, seed=0)
    print("best:", result.best, "score:", result.score)  # the choices, as JSON


if __name__ == "__main__":
    main()
