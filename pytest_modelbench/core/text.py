"""Plain-text tables, and labels for names that must stay whole or at least distinguishable.

:func:`table` lays rows out in aligned columns with a rule under the header. Tables give a
model name a fixed width: :func:`fit_labels` keeps every name that fits as it is and cuts the
others in the middle (``candidate-mo…version-1``), keeping as much of the end as it takes for
no two labels to read the same: names that differ only at the end (``…-version-1``,
``…-version-2``) stay apart. Does not import pytest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tabulate import tabulate


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], colalign: Sequence[str]) -> str:
    """A compact aligned table: header, dashes, rows; two spaces between columns.

    Built with tabulate's ``plain`` format without its header padding, so that the summary
    fits 100 columns.
    """
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(str(h)), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    rule = ["-" * width for width in widths]
    return tabulate([list(headers), rule, *cells], tablefmt="plain", disable_numparse=True,
                    colalign=tuple(colalign))

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
