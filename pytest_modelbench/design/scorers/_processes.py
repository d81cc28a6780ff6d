"""What a program started, from ``/proc`` (Linux): its process tree, memory and the kill.

Used by the code runner (``_code.py``) on the benchmarking side, to watch the processes of a
running program and to kill every one of them at the end. On systems without ``/proc`` the
table is empty and the callers fall back to killing the process group.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Iterable, Mapping

PROC = "/proc"
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One line of the process table: ``/proc/PID/stat`` fields 4, 5, 6, 22 and 24."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    start_ticks: int
    rss_bytes: int


def has_proc() -> bool:
    return os.path.isdir(os.path.join(PROC, "self"))


def _parse_stat(pid: int, text: str) -> ProcessInfo | None:
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    _, _, rest = text.rpartition(")")
    fields = rest.split()
    if len(fields) < 22 or fields[0] in ("Z", "X"):  # a zombie holds no memory and cannot act
        return None
    try:
        return ProcessInfo(pid, int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]),
                           int(fields[21]) * _PAGE_SIZE)
    except ValueError:
        return None


def read_process(pid: int) -> ProcessInfo | None:
    """The process ``pid``, or None when it is gone, a zombie or unreadable."""
    try:
        with open(f"{PROC}/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return _parse_stat(pid, handle.read())
    except OSError:
        return None


def process_table() -> dict[int, ProcessInfo]:
    """Every live process this user can see: pid -> :class:`ProcessInfo` ({} without /proc)."""
    table: dict[int, ProcessInfo] = {}
    try:
        names = os.listdir(PROC)
    except OSError:
        return table
    for name in names:
        if name.isdigit():
            info = read_process(int(name))
            if info is not None:
                table[info.pid] = info
    return table


def descendants(table: Mapping[int, ProcessInfo], root: int) -> set[int]:
    """The processes below ``root`` in ``table`` (children, their children, ...), not root."""
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: set[int] = set()
    pending = list(children.get(root, ()))
    while pending:
        pid = pending.pop()
        if pid in found or pid == root:
            continue
        found.add(pid)
        pending.extend(children.get(pid, ()))
    return found


def memory_bytes(pid: int, info: ProcessInfo | None = None) -> int:
    """Proportional set size of ``pid`` (shared pages divided among their users, so the
    pages a forked child shares with its parent count once), else its resident set size."""
    try:
        with open(f"{PROC}/{pid}/smaps_rollup", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return info.rss_bytes if info is not None else 0


def kill_processes(pids: Iterable[int], expected: Mapping[int, int] | None = None) -> int:
    """SIGKILL each pid (after SIGSTOP to all, so none can fork while the others die).

    ``expected`` maps a pid to the start time it had when it was seen; a pid whose start time
    changed is another process that reused the number and is left alone. Returns how many
    were signalled.
    """
    targets = []
    for pid in set(pids):
        if pid <= 1 or pid == os.getpid():
            continue
        if expected is not None and pid in expected:
            info = read_process(pid)
            if info is None or info.start_ticks != expected[pid]:
                continue
        targets.append(pid)
    for number in (signal.SIGSTOP, signal.SIGKILL):
        for pid in targets:
            try:
                os.kill(pid, number)
            except (ProcessLookupError, PermissionError):
                pass
    return len(targets)
