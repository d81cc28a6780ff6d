"""Performance profiling: how fast and how steady a model is.

* :mod:`.summary`: latency and TTFT percentiles, token totals and load-profile summaries of
  the runs.
* :mod:`.load`: ``model.load()``: concurrent streaming load (throughput, TTFT, ITL, TPOT,
  goodput) with :mod:`.loadgen`, the load generator, and :mod:`.prometheus`, server gauges
  sampled during the load.
* :mod:`.consistency`: run-to-run consistency (pass^k, mixed runs, within-task variance).

May import: the foundation, ``core`` and ``models``. Does not import pytest.
"""
