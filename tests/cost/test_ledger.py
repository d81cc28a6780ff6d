"""The shared spend ledger behind --modelbench-max-cost (pytest_modelbench.cost.ledger)."""

from __future__ import annotations

import multiprocessing
import random
import time

import pytest

from pytest_modelbench._exceptions import ModelbenchError
from pytest_modelbench.cost.ledger import NANO_USD_PER_USD, BudgetExceeded, SpendLedger

PROCESSES = 4


def _add_many(path: str, adds: int, cost_usd: float, start, done) -> None:
    """Worker: wait for the others, then add ``adds`` costs as fast as possible."""
    ledger = SpendLedger(path)
    start.wait()
    for _ in range(adds):
        ledger.add(cost_usd)
    ledger.close()
    done.put(adds)


def _spend_until_capped(path: str, cap_usd: float, cost_usd: float, seed: int, start, done) -> None:
    """Worker: check, 'call' (a short random sleep), add; stop at BudgetExceeded."""
    rng = random.Random(seed)
    ledger = SpendLedger(path, cap_usd)
    start.wait()
    calls = 0
    for _ in range(10_000):  # a guard: the cap stops the loop long before this
        try:
            ledger.check()
        except BudgetExceeded:
            break
        time.sleep(rng.uniform(0.0, 0.002))
        ledger.add(cost_usd)
        calls += 1
    ledger.close()
    done.put(calls)


def _run_workers(target, args_for) -> list[int]:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)  # all workers begin together: maximal contention
    done = context.Queue()
    processes = [context.Process(target=target, args=(*args_for(i), start, done)) for i in range(PROCESSES)]
    for process in processes:
        process.start()
    results = [done.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return results


def test_concurrent_adds_lose_no_update(tmp_path):
    path = tmp_path / "spend.sqlite"
    SpendLedger(path).close()
    adds, cost = 150, 0.001234567
    results = _run_workers(_add_many, lambda i: (str(path), adds, cost))
    assert results == [adds] * PROCESSES
    snapshot = SpendLedger(path).snapshot()
    assert snapshot.calls == PROCESSES * adds
    # Integer nano-dollars: the total is exact whatever the interleaving.
    assert round(snapshot.total_usd * NANO_USD_PER_USD) == PROCESSES * adds * round(cost * NANO_USD_PER_USD)


def test_cap_holds_within_one_call_per_process(tmp_path):
    path = tmp_path / "spend.sqlite"
    cap, cost = 0.5, 0.01
    SpendLedger(path, cap).close()
    calls = _run_workers(_spend_until_capped, lambda i: (str(path), cap, cost, i))
    snapshot = SpendLedger(path, cap).snapshot()
    assert snapshot.calls == sum(calls)  # every call was recorded
    assert snapshot.total_usd == pytest.approx(sum(calls) * cost, abs=1e-9)
    assert snapshot.total_usd >= cap  # workers stopped only because the cap was reached
    assert snapshot.total_usd < cap + PROCESSES * cost + 1e-9  # the documented guarantee


def test_check_raises_once_total_reaches_cap(tmp_path):
    ledger = SpendLedger(tmp_path / "spend.sqlite", cap_usd=1.0)
    assert ledger.check() == 0.0
    assert ledger.add(0.6) == pytest.approx(0.6)
    assert ledger.check() == pytest.approx(0.6)
    assert ledger.add(0.4) == pytest.approx(1.0)  # exactly at the cap: reached
    expected = r"spend cap reached: \$1\.000000 spent of --modelbench-max-cost=\$1"
    with pytest.raises(BudgetExceeded, match=expected) as info:
        ledger.check()
    assert info.value.cap_usd == 1.0
    assert info.value.total_usd == pytest.approx(1.0)
    assert isinstance(info.value, ModelbenchError)


def test_single_call_overshoot_is_recorded(tmp_path):
    ledger = SpendLedger(tmp_path / "spend.sqlite", cap_usd=1.0)
    ledger.check()
    assert ledger.add(2.5) == pytest.approx(2.5)  # one call may overshoot; the next is refused
    with pytest.raises(BudgetExceeded):
        ledger.check()
    assert ledger.snapshot().remaining_usd == 0.0


def test_without_cap_never_raises(tmp_path):
    ledger = SpendLedger(tmp_path / "spend.sqlite")
    ledger.add(1000.0)
    assert ledger.check() == pytest.approx(1000.0)
    assert ledger.snapshot().remaining_usd is None


def test_unpriced_calls_are_counted_but_cost_nothing(tmp_path):
    ledger = SpendLedger(tmp_path / "spend.sqlite", cap_usd=1.0)
    ledger.add(None)
    ledger.add(0.25)
    ledger.add(None)
    snapshot = ledger.snapshot()
    assert (snapshot.calls, snapshot.unpriced_calls) == (3, 2)
    assert snapshot.total_usd == pytest.approx(0.25)
    assert snapshot.to_dict() == {"total_usd": 0.25, "calls": 3, "unpriced_calls": 2,
                                  "cap_usd": 1.0, "remaining_usd": 0.75}


def test_ledgers_on_one_path_share_the_total(tmp_path):
    path = tmp_path / "spend.sqlite"
    first = SpendLedger(path, 10.0)
    second = SpendLedger(path, 10.0)
    first.add(1.5)
    second.add(2.0)
    assert first.total() == second.total() == pytest.approx(3.5)
    second.reset()
    assert first.snapshot().calls == 0
    assert first.total() == 0.0


def test_reopening_keeps_the_total(tmp_path):
    path = tmp_path / "spend.sqlite"
    with SpendLedger(path) as ledger:
        ledger.add(0.125)
    assert SpendLedger(path).total() == 0.125


def test_ledger_survives_fork(tmp_path):
    ledger = SpendLedger(tmp_path / "spend.sqlite")
    ledger.add(0.5)
    context = multiprocessing.get_context("fork")
    process = context.Process(target=ledger.add, args=(0.25,))
    process.start()
    process.join(timeout=60)
    assert process.exitcode == 0
    assert ledger.total() == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("cap", "message"),
    [
        (0, r"cap_usd 0 is not allowed; it must be a finite number > 0 \(USD\)"),
        (-1.0, r"cap_usd -1\.0 is not allowed"),
        (float("inf"), r"cap_usd inf is not allowed"),
        ("5", r"cap_usd '5' is not a number"),
        (True, r"cap_usd True is not a number"),
    ],
)
def test_bad_cap_is_rejected(tmp_path, cap, message):
    with pytest.raises(ValueError, match=message):
        SpendLedger(tmp_path / "spend.sqlite", cap)


@pytest.mark.parametrize("cost", [-0.01, float("nan"), float("inf"), "0.1", 2e6])
def test_bad_cost_is_rejected(tmp_path, cost):
    ledger = SpendLedger(tmp_path / "spend.sqlite", 1.0)
    with pytest.raises(ValueError, match=r"cost_usd .* (is not allowed|is not a number)"):
        ledger.add(cost)
    assert ledger.snapshot().calls == 0


def test_missing_directory_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; the controller creates it"):
        SpendLedger(tmp_path / "nowhere" / "spend.sqlite")


def test_repr_names_path_and_cap(tmp_path):
    ledger = SpendLedger(tmp_path / "spend.sqlite", 2.0)
    assert repr(ledger) == f"SpendLedger({str(tmp_path / 'spend.sqlite')!r}, cap_usd=2.0)"
