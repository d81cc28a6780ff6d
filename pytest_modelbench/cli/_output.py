"""Writing the command line's lines: section titles as pytest writes them, optional colour."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from typing import Any, TextIO

_COLORS = {"red": "31", "green": "32", "yellow": "33"}


class Writer:
    """Writes lines to ``stream``; ``=``/``-`` section titles and the tables span the terminal's
    width, found as pytest finds it (``COLUMNS``, else the terminal, else 80; under 40 counts as
    80), so ``modelbench show`` prints the session's summary as the plugin did in the same
    terminal; colour only on a terminal without ``NO_COLOR``."""

    def __init__(self, stream: TextIO | None = None, *, width: int | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        if width is None:
            width = shutil.get_terminal_size((80, 24)).columns
            width = 80 if width < 40 else width
        self.width = width
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.color = bool(isatty) and not os.environ.get("NO_COLOR")

    def line(self, text: str = "", color: str | None = None) -> None:
        if color and self.color and color in _COLORS:
            text = f"\x1b[{_COLORS[color]}m{text}\x1b[0m"
        self.stream.write(text + "\n")

    def sep(self, char: str, title: str, color: str | None = None) -> None:
        fill = max(2, (self.width - len(title) - 2) // 2)
        text = f"{char * fill} {title} {char * fill}"
        if len(text) < self.width:
            text += char * (self.width - len(text))
        self.line(text, color)

    def lines(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.line(text)

    def pipeline(self, lines: Iterable[Any]) -> None:
        """The :class:`~pytest_modelbench.session.pipeline.Line` objects of the summary."""
        for line in lines:
            if line.sep is not None:
                self.sep(line.sep, line.text, line.color)
            else:
                self.line(line.text, line.color)
