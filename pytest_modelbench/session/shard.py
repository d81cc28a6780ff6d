"""Shards of a benchmark: ``--modelbench-shard=K/N`` runs a deterministic 1/N of the tasks.

A task's shard is a function of its id alone: the first 8 bytes of the SHA-256 of the task
id (UTF-8), read as a big-endian integer, modulo N, plus 1. It is the same on every machine,
operating system and Python version (Python's own ``hash()`` of a string is salted per
process and is not used). Every model and every run of a task fall in the task's shard, so
the pairing of models (and of a run with its baseline) on shared tasks holds within each
shard, and the N shards' results merged (``modelbench merge``) are exactly the results of one
run over all tasks. Tests that are not benchmark tasks are sharded by their node id, so each
runs in exactly one shard. Does not import pytest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def shard_of(task: str, count: int) -> int:
    """The shard (1 … ``count``) that ``task`` belongs to."""
    if count < 1:
        raise ValueError(f"shard count {count!r} is not allowed; it must be >= 1")
    digest = hashlib.sha256(task.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def split_shard(items: Sequence[T], task_of: Callable[[T], str], shard: tuple[int, int]) -> tuple[list[T], list[T]]:
    """``(kept, dropped)``: the items whose task is in shard ``K`` of ``N`` (``shard = (K, N)``),
    in their order, and the others."""
    index, count = shard
    kept: list[T] = []
    dropped: list[T] = []
    for item in items:
        (kept if shard_of(task_of(item), count) == index else dropped).append(item)
    return kept, dropped
