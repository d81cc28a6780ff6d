"""pytest hooks of pytest-modelbench (being written)."""
