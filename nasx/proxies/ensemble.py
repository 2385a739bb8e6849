"""Ensembles of proxies: several proxies' rankings of a population aggregated into one score.

An ensemble is a population proxy (see :mod:`nasx.population`): its members are scored per
architecture like any proxy (and stored under their own keys), then every member ranks the
evaluated population and the ranks are aggregated. Orientation: **higher is better**.

Definition. For ``n`` architectures, member ``k`` with weight ``w_k`` gives each architecture
its oriented rank ``r_k`` in ``1..n`` (``n`` the best under that member's orientation; ties share
their average rank; failures share the lowest rank). The ensemble's score is

* ``aggregation="rank"``: ``sum_k w_k * r_k`` (TE-NAS's rank sum), or
* ``aggregation="log-rank"``: ``sum_k w_k * log(r_k / n)`` (AZ-NAS's non-linear aggregation,
  Lee & Ham, CVPR 2024: an architecture ranked low by one member is penalised more than the
  rank sum does). Every value is ``<= 0``.

An architecture that every member failed on gets no score (NaN). Because the score of one
architecture depends on the others, a strategy that sees one architecture at a time ranks it
against everything evaluated so far, and ``nasx score`` ranks the architectures it is given.

Three ways to name an ensemble:

* ``"gradalign-i+naswot+flops"``: equal weights, :data:`DEFAULT_AGGREGATION`; anywhere a proxy
  name is accepted (``--proxy``, :func:`nasx.search`, :func:`~nasx.proxies.base.get_proxy`).
* a YAML (or JSON) file, given by its path in place of a proxy name::

      name: my-ensemble          # optional; default: the members joined by "+"
      aggregation: log-rank      # rank | log-rank
      members:                   # a list of names, or a mapping name -> weight
        gradalign-i: 1.0
        naswot: 0.5

* Python: :func:`ensemble` (a spec to pass as ``proxy=``) or :func:`register_ensemble` (a name).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import ProxySpec, add_name_resolver, get_proxy, register_proxy
from .calibrated import PREFIX as CALIBRATED_PREFIX  # its name resolver comes with it
from .ranks import AGGREGATIONS, aggregate_ranks

__all__ = [
    "AGGREGATIONS",
    "DEFAULT_AGGREGATION",
    "Ensemble",
    "ensemble",
    "ensemble_from_file",
    "is_ensemble_text",
    "parse_ensemble",
    "register_ensemble",
]

#: the aggregation of ``a+b+c`` (AZ-NAS's: a weak member pulls a cell down more than in a sum)
DEFAULT_AGGREGATION = "log-rank"
#: file suffixes read as ensemble definitions where a proxy name is expected
FILE_SUFFIXES = (".yaml", ".yml", ".json")
_MAX_DEPTH = 8


class Ensemble:
    """The combine function of an ensemble: weighted aggregation of the members' ranks.

    ``orientation`` maps each member to ``higher_is_better``; None looks the members up when
    first called (so a built-in ensemble can be registered before its members are)."""

    def __init__(self, members: Sequence[str], weights: Sequence[float], aggregation: str,
                 orientation: Mapping[str, bool] | None = None) -> None:
        if aggregation not in AGGREGATIONS:
            raise ConfigError(f"unknown ensemble aggregation {aggregation!r}; use one of "
                              f"{', '.join(AGGREGATIONS)}")
        self.members = tuple(members)
        self.weights = tuple(float(w) for w in weights)
        self.aggregation = aggregation
        self._orientation = None if orientation is None else dict(orientation)

    @property
    def orientation(self) -> dict[str, bool]:
        if self._orientation is None:
            self._orientation = {m: get_proxy(m).higher_is_better for m in self.members}
        return self._orientation

    def __call__(self, components: Mapping[str, np.ndarray]) -> np.ndarray:
        return aggregate_ranks(components, self.aggregation, members=self.members,
                               weights=self.weights, orientation=self.orientation)

    def __repr__(self) -> str:
        parts = ", ".join(f"{m}: {w:g}" for m, w in zip(self.members, self.weights))
        return f"Ensemble({{{parts}}}, aggregation={self.aggregation!r})"


def _check_members(members: Any, weights: Any) -> tuple[list[str], list[float]]:
    if isinstance(members, Mapping):
        if weights is not None:
            raise ConfigError("ensemble: give weights either in the members mapping or as "
                              "weights=, not both")
        names, ws = [str(k) for k in members], list(members.values())
    else:
        if isinstance(members, str) or not isinstance(members, Sequence):
            raise ConfigError(f"ensemble members must be a list of proxy names or a mapping "
                              f"name -> weight; got {members!r}")
        names = [str(m).strip() for m in members]
        ws = [1.0] * len(names) if weights is None else list(weights)
    if not names:
        raise ConfigError("an ensemble needs at least one member")
    if len(ws) != len(names):
        raise ConfigError(f"ensemble: {len(names)} members but {len(ws)} weights")
    if any(n == "" for n in names):
        raise ConfigError("ensemble: empty member name")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"ensemble: member(s) {', '.join(dup)} given more than once")
    out = []
    for n, w in zip(names, ws):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) \
                or w <= 0:
            raise ConfigError(f"ensemble: the weight of {n!r} must be a positive number; "
                              f"got {w!r}")
        out.append(float(w))
    return names, out


def ensemble(members: Sequence[str] | Mapping[str, float], *,
             weights: Sequence[float] | None = None,
             aggregation: str = DEFAULT_AGGREGATION, name: str | None = None,
             _depth: int = 0) -> ProxySpec:
    """A population proxy aggregating the ranks of ``members`` (not registered; pass it
    wherever a proxy is accepted, e.g. ``nasx.search(..., proxy=ensemble([...]))``).

    Example:
        >>> import nasx
        >>> from nasx.proxies.ensemble import ensemble
        >>> spec = ensemble({"params": 2.0, "flops": 1.0}, aggregation="rank")
        >>> spec.name, spec.higher_is_better, spec.components
        ('2*params+flops[rank]', True, ('params', 'flops'))
    """
    if _depth > _MAX_DEPTH:
        raise ConfigError("ensemble definitions nest too deeply")
    if name is not None and "@" in name:
        raise ConfigError(f"ensemble name {name!r} must not contain '@' (it separates the "
                          "version in the store keys)")
    names, ws = _check_members(members, weights)
    specs = [_resolve(n, _depth + 1) for n in names]
    needs: set[str] = set()
    for s in specs:
        needs |= set(s.needs)
    label = "+".join(n if w == 1.0 else f"{w:g}*{n}" for n, w in zip(names, ws))
    if aggregation != DEFAULT_AGGREGATION:
        label += f"[{aggregation}]"
    return ProxySpec(
        name=name or label,
        fn=None,
        higher_is_better=True,
        needs=frozenset(needs),
        paper="nasx ensemble (" + ("log-rank aggregation as AZ-NAS, Lee & Ham, CVPR 2024"
                                   if aggregation == "log-rank" else
                                   "rank sum as TE-NAS, Chen et al., ICLR 2021") + ")",
        description=f"{aggregation} aggregation of " + ", ".join(
            f"{n} (weight {w:g})" for n, w in zip(names, ws)),
        components=tuple(names),
        combine=Ensemble(names, ws, aggregation,
                         {n: s.higher_is_better for n, s in zip(names, specs)}),
        batch_split="invariant" if all(not s.split_sensitive for s in specs) else "sensitive",
    )


def _resolve(name: str, depth: int) -> ProxySpec:
    if is_ensemble_text(name):
        return parse_ensemble(name, _depth=depth)
    return get_proxy(name)


def is_ensemble_text(name: str) -> bool:
    """True when ``name`` names an ensemble rather than one registered proxy: members joined
    by ``+``, a weighted member (``2*name``), an aggregation suffix (``name[rank]``), or the
    path of an ensemble file (``.yaml``, ``.yml``, ``.json``)."""
    low = name.strip().lower()
    if low.startswith(CALIBRATED_PREFIX) and "+" not in low:  # a calibration model file
        return False
    return ("+" in low or "*" in low or low.endswith(FILE_SUFFIXES)
            or any(low.endswith(f"[{a}]") for a in AGGREGATIONS))


def parse_ensemble(text: str, *, _depth: int = 0) -> ProxySpec:
    """The ensemble named by ``text``: the path of an ensemble file, or members joined by
    ``+``, each optionally weighted as ``2*name`` (default weight 1), optionally followed by
    the aggregation in brackets: ``"gradalign-i+0.5*naswot[rank]"``. The name of every
    ensemble spec reads back to the same ensemble."""
    text = text.strip()
    if text.lower().endswith(FILE_SUFFIXES) and "+" not in text:
        return ensemble_from_file(text, _depth=_depth)
    aggregation = DEFAULT_AGGREGATION
    given = text
    if text.endswith("]") and "[" in text:
        text, _, agg = text[:-1].rpartition("[")
        aggregation = agg.strip()
    if "[" in text or "]" in text:
        raise ConfigError(f"ensemble {given!r}: one aggregation suffix at most, at the end "
                          "(e.g. 'a+b[rank]'); nest ensembles with an ensemble file")
    names: list[str] = []
    weights: list[Any] = []
    for part in (p.strip() for p in text.split("+")):
        if part == "":
            raise ConfigError(f"ensemble {text!r}: empty member (write members as "
                              "'proxy-a+proxy-b')")
        w: Any = 1.0
        if "*" in part:
            head, _, rest = part.partition("*")
            try:
                w = float(head)
            except ValueError:
                raise ConfigError(f"ensemble {text!r}: {part!r} is not 'weight*proxy'") \
                    from None
            part = rest.strip()
        names.append(part)
        weights.append(w)
    return ensemble(names, weights=weights, aggregation=aggregation, _depth=_depth)


#: an ensemble file larger than this, or with more YAML aliases, is refused before it is parsed
_MAX_FILE_BYTES = 1 << 20
_MAX_ALIASES = 32


def ensemble_from_file(path: str | Path, *, _depth: int = 0) -> ProxySpec:
    """Read an ensemble definition (YAML or JSON; see the module docstring)."""
    import yaml

    p = Path(path)
    if not p.is_file():  # a pipe or a device is never read
        raise ConfigError(f"ensemble file {str(p)!r} " + (
            "is not a regular file" if p.exists() else "does not exist"))
    try:
        if p.stat().st_size > _MAX_FILE_BYTES:
            raise ConfigError(f"ensemble file {str(p)!r} is larger than {_MAX_FILE_BYTES} "
                              "bytes")
        text = p.read_text(encoding="utf-8")
        # aliases are counted before anything is built ("billion laughs")
        if sum(isinstance(t, yaml.AliasToken) for t in yaml.scan(text)) > _MAX_ALIASES:
            raise ConfigError(f"ensemble file {str(p)!r} uses more than {_MAX_ALIASES} YAML "
                              "aliases (*name); write the members out")
        doc = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"ensemble file {str(p)!r} could not be read: "
                          f"{str(exc).splitlines()[0]}") from None
    if not isinstance(doc, Mapping) or "members" not in doc:
        raise ConfigError(f"ensemble file {str(p)!r} must be a mapping with 'members' (and "
                          "optionally 'name', 'aggregation', 'weights')")
    unknown = sorted(set(doc) - {"name", "members", "weights", "aggregation"})
    if unknown:
        raise ConfigError(f"ensemble file {str(p)!r}: unknown key(s) {', '.join(unknown)}")
    name = doc.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"ensemble file {str(p)!r}: name must be a non-empty string")
    return ensemble(doc["members"], weights=doc.get("weights"),
                    aggregation=str(doc.get("aggregation", DEFAULT_AGGREGATION)),
                    name=name, _depth=_depth)


def register_ensemble(name: str, members: Sequence[str] | Mapping[str, float], *,
                      weights: Sequence[float] | None = None,
                      aggregation: str = DEFAULT_AGGREGATION, version: str = "1",
                      batch_split: str | None = None, replace: bool = False,
                      paper: str | None = None, description: str | None = None) -> ProxySpec:
    """Register an ensemble under ``name`` (then usable as ``--proxy name``); nasx's own
    ensembles (:mod:`nasx.proxies.ensembles`) are registered by it too.

    Its needs are the union of its members', so the members must be registered first.
    ``version`` goes into its store key as any proxy's (bump it when the members, weights or
    aggregation change). ``batch_split`` defaults to the members' (``"invariant"`` only when
    every member's is); ``"sensitive"`` may be declared for any ensemble, ``"invariant"`` only
    when every member is.
    """
    spec = ensemble(members, weights=weights, aggregation=aggregation, name=name)
    if batch_split == "invariant" and spec.split_sensitive:
        raise ConfigError(f"ensemble {name!r}: batch_split='invariant' needs every member to be "
                          "invariant; leave it out to take the members'")
    return register_proxy(name, higher_is_better=True, needs=sorted(spec.needs),
                          version=version, paper=paper or spec.paper,
                          description=description or spec.description,
                          components=spec.components, combine=spec.combine, replace=replace,
                          batch_split=batch_split or spec.batch_split)


add_name_resolver(lambda name: parse_ensemble(name) if is_ensemble_text(name) else None)
