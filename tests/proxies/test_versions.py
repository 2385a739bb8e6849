"""Version discipline: a built-in proxy's ``version`` (part of every store key) must change
when its values change.

The scores of a fixed tiny set of cells (NAS-Bench-201, C=8, N=1, 8x8 inputs, 16 synthetic
images of 4 classes, seed 0) are pinned here per (proxy, version). If the code of a proxy changes
its values and its version stays the same, ``test_values_pinned_per_version`` fails: bump the
version in the proxy's ``register_proxy(...)`` call (stores then stop serving the old values) and
re-pin the values printed by the failure. A new built-in proxy must be pinned too.
"""

from __future__ import annotations

import warnings

import pytest

import nasx  # noqa: F401  (registers the built-ins)
from nasx.proxies.base import get_proxy
from nasx.registry import proxies

#: proxy -> (version, scores of CELLS); floats compared with a relative tolerance RTOL
PINNED = {
    "fisher": ('1', [0.3312497649708961, 0.5428330954063983, 0.34707656768257367]),
    "flops": ('1', [0.481696, 0.496672, 0.700192]),
    "grad-norm": ('1', [16.4813029788654, 22.032956028828313, 22.462268338005444]),
    "gradalign-i": ('1', [14592.125, 15315.625, 21302.625]),
    "gradalign-ii": ('2', [42.67199200146932, 42.81857096901452, 44.11399512297183]),
    "gradalign-i-frac": ('1', [0.2787259209634846, 0.28583598716101133, 0.2823031272726994]),
    "gradalign-ii-norm": ('1', [-0.7905194897100696, -0.7374251942758416, -0.8114070947949781]),
    "meco": ('1', [7.304928238598601, 6.986291217771155, 10.332416659005483]),
    "swap": ('2', [2817.21875, 3646.53125, 3586.96875]),
    "az-expressivity": ('1', [13.435127723887561, 14.761841976390896, 14.47072778902833]),
    "az-progressivity": ('1', [-0.13133538494467079, -0.001266641023286219, 0.0695296731369004]),
    "az-trainability": ('1', [-0.30866415778032164, -0.30605795671434244, -0.2592726422349719]),
    "az-complexity": ('1', [0.481696, 0.496672, 0.700192]),
    "vkdnw-entropy": ('1', [1.1162668628324648, 1.1399684076082996, 1.140616055580665]),
    "vkdnw-dim": ('1', [48.0, 57.0, 66.0]),
    "vkdnw": ('1', [48.4847885388596, 57.49508198896832, 66.49536325890894]),
    "zico": ('1', [156.23592812757929, 171.22644285432497, 212.15361131274636]),
    "gradsign": ('1', [147920.0, 153380.0, 216302.0]),
    "grasp": ('1', [7.057305992894246, 5.102366470581963, 9.372772708185693]),
    "jacob-cov": ('1', [-17.543093997609937, -17.026209545950238, -17.310992396243556]),
    "linear-regions": ('2', [1417.0, 1496.0, 1505.0]),
    "naswot": ('1', [133.74453558727504, 136.84542189542478, 139.84537642100082]),
    "ntk": ('1', [4.337058076193826, 7.468436887088451, 6.3152982632828465]),
    "params": ('1', [0.055164, 0.05662, 0.07958]),
    "snip": ('1', [25.42443762313723, 33.06229169575839, 33.95526039508097]),
    "synflow": ('1', [1454310200.6048257, 1500322285.6046438, 102857523442.15182]),
    "zen": ('1', [22.97080296278, 21.322400756180286, 29.500699996948242]),
}
CELLS = (1, 5000, 9930)  # NAS-Bench-201 indices
#: the sign-counting proxies (gradalign-*, gradsign) move by ~1e-4 relative between processes
#: (a near-zero gradient component flips sign with the floating-point summation order); a change
#: of behaviour moves values far more than 1e-3
RTOL = 1e-3


def _builtin_names() -> list[str]:
    out = []
    for name in proxies.names():
        spec = get_proxy(name)
        module = getattr(spec.fn, "__module__", "") or ""
        # a device-specific proxy is a measurement (e.g. latency), not a pinnable function
        if not spec.population and not spec.device_specific and \
                module.startswith("nasx.proxies"):
            out.append(name)
    return sorted(out)


@pytest.fixture(scope="module")
def scorer():
    from nasx.api import make_space
    from nasx.data import draw_batch, synthetic_dataset
    from nasx.scoring import Scorer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = synthetic_dataset(num_classes=4, n_per_class=8, size=8)
    batch = draw_batch(ds, 16, 0)
    space = make_space("nasbench201", C=8, N=1, input_size=8)
    return Scorer(space, batch, device="cpu", seed=0), [space.from_index(i) for i in CELLS]


def test_every_builtin_proxy_is_pinned():
    missing = sorted(set(_builtin_names()) - set(PINNED))
    assert not missing, f"pin the values of the new built-in proxies {missing} in PINNED"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_values_pinned_per_version(scorer, name):
    sc, cells = scorer
    spec = get_proxy(name)
    version, expected = PINNED[name]
    got = [r.value if r.ok else r.status for r in (sc.score(c, name) for c in cells)]
    if spec.version != version:
        pytest.fail(f"{name}: version {version} -> {spec.version}; re-pin PINNED[{name!r}] "
                    f"= ({spec.version!r}, {got!r})")
    ok = len(got) == len(expected) and all(
        (g == e) if isinstance(e, str) else (isinstance(g, float) and g == pytest.approx(
            e, rel=RTOL, abs=1e-12))
        for g, e in zip(got, expected))
    assert ok, (f"{name} (version {version}) now scores {got} instead of {expected}: its "
                "behaviour changed; bump its version in register_proxy(...) and re-pin")


def test_version_is_part_of_the_key():
    from dataclasses import replace

    spec = get_proxy("snip")
    assert replace(spec, version="2").cache_id != spec.cache_id
