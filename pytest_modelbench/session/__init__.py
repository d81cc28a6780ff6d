"""A benchmark session from start to end, without pytest.

* :mod:`.settings`: the session's settings from options, ini values and ``[tool.modelbench]``.
* :mod:`.analysis`: records → table → scores → costs → comparisons: the analysis blocks of
  the results document.

The pytest plugin (``pytest_modelbench.plugin``) and the ``modelbench`` command line are
faces over this package. May import every wing below it. Does not import pytest.
"""
