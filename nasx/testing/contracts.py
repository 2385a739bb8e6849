"""Contract checks that every space and proxy must pass; plugin authors can run them too.

Example (in your own test suite)::

    from nasx.testing import check_space, check_proxy
    def test_my_space():
        check_space(MySpace(), seed=0)
    def test_my_proxy():
        check_proxy("my-proxy", space=MySpace(), seed=0)

Each check raises ``AssertionError`` with a message saying which property failed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..arch import Arch
from ..errors import InvalidArchError

__all__ = ["check_space", "check_proxy"]


def check_space(space: Any, seed: int = 0, n: int = 8, num_classes: int = 10,
                build: bool = True, input_size: int | None = None) -> None:
    """Round trip, valid mutation, per-seed determinism, build + forward on a small input."""
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    again = [space.sample(np.random.default_rng(seed)) for _ in range(1)]
    assert again[0] == archs[0], "sample() is not deterministic for a fixed seed"
    for a in archs:
        assert isinstance(a, Arch), f"sample() returned {type(a).__name__}, not Arch"
        assert a.space == space.name, f"arch.space {a.space!r} != space.name {space.name!r}"
        b = space.parse(str(a))
        assert b == a and b.key == a.key, f"parse(str(a)) != a for {a}"
        assert hash(b) == hash(a), f"hash differs after round trip for {a}"
        m = space.mutate(a, rng)
        assert isinstance(m, Arch) and m.space == space.name
        assert m != a, f"mutate() returned the same architecture {a}"
        assert space.parse(str(m)) == m, f"mutated arch does not round-trip: {m}"
        m1 = space.mutate(a, np.random.default_rng(seed + 1))
        m2 = space.mutate(a, np.random.default_rng(seed + 1))
        assert m1 == m2, "mutate() is not deterministic for a fixed seed"
    try:
        space.parse("this is not an architecture")
    except InvalidArchError:
        pass
    else:
        raise AssertionError("parse() accepted garbage instead of raising InvalidArchError")
    if build:
        import torch

        size = input_size or space.input_shape[1]
        x = torch.randn(2, space.input_shape[0], size, size)
        for a in archs[:2]:
            torch.manual_seed(seed)
            net1 = space.build(a, num_classes)
            torch.manual_seed(seed)
            net2 = space.build(a, num_classes)
            for (k1, p1), (k2, p2) in zip(net1.state_dict().items(), net2.state_dict().items()):
                assert k1 == k2 and torch.equal(p1, p2), \
                    f"build() is not deterministic under a fixed torch seed ({k1})"
            net1.eval()
            with torch.no_grad():
                out = net1(x)
            if isinstance(out, (tuple, list)):
                out = out[-1]
            assert tuple(out.shape) == (2, num_classes), \
                f"forward gave shape {tuple(out.shape)}, expected (2, {num_classes})"
            assert torch.isfinite(out).all(), "forward gave non-finite logits"


def check_proxy(name: str, space: Any, seed: int = 0, batch: Any = None, n_archs: int = 2,
                allow_failure: bool = False) -> list[float]:
    """The proxy runs on ``space``'s networks, returns finite floats, and is deterministic for
    a fixed seed (two independent scorers give the same value). Returns the values."""
    from ..data import draw_batch, synthetic_dataset
    from ..proxies.base import get_proxy
    from ..scoring import Scorer

    spec = get_proxy(name)
    assert isinstance(spec.higher_is_better, bool), "higher_is_better must be declared"
    if batch is None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = synthetic_dataset(num_classes=4, n_per_class=8, size=space.input_shape[1])
        batch = draw_batch(ds, 16, seed)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_archs):
        a = space.sample(rng)
        r1 = Scorer(space, batch, device="cpu", seed=seed).score(a, spec)
        r2 = Scorer(space, batch, device="cpu", seed=seed).score(a, spec)
        if not r1.ok:
            if allow_failure:
                continue
            raise AssertionError(f"proxy {name!r} failed on {a}: {r1.status} {r1.error}")
        assert r1.value is not None and math.isfinite(r1.value), f"{name}: non-finite value"
        assert r2.value is not None and math.isclose(r1.value, r2.value, rel_tol=1e-5,
                                                      abs_tol=1e-8), \
            f"proxy {name!r} is not deterministic for a fixed seed: {r1.value} vs {r2.value}"
        values.append(r1.value)
    return values
