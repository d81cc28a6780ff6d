"""The ``modelbench`` command line: results after the session.

``modelbench show | compare | merge | report | trend`` read results files written with
``--modelbench-json`` and hand their runs to the same end-of-session pipeline the pytest plugin
uses (``session/pipeline.py``), so every number is the session's (docs/cli.md). Also runnable
as ``python -m pytest_modelbench``. A face of the package, like the plugin; does not import
pytest.
"""

from __future__ import annotations

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
