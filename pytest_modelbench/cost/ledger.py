"""A spend counter shared by processes, for ``--modelbench-max-cost=USD``.

Every process of a session (the pytest-xdist controller and its workers) opens the same
:class:`SpendLedger` file. Before each model call a process calls :meth:`SpendLedger.check`,
which raises :class:`BudgetExceeded` once the recorded total has reached the cap; after the call
it records the call's cost with :meth:`SpendLedger.add`.

Storage is an SQLite database in WAL mode. :meth:`~SpendLedger.add` increments the total in one
``BEGIN IMMEDIATE`` transaction (SQLite's write lock is taken at ``BEGIN``), so concurrent adds
from several processes are serialised and none is lost. Amounts are kept as integer
nano-dollars (1e-9 USD), so the total does not depend on the order of the adds.

Guarantee: the total never exceeds the cap by more than the calls in flight: one per
process making one call at a time, up to a model's concurrency per process with
``--modelbench-concurrency`` (docs/concurrency.md). A process checks, calls, then adds; once
the total reaches the cap every later check raises, so the only calls that can still be added
are those already past their check. Calls whose cost is unknown (no price)
are counted in ``unpriced_calls`` but cannot count towards the cap.

Does not import pytest.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from .._exceptions import ModelbenchError

#: Resolution of the stored amounts: 1 unit = 1e-9 USD.
NANO_USD_PER_USD = 1_000_000_000
#: Largest single amount accepted (keeps the integer total far from int64 overflow).
MAX_AMOUNT_USD = 1_000_000.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    total_nano_usd INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    unpriced_calls INTEGER NOT NULL
)
"""


class BudgetExceeded(ModelbenchError):
    """The session's spend has reached ``--modelbench-max-cost``; no more model calls are made.

    ``cap_usd`` is the cap, ``total_usd`` the spend recorded when the check failed.
    """

    def __init__(self, message: str, *, cap_usd: float, total_usd: float) -> None:
        super().__init__(message)
        self.cap_usd = cap_usd
        self.total_usd = total_usd


@dataclasses.dataclass(frozen=True, slots=True)
class SpendSnapshot:
    """The ledger at one moment: spend in USD, calls added, calls whose cost was unknown."""

    total_usd: float
    calls: int
    unpriced_calls: int
    cap_usd: float | None

    @property
    def remaining_usd(self) -> float | None:
        """Cap − total, at least 0; None without a cap."""
        return None if self.cap_usd is None else max(0.0, self.cap_usd - self.total_usd)

    def to_dict(self) -> dict[str, Any]:
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["remaining_usd"] = self.remaining_usd
        return data


def _check_amount(value: Any, what: str, *, positive: bool) -> float:
    low = "> 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} {value!r} is not a number; it must be a finite number {low} (USD)")
    amount = float(value)
    if not math.isfinite(amount) or amount < 0 or (positive and amount == 0) or amount > MAX_AMOUNT_USD:
        raise ValueError(
            f"{what} {value!r} is not allowed; it must be a finite number {low} (USD), "
            f"at most {MAX_AMOUNT_USD:,.0f}"
        )
    return amount


def _to_nano(amount_usd: float) -> int:
    return round(amount_usd * NANO_USD_PER_USD)


class SpendLedger:
    """A file-backed spend counter shared by processes, with an optional cap in USD.

    ``path`` is the SQLite file (created with its table when missing; the parent directory
    must exist: the controller creates it). Every process opens its own ``SpendLedger`` on
    the same path; an object used after ``fork`` reopens its connection in the child.
    ``cap_usd`` None counts without a cap. ``timeout_s`` is how long a process waits for
    another one's write lock.
    """

    def __init__(self, path: str | os.PathLike[str], cap_usd: float | None = None, *,
                 timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.cap_usd = None if cap_usd is None else _check_amount(cap_usd, "cap_usd", positive=True)
        self._cap_nano = None if self.cap_usd is None else _to_nano(self.cap_usd)
        self._timeout_s = _check_amount(timeout_s, "timeout_s", positive=True)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(
                f"spend ledger directory {str(self.path.parent)!r} does not exist; the controller creates it"
            )
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        self._lock = threading.RLock()
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(_SCHEMA)
            connection.execute("INSERT OR IGNORE INTO spend VALUES (1, 0, 0, 0)")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def __repr__(self) -> str:
        return f"SpendLedger({str(self.path)!r}, cap_usd={self.cap_usd!r})"

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        # A connection inherited through fork must not be used (or closed) in the child.
        # Calls made through a metered client may come from an app's threads: SQLite
        # serialises the connection's use (its default threading mode), each statement and
        # transaction below is issued under ``self._lock``.
        connection = sqlite3.connect(
            self.path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        self._connection, self._pid = connection, os.getpid()
        return connection

    def _read(self) -> tuple[int, int, int]:
        with self._lock:
            row = self._connect().execute(
                "SELECT total_nano_usd, calls, unpriced_calls FROM spend WHERE id = 1"
            ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def total(self) -> float:
        """Spend recorded so far, in USD."""
        return self._read()[0] / NANO_USD_PER_USD

    def snapshot(self) -> SpendSnapshot:
        total_nano, calls, unpriced = self._read()
        return SpendSnapshot(total_nano / NANO_USD_PER_USD, calls, unpriced, self.cap_usd)

    def check(self) -> float:
        """Before a model call: raise :class:`BudgetExceeded` when the total has reached the cap.

        Returns the total in USD. Without a cap it never raises.
        """
        total_nano = self._read()[0]
        if self._cap_nano is not None and total_nano >= self._cap_nano:
            total = total_nano / NANO_USD_PER_USD
            raise BudgetExceeded(
                f"spend cap reached: ${total:.6f} spent of --modelbench-max-cost=${self.cap_usd:g}; "
                "no more model calls are made in this session",
                cap_usd=self.cap_usd,  # type: ignore[arg-type]
                total_usd=total,
            )
        return total_nano / NANO_USD_PER_USD

    def add(self, cost_usd: float | None) -> float:
        """After a model call: record its cost in USD (None: unknown, counted as unpriced).

        Returns the new total in USD. Atomic across processes.
        """
        if cost_usd is None:
            nano, unpriced = 0, 1
        else:
            nano, unpriced = _to_nano(_check_amount(cost_usd, "cost_usd", positive=False)), 0
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(
                    "UPDATE spend SET total_nano_usd = total_nano_usd + ?, calls = calls + 1, "
                    "unpriced_calls = unpriced_calls + ? WHERE id = 1",
                    (nano, unpriced),
                )
                total_nano = connection.execute("SELECT total_nano_usd FROM spend WHERE id = 1").fetchone()[0]
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        return int(total_nano) / NANO_USD_PER_USD

    def reset(self) -> None:
        """Set the counters to 0 (the controller, at the start of a session)."""
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("UPDATE spend SET total_nano_usd = 0, calls = 0, unpriced_calls = 0 WHERE id = 1")
            connection.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def __enter__(self) -> SpendLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
