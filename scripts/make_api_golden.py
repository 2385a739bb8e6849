"""Write ``tests/data/api_golden.json``: the values of ``tests/api_golden.cases()``.

Run it only to pin the values of a deliberate change of behaviour (the file holds the values of
the code before the engine was reorganised, except the te-nas scores of DARTS and NDS cells,
re-pinned when ``linear-regions`` version 2 gave those networks TE-NAS's thin network);
``tests/test_api_golden.py`` compares with it.
``--nasx-root DIR`` computes the values with the ``nasx`` package found in DIR (e.g. an export
of an older commit: ``git archive 04df1ab nasx | tar -x -C /tmp/old``) instead of this checkout's.

    PYTHONPATH=. python scripts/make_api_golden.py [--nasx-root /tmp/old]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description="write tests/data/api_golden.json")
    ap.add_argument("--nasx-root", default=str(ROOT),
                    help="folder holding the nasx package to compute with [this checkout]")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(Path(args.nasx_root).resolve()))
    from api_golden import cases

    import nasx

    print(f"nasx from {Path(nasx.__file__).parent}")
    torch.set_num_threads(1)
    out = ROOT / "tests" / "data" / "api_golden.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(cases(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    print("rerun: PYTHONPATH=. python scripts/make_api_golden.py --nasx-root "
          f"{args.nasx_root}")


if __name__ == "__main__":
    main()
