"""Write ``tests/data/api_golden.json``: the values of ``tests/api_golden.cases()``.

Run it only to pin the values of a deliberate change of behaviour (the file holds the values of
the code before the engine was reorganised); ``tests/test_api_golden.py`` compares with it.

    PYTHONPATH=. python scripts/make_api_golden.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from api_golden import cases  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    out = ROOT / "tests" / "data" / "api_golden.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(cases(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    print("rerun: PYTHONPATH=. python scripts/make_api_golden.py")


if __name__ == "__main__":
    main()
