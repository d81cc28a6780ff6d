"""Comparison: which model is better, by how much, how sure we are, and which to choose.

* :mod:`.rankings`: the five rankings (weighted, Bradley–Terry, Elo, Borda, Pareto).
* :mod:`.head_to_head`: every pair of models, overall and per category, with intervals,
  Holm-adjusted tests and verdicts; the detailed two-model report.
* :mod:`.baseline`: this run against a saved results file, paired on shared tasks.
* :mod:`.gates`: CI gates (regression, minimum score, p95 latency, cost per task).
* :mod:`.recommend`: a recommended model per use case.

Scores come from :mod:`pytest_modelbench.core.scoring`; nothing here defines its own. A new
ranking method goes in :mod:`.rankings`. May import: the foundation, ``core``, ``cost`` and
``profile``. Does not import pytest.
"""
