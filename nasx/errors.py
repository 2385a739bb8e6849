"""The one exception tree of nasx.

Every error that nasx raises on purpose derives from :class:`NasxError`, so callers can catch
one class. User input is validated with these, never with ``assert``.
"""

from __future__ import annotations

__all__ = [
    "NasxError",
    "UnknownNameError",
    "RegistrationError",
    "InvalidArchError",
    "DataError",
    "ProxyError",
    "StoreError",
    "ConfigError",
    "SpaceError",
    "BudgetError",
    "ExecutorError",
    "ExportError",
]


class NasxError(Exception):
    """Base class of every error nasx raises on purpose."""


class UnknownNameError(NasxError, KeyError):
    """A proxy, space or strategy name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class RegistrationError(NasxError):
    """A component was registered with a wrong signature or metadata."""


class InvalidArchError(NasxError, ValueError):
    """An architecture string or object that is not valid in its space."""


class DataError(NasxError):
    """Probe data that cannot be found, read or used."""


class ProxyError(NasxError):
    """A proxy that cannot run on the given model or data."""


class StoreError(NasxError):
    """The score store cannot be opened or written."""


class ConfigError(NasxError, ValueError):
    """A bad option value or configuration file."""


class SpaceError(ConfigError):
    """A search-space definition that cannot work (e.g. a define-by-run space function that
    raises, returns no ``nn.Module`` or asks one choice name with two different option lists)."""


class BudgetError(NasxError, ValueError):
    """A search without any budget, or with a budget that cannot be met."""


class ExecutorError(NasxError):
    """Scoring on workers failed (a task still failing after its retries, a lost cluster)."""


class ExportError(NasxError):
    """A network that ``torch.export`` (or the ONNX exporter) cannot capture or write."""
