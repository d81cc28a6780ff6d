"""The core: what a benchmark run is, and the one definition of its score.

* :mod:`.config`: categories with their weights, difficulties with their runs and
  multipliers, and :class:`~.config.TaskSpec` (what the ``modelbench`` marker says).
* :mod:`.records`: :class:`~.records.RunRecord`, one run of one task against one model: what
  crosses the xdist boundary and what the results file stores.
* :mod:`.table`: :class:`~.table.RunTable`, the records as numpy columns.
* :mod:`.scoring`: the score estimator (task scores, weighted category and overall means with
  task-clustered standard errors) that every score, ranking and comparison uses.
* :mod:`.results`: the results file: build, write atomically, read back.

May import: the foundation (``pytest_modelbench.stats``, ``pytest_modelbench._exceptions``).
Every other wing may import the core; the core imports none of them. Does not import pytest.
"""
