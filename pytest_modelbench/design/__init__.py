"""Benchmark design: how a team turns its use case into graded tasks.

* :mod:`.scorers`: checks for real tasks (answer extraction, JSON and JSON Schema, code
  execution, SQL, refusals, text metrics). Users import them as ``pytest_modelbench.scorers``,
  the public path of this package.
* :mod:`.datasets`: task lists from JSONL/CSV files (``tasks_from_jsonl``,
  ``tasks_from_csv``, also exported by ``pytest_modelbench``).
* :mod:`.judge`: the LLM-as-judge behind the ``judge`` fixture.

A new scorer goes in :mod:`.scorers` (a private module by concern, exported from its
``__init__``). May import: the foundation, ``core`` and ``models``. Does not import pytest.
"""
