"""Checkpoints of a training run: written atomically every epoch, checked against the run.

A checkpoint holds the model, optimizer, scheduler and gradient-scaler states, the random states
of Python, numpy, torch (CPU and CUDA) and the run's shuffling/augmentation generator, the
number of finished epochs and the per-epoch history, plus the run's *identity* (space, options,
arch, protocol fields, data fingerprint, seed, device kind). It is written to a temporary file
in the same folder, flushed to disk, then moved over the old one with :func:`os.replace`, so a
kill at any moment leaves either the previous checkpoint or the new one. It is read with
``torch.load(weights_only=True)`` (no pickled code runs).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError

__all__ = ["CHECKPOINT_FORMAT", "save_checkpoint", "load_checkpoint", "rng_state",
           "set_rng_state"]

CHECKPOINT_FORMAT = 1


def rng_state(gen: torch.Generator) -> dict[str, Any]:
    """The random states of Python, numpy, torch (CPU, CUDA) and ``gen``, torch-loadable."""
    py = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np.asarray(np_state[1]).astype(np.int64)),
                  int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
        "generator": gen.get_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], gen: torch.Generator) -> None:
    """Restore what :func:`rng_state` saved."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    gen.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, :func:`os.replace`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": CHECKPOINT_FORMAT, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    keys = sorted(set(a) | set(b))
    return [k for k in keys if a.get(k) != b.get(k)]


def load_checkpoint(path: Path, identity: dict[str, Any], device: Any) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if there is one (None otherwise), checked to belong to the run
    ``identity``.

    Raises:
        ConfigError: the file is not a nasx training checkpoint, or belongs to another run
            (the message names what differs).
    """
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same answer
        raise ConfigError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); "
                          "delete it to start over") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT \
            or "identity" not in ckpt:
        raise ConfigError(f"{path} is not a nasx training checkpoint (format "
                          f"{CHECKPOINT_FORMAT}); delete it or use another --checkpoint-dir")
    diff = _differences(ckpt["identity"], identity)
    if diff:
        shown = "; ".join(f"{k}: checkpoint {str(ckpt['identity'].get(k))[:80]!r} vs this run "
                          f"{str(identity.get(k))[:80]!r}" for k in diff)
        raise ConfigError(f"checkpoint {path} belongs to another run ({shown}); use another "
                          "--checkpoint-dir, or delete it to start over")
    return ckpt
