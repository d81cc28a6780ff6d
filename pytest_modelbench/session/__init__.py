"""A benchmark session from start to end, without pytest.

* :mod:`.settings`: the session's settings from options, ini values and ``[tool.modelbench]``.
* :mod:`.analysis`: records → table → scores → costs → comparisons: the analysis blocks of
  the results document.
* :mod:`.prefetch`, :mod:`.progress`: the lookahead of a concurrent session (which runs to
  probe ahead of their turn) and what it says while it runs (docs/concurrency.md).

The pytest plugin (``pytest_modelbench.plugin``) and the ``modelbench`` command line are
faces over this package. May import every wing below it. Does not import pytest.
"""
