"""Plain-text tables and labels for names that must stay whole, or at least distinguishable.

:func:`table` lays rows out in aligned columns with a rule under the header; given a
``width`` (the terminal's), it wraps cells instead of letting a line run past it: names
(:func:`wrap_label`: broken after ``-``, ``_``, ``:``, ``/``, ``.`` or a space, never cut),
text at its spaces, and headers at theirs. Where a name must stay on one line,
:func:`fit_labels` keeps every name that fits as it is and cuts the others in the middle
(``candidate-mo…version-1``), keeping as much of the end as it takes for no two labels to read
the same: names that differ only at the end (``…-version-1``, ``…-version-2``) stay apart.
:func:`wrap_text` wraps a paragraph. Does not import pytest.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

#: How a column may wrap in :func:`table`: a ``name`` (after separators, else anywhere) or
#: ``words`` (at spaces). Headers always wrap at their spaces when the column is narrowed.
WRAP_KINDS = ("name", "words")
#: The narrowest a name column is made before other columns give way.
NAME_COMFORT = 16
#: The narrowest a name column is ever made.
NAME_MIN = 8
#: The narrowest a column of words is made before names go below :data:`NAME_COMFORT`.
WORDS_COMFORT = 14
GAP = 2
_SEPARATORS = "-_:/.@ ,"


def wrap_label(name: str, width: int) -> list[str]:
    """``name`` in lines of at most ``width`` characters: broken after a separator
    (``-``, ``_``, ``:``, ``/``, ``.``, ``@``, ``,`` or a space) where one falls inside the line,
    else at the width. Nothing is left out: the lines joined give the name back."""
    if width < 1:
        raise ValueError(f"width {width!r} is not allowed; it must be at least 1")
    name = str(name)
    lines = []
    while len(name) > width:
        cut = max((i + 1 for i, char in enumerate(name[:width]) if char in _SEPARATORS), default=0)
        cut = cut if cut > width // 3 else width
        lines.append(name[:cut].rstrip(" ") or name[:cut])
        name = name[cut:].lstrip(" ") if name[cut - 1] == " " else name[cut:]
    lines.append(name)
    return lines


def wrap_text(text: str, width: int, indent: str = "") -> list[str]:
    """A paragraph in lines of at most ``width`` characters (words are not split unless one
    is longer than a line); continuation lines start with ``indent``."""
    return textwrap.wrap(text, width=max(width, len(indent) + 10), subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=True) or [""]


def _wrap_cell(text: str, width: int, kind: str | None) -> str:
    if _span(text) <= width or "\n" in text:
        return text
    if kind == "name":
        return "\n".join(wrap_label(text, width))
    return "\n".join(textwrap.wrap(text, width=width, break_on_hyphens=False, break_long_words=True) or [text])


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _span(text: str) -> int:
    """The width of a cell: its longest line (a cell may be wrapped already)."""
    return max(len(line) for line in text.split("\n"))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], colalign: Sequence[str], *,
          width: int | None = None, wrap: Mapping[int, str] | None = None) -> str:
    """A compact aligned table: header, dashes, rows; two spaces between columns.

    Built with tabulate's ``plain`` format without its header padding. With ``width``, a table
    wider than that is narrowed column by column until it fits, or until no column can give
    more: first headers longer than their cells (they wrap at their spaces), then name
    columns down to :data:`NAME_COMFORT` characters and the ``words`` columns of ``wrap``
    (wrapped at spaces) down to :data:`WORDS_COMFORT`, then words columns down to their
    longest word, and last name columns down to :data:`NAME_MIN`.
    ``wrap`` maps a column index to ``"name"`` or ``"words"``; other columns keep their cells
    on one line. A cell or header with line breaks is laid out as those lines.
    """
    wrap = dict(wrap or {})
    bad = [kind for kind in wrap.values() if kind not in WRAP_KINDS]
    if bad:
        raise ValueError(f"wrap kind {bad[0]!r} is not one of: {', '.join(WRAP_KINDS)}")
    headers = [str(h) for h in headers]
    cells = [[str(cell) for cell in row] for row in rows]
    natural = [max([_span(h), *(_span(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    widths = list(natural)
    if width is not None and sum(widths) + GAP * (len(widths) - 1) > width:
        widths = _narrow(headers, cells, natural, wrap, width)
    if widths != natural:
        headers = ["\n".join(textwrap.wrap(h, width=w, break_long_words=True)) if _span(h) > w and "\n" not in h
                   else h for h, w in zip(headers, widths)]
        cells = [[_wrap_cell(cell, w, wrap.get(i)) for i, (cell, w) in enumerate(zip(row, widths))]
                 for row in cells]
    shown = [max([_span(h), *(_span(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    rule = ["-" * w for w in shown]
    return tabulate([list(headers), rule, *cells], tablefmt="plain", disable_numparse=True,
                    colalign=tuple(colalign))


def _narrow(headers: list[str], cells: list[list[str]], natural: list[int], wrap: Mapping[int, str],
            width: int) -> list[int]:
    """Column widths that fit ``width`` as well as the columns allow (see :func:`table`)."""
    cell_width = [max([_span(row[i]) for row in cells] + [0]) for i in range(len(headers))]
    header_word = [_span(h) if "\n" in h else (_longest_word(h) or len(h)) for h in headers]
    floors = []  # per phase: the width a column may be narrowed to
    for i, kind in enumerate(wrap.get(i) for i in range(len(headers))):
        keep = max(cell_width[i], header_word[i])
        if kind == "words":
            words = max([_longest_word(row[i]) for row in cells] + [header_word[i]])
            floors.append((keep, max(words, min(keep, WORDS_COMFORT)), words, words))
        elif kind == "name":
            comfort = max(header_word[i], min(keep, NAME_COMFORT))
            floors.append((keep, comfort, comfort, max(header_word[i], min(keep, NAME_MIN))))
        else:
            floors.append((keep, keep, keep, keep))
    widths = list(natural)
    budget = width - GAP * (len(widths) - 1)
    for phase in range(4):
        while sum(widths) > budget:
            slack = [(widths[i] - floors[i][phase], widths[i], -i) for i in range(len(widths))]
            best = max(slack)
            if best[0] <= 0:
                break
            widths[-best[2]] -= 1
    return widths

ELLIPSIS = "…"


def _cut(name: str, width: int, tail: int) -> str:
    if len(name) <= width:
        return name
    if width <= 1:
        return name[:width]
    tail = max(0, min(tail, width - 1))
    head = width - 1 - tail
    return name[:head] + ELLIPSIS + (name[len(name) - tail:] if tail else "")


def fit_labels(names: Sequence[str], width: int) -> list[str]:
    """Each name cut to at most ``width`` characters, all labels distinct when the names are.

    Names that fit are unchanged. Longer ones keep their start and end around an ellipsis;
    the end grows (from a third of the width) until the labels are distinct. Where no cut of
    that width tells two names apart, a number is appended to the later ones.
    """
    if width < 1:
        raise ValueError(f"width {width!r} is not allowed; it must be at least 1")
    names = [str(name) for name in names]
    labels: list[str] = []
    for tail in range(min(max(width // 3, 1), width - 1), width):
        labels = [_cut(name, width, tail) for name in names]
        if len(set(labels)) == len(set(names)):
            return labels
    seen: dict[str, int] = {}
    result = []
    for name, label in zip(names, labels or [_cut(n, width, width // 3) for n in names]):
        count = seen.get(label, 0)
        seen[label] = count + 1
        if count:
            suffix = f"#{count + 1}"
            label = _cut(name, max(1, width - len(suffix)), width // 3) + suffix
        result.append(label)
    return result


def fit_label(name: str, names: Sequence[str], width: int) -> str:
    """The label of ``name`` among ``names`` (see :func:`fit_labels`)."""
    labels = dict(zip(names, fit_labels(names, width)))
    return labels.get(name, _cut(name, width, width // 3))
