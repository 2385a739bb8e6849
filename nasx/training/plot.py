"""Training curves (optional extra: ``pip install 'nasx[plot]'``; matplotlib imported lazily,
object-oriented API only, so the global pyplot state is never touched)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..plot import require_matplotlib

__all__ = ["plot_training"]


def plot_training(result: Any, path: str | os.PathLike[str]) -> str:
    """Loss, accuracy and learning rate per epoch of a training result (a
    :class:`~nasx.training.TrainResult` or its ``to_dict()``), saved to ``path``."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    hist: list[Mapping[str, Any]] = d["history"]
    ep = [h["epoch"] for h in hist]
    fig = Figure(figsize=(11, 3.4))
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 3)
    ax[0].plot(ep, [h["train_loss"] for h in hist], label="train")
    ax[0].plot(ep, [h["eval_loss"] for h in hist], label="held-out")
    ax[0].set_title("cross-entropy")
    ax[1].plot(ep, [h["train_acc"] for h in hist], label="train")
    ax[1].plot(ep, [h["eval_acc"] for h in hist], label="held-out")
    ax[1].set_title("accuracy (%)")
    ax[2].plot(ep, [h["lr"] for h in hist])
    ax[2].set_title("learning rate (epoch start)")
    for a in ax:
        a.set_xlabel("epoch")
    ax[0].legend()
    proto = d.get("protocol", {}).get("name", "")
    fig.suptitle(f"{d.get('space', '')} / {proto}: {str(d.get('arch', ''))[:90]}", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=110)
    return os.fspath(path)
