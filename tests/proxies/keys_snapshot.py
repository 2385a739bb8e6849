"""What every built-in proxy puts into a store key, as a JSON-ready mapping.

``tests/data/builtin_proxy_keys.json`` holds this snapshot as the proxies were registered before
their declarations moved into one place (every built-in's ``register_proxy(...)`` call;
``nasx-cross`` recorded from the code that introduced it); the test in ``test_registration.py``
compares it with the running code. Rewrite an entry only for a
proxy added since (``python tests/proxies/keys_snapshot.py``) or one whose ``version`` was bumped
on purpose (``nasx-cross`` 2: new members), never to accept a changed key of the same version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "builtin_proxy_keys.json"


def snapshot() -> dict[str, dict[str, Any]]:
    """Name -> key-relevant declaration of every proxy that nasx itself registers."""
    import nasx  # noqa: F401  (registers the built-ins)
    from nasx.registry import proxies
    from nasx.scoring import key_options

    out: dict[str, dict[str, Any]] = {}
    for name, spec in proxies.items():
        if proxies.source(name) != "nasx":
            continue
        row: dict[str, Any] = {
            "cache_id": spec.cache_id,
            "version": spec.version,
            "higher_is_better": spec.higher_is_better,
            "needs": sorted(spec.needs),
            "batch_split": spec.batch_split,
            "components": list(spec.components),
            "key_options": key_options(spec),
            "key_options_chunked": key_options(spec, chunk_size=4, grad_method="vmap"),
        }
        members = getattr(spec.combine, "members", None)
        if members is not None:  # an ensemble: its members, weights and aggregation
            row["ensemble"] = {"members": list(members),
                               "weights": list(spec.combine.weights),
                               "aggregation": spec.combine.aggregation}
        out[name] = row
    return out


if __name__ == "__main__":
    keep = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    now = snapshot()
    added = {k: v for k, v in now.items() if k not in keep}
    GOLDEN.write_text(json.dumps({**keep, **added}, indent=1, sort_keys=True) + "\n")
    print(f"{GOLDEN}: {len(added)} proxies added", file=sys.stderr)
