"""``python -m pytest_modelbench``: the ``modelbench`` command line."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
