"""``calibrated:<model file>`` -- a few-label calibration (:mod:`nasx.calibrate`) as a proxy.

**Higher is better.** The proxy's members are the model's feature proxies: they are scored per
architecture like any proxy (and stored under their own keys), then the fitted model maps each
member's score to its quantile in the model's stored reference and adds them with the fitted
weights. It is built like an ensemble (:mod:`nasx.proxies.ensemble`: components and a combine
function), but the score of one architecture does not depend on the others scored with it.
Its version is the model's key (labels, features and their versions, probe-data fingerprint,
seed), so two different fits never share a name and version.

Example::

    nasx search --space nasbench201 --proxy calibrated:cal.json
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import ProxySpec, add_name_resolver, get_proxy

__all__ = ["CALIBRATION_VERSION", "FORMAT", "PREFIX", "CalibratedModel", "calibrated_proxy",
           "load_model", "quantile_features", "raw_values", "save_model"]

PREFIX = "calibrated:"
#: moves with any change of the transform, the candidates or the selection rule
CALIBRATION_VERSION = "1"
FORMAT = "nasx-calibration"


def raw_values(values: Sequence[float | None] | np.ndarray) -> np.ndarray:
    """Raw feature values as floats, None -> NaN."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)



def quantile_features(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mid-rank quantile of each value among ``reference`` (sorted); NaN (failure) -> 0.5."""
    out = np.full(values.shape, 0.5)
    ok = np.isfinite(values)
    if len(reference) == 0:
        return out
    lo = np.searchsorted(reference, values[ok], side="left")
    hi = np.searchsorted(reference, values[ok], side="right")
    out[ok] = (lo + hi) / (2.0 * len(reference))
    return out



@dataclass(frozen=True)
class CalibratedModel:
    """A fitted calibration: ``score = intercept + sum_j w_j q_j(x_j)``, higher is better.

    Calling it with ``{feature name: array of raw values over architectures}`` gives the
    scores (the ``combine`` of the calibrated proxy). Values of one architecture do not depend
    on the others."""

    features: tuple[str, ...]
    versions: tuple[str, ...]
    references: tuple[np.ndarray, ...]
    kind: str
    params: Mapping[str, Any]
    weights: tuple[float, ...]
    intercept: float
    fitted_on: Mapping[str, Any]
    selection: tuple[Mapping[str, Any], ...] = field(default=())

    @property
    def key(self) -> str:
        """Hash of what the fit depends on: labels, feature proxies and versions, probe-data
        fingerprint, seed and the calibration version."""
        doc = {"calibration": CALIBRATION_VERSION,
               "features": [[n, v] for n, v in zip(self.features, self.versions)],
               "fitted_on": dict(self.fitted_on)}
        text = json.dumps(doc, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def digest(self) -> str:
        """Hash of the fitted content (model, weights, reference samples): a model file whose
        content was edited no longer matches it."""
        doc = {"kind": self.kind, "params": dict(self.params),
               "weights": [repr(w) for w in self.weights], "intercept": repr(self.intercept),
               "references": [[repr(float(x)) for x in r] for r in self.references]}
        text = json.dumps(doc, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def transform(self, components: Mapping[str, Sequence[float | None] | np.ndarray]
                  ) -> np.ndarray:
        """The quantile features (architectures x features)."""
        missing = [n for n in self.features if n not in components]
        if missing:
            raise ConfigError(f"calibrated model needs the scores of {', '.join(missing)}")
        cols = [quantile_features(raw_values(components[n]), ref)
                for n, ref in zip(self.features, self.references)]
        return np.stack(cols, axis=1)

    def __call__(self, components: Mapping[str, Sequence[float | None] | np.ndarray]
                 ) -> np.ndarray:
        return self.transform(components) @ np.asarray(self.weights) + self.intercept

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "calibration_version": CALIBRATION_VERSION,
            "key": self.key,
            "digest": self.digest,
            "model": {"kind": self.kind, "params": dict(self.params),
                      "weights": dict(zip(self.features, self.weights)),
                      "intercept": self.intercept},
            "features": [{"name": n, "version": v, "reference": [float(x) for x in ref]}
                         for n, v, ref in zip(self.features, self.versions, self.references)],
            "fitted_on": dict(self.fitted_on),
            "selection": [dict(s) for s in self.selection],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], source: str = "calibration model") -> \
            CalibratedModel:
        try:
            if doc.get("format") != FORMAT:
                raise ConfigError(f"{source}: not a nasx calibration model (format "
                                  f"{doc.get('format')!r}); write one with nasx.calibrate.fit")
            if str(doc.get("calibration_version")) != CALIBRATION_VERSION:
                raise ConfigError(f"{source}: calibration version "
                                  f"{doc.get('calibration_version')!r}, this nasx reads "
                                  f"{CALIBRATION_VERSION!r}; refit the model")
            feats = doc["features"]
            names = tuple(str(f["name"]) for f in feats)
            model = doc["model"]
            m = cls(features=names, versions=tuple(str(f["version"]) for f in feats),
                    references=tuple(np.asarray(f["reference"], dtype=np.float64)
                                     for f in feats),
                    kind=str(model["kind"]), params=dict(model["params"]),
                    weights=tuple(float(model["weights"][n]) for n in names),
                    intercept=float(model["intercept"]), fitted_on=dict(doc["fitted_on"]),
                    selection=tuple(doc.get("selection", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: malformed calibration model ({exc!r}); refit it") \
                from None
        if doc.get("key") != m.key or doc.get("digest") != m.digest:
            raise ConfigError(f"{source}: its key/digest does not match its content; the "
                              "file was edited, refit it")
        return m


def save_model(model: CalibratedModel, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` as JSON to ``path``; returns the path."""
    p = Path(path)
    p.write_text(json.dumps(model.to_dict(), indent=1, default=str) + "\n")
    return p


def load_model(path: str | os.PathLike[str]) -> CalibratedModel:
    """Read a model file written by :func:`save_model`."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"calibration model file {str(path)!r} does not exist; fit one with "
                          "nasx.calibrate.fit_from_truth")
    try:
        doc = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"calibration model file {str(p)!r} could not be read: {exc}") \
            from None
    if not isinstance(doc, Mapping):
        raise ConfigError(f"calibration model file {str(p)!r} is not a JSON object")
    return CalibratedModel.from_dict(doc, source=str(p))



def calibrated_proxy(path: str, model: CalibratedModel | None = None) -> ProxySpec:
    """The proxy of the model file ``path`` (or of ``model``, named after ``path``)."""
    m = load_model(path) if model is None else model
    specs = [get_proxy(n) for n in m.features]
    needs: set[str] = set()
    for s in specs:
        needs |= set(s.needs)
    terms = ", ".join(f"{n} ({w:+.3g})" for n, w in zip(m.features, m.weights))
    return ProxySpec(
        name=f"{PREFIX}{path}",
        fn=None,
        higher_is_better=True,
        needs=frozenset(needs),
        paper="nasx few-label calibration (nasx.calibrate)",
        version=m.key,
        description=f"{m.kind} model fitted on {m.fitted_on.get('n_labels')} labels over "
                    f"quantiles of {terms}",
        components=m.features,
        combine=m,
        batch_split="invariant" if all(not s.split_sensitive for s in specs) else "sensitive",
    )


def _resolve(name: str) -> ProxySpec | None:
    if not name.startswith(PREFIX) or "+" in name:  # "+": an ensemble with a calibrated member
        return None
    return calibrated_proxy(name[len(PREFIX):].strip())


add_name_resolver(_resolve)
