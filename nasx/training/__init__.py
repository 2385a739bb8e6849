"""Training the found network: protocols as YAML data, seeded and resumable training,
held-out accuracy, results in the store.

* :func:`train`: train one architecture with a protocol (``nb201``, ``darts``, ``quick`` or a
  YAML file) and report its held-out accuracy; checkpointed every epoch and resumable;
* :func:`refine`: train the K best architectures of a search result;
* :func:`trained_accuracies`: stored (arch, accuracy) pairs, e.g. labels for a calibration;
* :func:`load_protocol` / :func:`list_protocols`: the protocols;
* :func:`plot_training`: the curves of a result (``nasx[plot]``).

The package is ``nasx.training`` (not ``nasx.train``) because ``nasx.train`` is the function:
no public name is both a function and a package.
"""

from __future__ import annotations

from .api import TrainResult, default_checkpoint_root, train, trained_accuracies
from .plot import plot_training
from .protocol import FIELDS, Protocol, list_protocols, load_protocol, parse_overrides
from .refinement import RefineResult, refine

__all__ = [
    "FIELDS",
    "Protocol",
    "RefineResult",
    "TrainResult",
    "default_checkpoint_root",
    "list_protocols",
    "load_protocol",
    "parse_overrides",
    "plot_training",
    "refine",
    "train",
    "trained_accuracies",
]
