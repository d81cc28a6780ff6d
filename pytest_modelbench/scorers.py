"""Scorers, at their public path: ``from pytest_modelbench.scorers import check_json``.

The code lives in :mod:`pytest_modelbench.design.scorers`, in the benchmark-design wing; this
module only re-exports its public names so that benchmark suites import from one short,
stable path.
"""

from __future__ import annotations

from .design.scorers import *  # noqa: F403
from .design.scorers import __all__  # noqa: F401
