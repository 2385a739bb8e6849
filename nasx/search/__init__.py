"""The search: the loop and the strategies it drives.

* :mod:`nasx.search.loop`: :class:`~nasx.search.loop.SearchLoop`, one search run as
  ask -> check -> score -> tell -> record -> emit steps, and ``run_search``, which sets a run up
  (space, proxy, strategy, probe batch, store, executor) and runs its loop. ``nasx.search()``
  (:mod:`nasx.api`) is the public entry.
* :mod:`nasx.search.base`: the strategy plugin interface (:class:`~nasx.search.base.Strategy`).
* :mod:`nasx.search.random`, :mod:`nasx.search.evolution`, :mod:`nasx.search.pruning`: the
  built-in strategies, registered with :func:`nasx.search.base.register_strategy` under the
  entry-point group ``nasx.strategies``.

``nasx.search`` as an attribute of the ``nasx`` package is the search *function*; import the
modules of this package with ``from nasx.search import loop`` or
``from nasx.search.loop import SearchLoop`` (``import nasx.search.loop as m`` resolves
``nasx.search`` to the function and fails).

This package's ``__init__`` imports nothing: strategies import no torch and load fast.
"""
