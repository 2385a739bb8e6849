"""Events the engine emits. Library code never prints: it calls ``on_event(event)``; the CLI
renders progress bars and a live top-k table from these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "RunStarted", "Evaluated", "RunFinished", "Progress", "Notice",
           "TrainProgress"]


@dataclass(frozen=True)
class Event:
    """Base class of every event."""


@dataclass(frozen=True)
class RunStarted(Event):
    run_id: str
    settings: dict[str, Any]
    budget: int | None
    time_budget: float | None
    resumed: int = 0  # evaluations replayed from a previous run


@dataclass(frozen=True)
class Evaluated(Event):
    step: int
    arch: str
    fitness: float
    status: str
    cached: bool
    seconds: float
    n_evaluated: int
    n_cached: int
    n_failed: int
    best_arch: str | None
    best_fitness: float
    top: tuple[tuple[str, float], ...] = field(default=())
    note: str = ""
    n_infeasible: int = 0  # architectures rejected by constraints (not scored)
    detail: str = ""  # the strategy's own progress line (e.g. pruning round)


@dataclass(frozen=True)
class Progress(Event):
    """Generic progress of long non-search work (``nasx eval``, ``nasx score``)."""

    done: int
    total: int
    what: str = ""
    detail: str = ""


@dataclass(frozen=True)
class RunFinished(Event):
    result: dict[str, Any]


@dataclass(frozen=True)
class Notice(Event):
    """Something the user should know once (e.g. which probe data a default picked)."""

    text: str
    kind: str = "info"


@dataclass(frozen=True)
class TrainProgress(Event):
    """Progress of training one network (:mod:`nasx.training`): emitted every few steps and at
    the end of each epoch (``epoch_done``, with the held-out figures). ``epoch`` counts from 1;
    losses and accuracies (in percent) of the training steps are running means over the epoch."""

    arch: str
    epoch: int
    epochs: int
    step: int
    steps: int
    train_loss: float
    train_acc: float
    lr: float
    elapsed: float  # seconds of training so far, this process
    eta: float | None  # estimated seconds left
    epoch_done: bool = False
    eval_loss: float | None = None
    eval_acc: float | None = None
    resumed_from: int = 0  # epochs restored from a checkpoint
