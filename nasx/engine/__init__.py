"""The engine: what runs a search, a score run or an evaluation.

* :mod:`nasx.engine.loop`: :class:`~nasx.engine.loop.SearchLoop`, one search as
  ask -> check -> score -> tell -> record -> emit steps, and ``run_search``.

``nasx.search()`` (:mod:`nasx.api`) is the public entry; this ``__init__`` imports nothing.
"""
