"""Register a custom proxy in a few lines and use it like a built-in one.

Run:  python examples/custom_proxy.py --data synthetic
"""

from __future__ import annotations

import argparse

import torch

import nasx


@nasx.register_proxy(
    "logit-margin",
    higher_is_better=True,
    needs=["data", "labels"],
    paper="(example) mean margin of the true-class logit at initialisation",
)
def logit_margin(model, batch, ctx) -> float:
    """Mean over the batch of (true-class logit - best other logit), in eval mode."""
    model.eval()
    with torch.no_grad():
        logits = model(batch.x)
    true = logits.gather(1, batch.y[:, None]).squeeze(1)
    other = logits.scatter(1, batch.y[:, None], float("-inf")).amax(1)
    return float((true - other).mean())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="synthetic")
    p.add_argument("--budget", type=int, default=10)
    args = p.parse_args()
    result = nasx.search(space="nasbench201", proxy="logit-margin", budget=args.budget,
                         data=args.data, store=False, seed=0)
    print(result.best, result.score)


if __name__ == "__main__":
    main()
