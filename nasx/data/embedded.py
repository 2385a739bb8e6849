"""The probe set shipped inside the package: its name, file and checksum.

``cifar10-probe`` is 500 real CIFAR-10 training images, 50 per class (provenance, checksum and
citation: ``nasx/_probe/README.md``; built by ``scripts/build_probe_set.py``). It is what the
engine uses when no data is given, so a first run needs no download. Loading it
(:func:`nasx.data.load_embedded`) checks the file against :data:`EMBEDDED_SHA256`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EMBEDDED", "EMBEDDED_NOTE", "EMBEDDED_SHA256", "embedded_probe_path"]

#: name of the probe set shipped inside the package (the default probe data)
EMBEDDED = "cifar10-probe"
_EMBEDDED_FILE = Path(__file__).resolve().parent.parent / "_probe" / "cifar10_probe.npz"
#: sha256 of ``nasx/_probe/cifar10_probe.npz`` (built by ``scripts/build_probe_set.py``)
EMBEDDED_SHA256 = "2c6d7c8a8bfd1ab2fdeb942188026b1959da21d6660270e909c751097cea9d36"
#: what the CLI tells the user once when the embedded set is used by default
EMBEDDED_NOTE = (
    "probe data: the 500-image CIFAR-10 probe set shipped with nasx (no --data given); "
    "pass --data cifar10 --download for the full training set, or --data with your own images"
)


def embedded_probe_path() -> Path:
    """Path of the probe set shipped inside the package."""
    return _EMBEDDED_FILE
