from __future__ import annotations

# Import what the plugin imports lazily, so that pytester's in-process runs (which unload the
# modules they import) never import numpy twice in one process.
import numpy  # noqa: F401

import pytest_modelbench.core.results  # noqa: F401
import pytest_modelbench.core.scoring  # noqa: F401
import pytest_modelbench.reports.terminal  # noqa: F401
import pytest_modelbench.session.analysis  # noqa: F401

pytest_plugins = ["pytester"]

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # test helpers (fake_openai, load_server)
