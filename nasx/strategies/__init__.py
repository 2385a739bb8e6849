"""Deprecated import path: the strategies live in :mod:`nasx.search` (``nasx.search.base``,
``nasx.search.random``, ``nasx.search.evolution``, ``nasx.search.pruning``).

``nasx.strategies.<module>`` keeps working and re-exports the same objects, with a
DeprecationWarning. The entry-point group third-party strategies register under is still
``nasx.strategies``; it is not deprecated.
"""

from __future__ import annotations

import warnings

warnings.warn("nasx.strategies is deprecated; import strategies from nasx.search "
              "(e.g. nasx.search.base.Strategy)", DeprecationWarning, stacklevel=2)
