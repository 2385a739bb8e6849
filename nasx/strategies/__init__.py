"""The search strategies (the ``nasx.strategies`` plugin kind).

* :mod:`nasx.strategies.base`: the strategy interface (:class:`~nasx.strategies.base.Strategy`,
  ask/tell with ``state_dict``) and :func:`~nasx.strategies.base.register_strategy`.
* :mod:`nasx.strategies.random`, :mod:`nasx.strategies.evolution`,
  :mod:`nasx.strategies.pruning`: the built-in strategies, declared under the entry-point group
  ``nasx.strategies`` like third-party ones.

The loop that drives a strategy is :mod:`nasx.engine.loop`. This ``__init__`` imports nothing:
strategies import no torch and load fast.
"""
