"""A scripted search: GradAlign-I over NAS-Bench-201, with progress from events, then a
second look at the top cells with GradAlign-II.

Run:  python examples/scripted_search.py --data path/to/probe.npz --budget 50
"""

from __future__ import annotations

import argparse

import nasx
from nasx.events import Evaluated


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="cifar10", help="probe data (see `nasx search --help`)")
    p.add_argument("--budget", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    def progress(event) -> None:
        if isinstance(event, Evaluated) and event.n_evaluated % 10 == 0:
            print(f"{event.n_evaluated} evaluated, best {event.best_fitness:.1f}")

    result = nasx.search(space="nasbench201", proxy="gradalign-i", strategy="random",
                         budget=args.budget, data=args.data, seed=args.seed,
                         on_event=progress)
    print("best:", result.best, "score:", result.score)
    top = [arch for arch, _ in result.top[:5]]
    for r in nasx.score(top, space="nasbench201", proxy="gradalign-ii", data=args.data,
                        seed=args.seed):
        print(f"{r.value:10.2f}  {r.arch}")


if __name__ == "__main__":
    main()
