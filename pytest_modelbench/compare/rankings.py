"""Rankings of models: weighted score, Bradley–Terry, Elo, Borda count and Pareto front.

All five are computed from one :class:`~pytest_modelbench.core.table.RunTable`; the plugin's
``--modelbench-rank`` option only picks which one heads the report. Numpy only; does not
import pytest. The methods and their sources are described for users in docs/comparison.md.

Conventions shared by every function here:

* a *task* is the unit of sampling (Miller 2024): runs of one task are never treated as
  independent observations; uncertainty comes from tasks, or from task groups when tasks
  carry ``group=`` (``RunTable.task_group`` is the group, or the task itself);
* a *battle* is one (task, run number) that two models both ran: the higher run quality
  wins, equal quality is a tie worth half a win to each side;
* missing values are NaN in arrays and ``None`` in ``to_dict()`` output.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.scoring import (
    ModelScores,
    check_confidence,
    clean_float,
    clean_list,
    score_model,
    sum_by_cluster,
    task_clusters,
)
from ..core.table import RunTable

#: Elo constants (LMSYS Chatbot Arena's online Elo): K-factor, scale, base, initial rating.
ELO_K = 4.0
ELO_SCALE = 400.0
ELO_BASE = 10.0
ELO_INITIAL = 1000.0

#: Names accepted by ``--modelbench-rank``, in the order the report lists them.
RANK_METHODS = ("weighted", "bradley_terry", "elo", "borda", "pareto")

_BT_TOLERANCE = 1e-10
_BT_BOOTSTRAP_TOLERANCE = 1e-8  # 2e-6 Elo points: ample for percentile intervals
_BT_MAX_ITERATIONS = 20_000


# --------------------------------------------------------------------------- helpers


def _check_count(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} {value!r} is not allowed; it must be a whole number >= {minimum}")
    return int(value)


# ----------------------------------------------------------------- weighted score + SE


# ------------------------------------------------------------------------- battles


@dataclasses.dataclass(frozen=True, slots=True)
class RunGrid:
    """Per-run values laid out as (models, slots); a slot is one (task, run number).

    ``values`` is NaN where the model has no run for the slot. Slots are sorted by task
    index, then run number. ``position`` is each table row's flat index into ``values``, so
    :meth:`with_values` lays out other per-run values without recomputing the slots.
    """

    values: np.ndarray
    slot_task: np.ndarray
    slot_run: np.ndarray
    position: np.ndarray

    def with_values(self, values: np.ndarray) -> RunGrid:
        grid = np.full(self.values.size, np.nan)
        grid[self.position] = values
        return dataclasses.replace(self, values=grid.reshape(self.values.shape))


def run_grid(table: RunTable, values: np.ndarray | None = None) -> RunGrid:
    """Lay ``values`` (default: run quality) out per (model, task, run).

    Raises ValueError when a (model, task, run) appears more than once.
    """
    values = table.quality if values is None else np.asarray(values, dtype=np.float64)
    values = np.where(table.measured, values, np.nan)  # an error is not a battle
    if table.model.size == 0:
        empty = np.zeros(0, np.int64)
        return RunGrid(np.zeros((table.n_models, 0)), empty, empty, empty)
    first_run = int(table.run.min())
    run_span = int(table.run.max()) - first_run + 1
    key = table.task.astype(np.int64) * run_span + (table.run - first_run)
    keys, slot = np.unique(key, return_inverse=True)
    slot = slot.reshape(-1)
    n_slots = len(keys)
    flat = table.model * n_slots + slot
    counts = np.bincount(flat, minlength=table.n_models * n_slots)
    if counts.max() > 1:
        where = int(np.argmax(counts))
        model, s = divmod(where, n_slots)
        raise ValueError(
            f"model {table.models[model]!r} has {int(counts[where])} records for task "
            f"{table.tasks[int(keys[s] // run_span)]!r} run {int(keys[s] % run_span) + first_run}; "
            "each (model, task, run) may appear once"
        )
    grid = np.full(table.n_models * n_slots, np.nan)
    grid[flat] = values
    return RunGrid(
        values=grid.reshape(table.n_models, n_slots),
        slot_task=(keys // run_span).astype(np.int64),
        slot_run=(keys % run_span + first_run).astype(np.int64),
        position=flat,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class PairCounts:
    """Per pair p = (``pair_a[p]``, ``pair_b[p]``), a < b, and per task t: in how many shared
    runs a's value was greater than b's (``greater``), smaller (``less``) or equal (``equal``).

    Arrays are (pairs, tasks) float32 (exact for counts below 2²⁴).
    """

    pair_a: np.ndarray
    pair_b: np.ndarray
    greater: np.ndarray
    less: np.ndarray
    equal: np.ndarray


def pair_counts(grid: RunGrid, n_tasks: int) -> PairCounts:
    """Compare every pair of models on every shared (task, run) slot.

    One model row at a time against all later rows (O(models² × slots) comparisons, memory
    O(models × slots) at once), summed per task with ``np.add.reduceat`` over the slots,
    which are sorted by task. A NaN (run missing) compares unequal to everything, so slots
    that are not shared count nowhere.
    """
    values = grid.values
    m = values.shape[0]
    pair_a, pair_b = np.triu_indices(m, k=1)
    shape = (len(pair_a), n_tasks)
    greater = np.zeros(shape, dtype=np.float32)
    less = np.zeros(shape, dtype=np.float32)
    equal = np.zeros(shape, dtype=np.float32)
    if grid.slot_task.size:
        starts = np.flatnonzero(np.r_[True, grid.slot_task[1:] != grid.slot_task[:-1]])
        tasks = grid.slot_task[starts]
        row = 0
        for a in range(m - 1):
            mine = values[a][None, :]
            others = values[a + 1 :]
            count = m - 1 - a
            block = slice(row, row + count)
            greater[block, tasks] = np.add.reduceat((mine > others).astype(np.float32), starts, axis=1)
            less[block, tasks] = np.add.reduceat((mine < others).astype(np.float32), starts, axis=1)
            equal[block, tasks] = np.add.reduceat((mine == others).astype(np.float32), starts, axis=1)
            row += count
    return PairCounts(pair_a=pair_a, pair_b=pair_b, greater=greater, less=less, equal=equal)


@dataclasses.dataclass(frozen=True, slots=True)
class Battles:
    """Pairwise outcomes aggregated per task cluster.

    For pair p = (``pair_a[p]``, ``pair_b[p]``) with a < b, ``wins_a[p, k]`` is a's wins over b
    in cluster k plus half the ties, ``wins_b`` the same for b.
    """

    n_models: int
    pair_a: np.ndarray
    pair_b: np.ndarray
    wins_a: np.ndarray
    wins_b: np.ndarray

    def win_matrix(self, multiplicity: np.ndarray | None = None) -> np.ndarray:
        """W[i, j] = wins of i over j (ties half); with ``multiplicity`` (B, clusters): (B, M, M)."""
        m = self.n_models
        if multiplicity is None:
            matrix = np.zeros((m, m))
            matrix[self.pair_a, self.pair_b] = self.wins_a.sum(axis=1)
            matrix[self.pair_b, self.pair_a] = self.wins_b.sum(axis=1)
            return matrix
        n_boot = multiplicity.shape[0]
        matrix = np.zeros((n_boot, m, m))
        matrix[:, self.pair_a, self.pair_b] = multiplicity @ self.wins_a.T
        matrix[:, self.pair_b, self.pair_a] = multiplicity @ self.wins_b.T
        return matrix


def battles(
    table: RunTable, counts: PairCounts | None = None, *, cluster_by_group: bool = True
) -> Battles:
    """Every pair's wins (ties half) per task cluster, from the shared (task, run) slots.

    A battle is one (task, run number) both models ran; the higher run quality wins.
    ``counts`` are :func:`pair_counts` of the quality grid (computed when not given).
    """
    counts = pair_counts(run_grid(table), table.n_tasks) if counts is None else counts
    cluster, n_clusters = task_clusters(table, cluster_by_group)
    half_ties = 0.5 * counts.equal
    return Battles(
        n_models=table.n_models,
        pair_a=counts.pair_a,
        pair_b=counts.pair_b,
        wins_a=sum_by_cluster(counts.greater + half_ties, cluster, n_clusters),
        wins_b=sum_by_cluster(counts.less + half_ties, cluster, n_clusters),
    )


# ------------------------------------------------------------------ Bradley–Terry


def reachability(adjacency: np.ndarray) -> np.ndarray:
    """Transitive-reflexive closure of a boolean adjacency matrix (..., M, M)."""
    m = adjacency.shape[-1]
    reach = adjacency.astype(bool) | np.eye(m, dtype=bool)
    steps = max(1, math.ceil(math.log2(max(m, 2))))
    for _ in range(steps):
        as_float = reach.astype(np.float32)
        reach = (as_float @ as_float) > 0
    return reach


def strong_components(win: np.ndarray) -> list[list[int]]:
    """Strongly connected components of the win graph (edge i → j when i beat j, ties half).

    Returned in a dominance order: a component comes before every component it can reach
    (each member of the earlier one beat, directly or through others, the later one).
    """
    reach = reachability(win > 0)
    mutual = reach & reach.T
    seen = np.zeros(len(win), dtype=bool)
    components: list[list[int]] = []
    for i in range(len(win)):
        if not seen[i]:
            members = np.flatnonzero(mutual[i])
            seen[members] = True
            components.append(members.tolist())
    reach_count = [int(reach[c[0]].sum()) for c in components]
    order = sorted(range(len(components)), key=lambda k: (-reach_count[k], components[k][0]))
    return [components[k] for k in order]


@dataclasses.dataclass(frozen=True, slots=True)
class BTFit:
    """Result of the MM iteration: log-abilities (mean 0 per row), iterations, converged."""

    log_ability: np.ndarray
    iterations: int
    converged: np.ndarray


def fit_bradley_terry(
    win: np.ndarray, *, tolerance: float = _BT_TOLERANCE, max_iterations: int = _BT_MAX_ITERATIONS
) -> BTFit:
    """Maximum-likelihood Bradley–Terry abilities by the MM algorithm of Hunter (2004).

    Hunter, D. R. (2004), "MM algorithms for generalized Bradley–Terry models", Annals of
    Statistics 32(1):384–406, eq. (3): with W_i the total wins of i and N_ij the battles
    between i and j::

        γ_i ← W_i / Σ_{j≠i} N_ij / (γ_i + γ_j)

    then renormalised (here: log γ centred to mean 0). ``win`` is (M, M) or a stack
    (B, M, M) of win matrices W[i, j] = wins of i over j (ties counted half to each); stacks
    are iterated together. The MLE exists only when the win graph is strongly connected
    (Hunter 2004, Assumption 1; Ford 1957) — check with :func:`strong_components` first;
    otherwise the iteration drifts and ``converged`` is False.
    """
    win = np.asarray(win, dtype=np.float64)
    stacked = win.ndim == 3
    wins = win if stacked else win[None]
    n_boot, m, _ = wins.shape
    games = wins + np.swapaxes(wins, 1, 2)
    total_wins = wins.sum(axis=2)
    gamma = np.ones((n_boot, m))
    log_gamma = np.zeros((n_boot, m))
    converged = np.zeros(n_boot, dtype=bool)
    index = np.arange(n_boot)  # the fits still iterating
    games_active, wins_active = games, total_wins
    g, log_g = gamma, log_gamma
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        denominator = (games_active / (g[:, :, None] + g[:, None, :])).sum(axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            new_log = np.log(wins_active / denominator)
        new_log -= new_log.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            change = np.abs(new_log - log_g).max(axis=1)
        log_g = new_log
        g = np.exp(new_log)
        finished = (change < tolerance) | ~np.isfinite(change)
        if finished.any():
            log_gamma[index] = log_g
            converged[index[change < tolerance]] = True
            keep = ~finished
            index, log_g, g = index[keep], log_g[keep], g[keep]
            games_active, wins_active = games_active[keep], wins_active[keep]
            if not index.size:
                break
    if index.size:
        log_gamma[index] = log_g
    result = log_gamma if stacked else log_gamma[0]
    return BTFit(log_ability=result, iterations=iterations, converged=converged if stacked else converged[:1])


def elo_scale(log_ability: np.ndarray) -> np.ndarray:
    """Natural-log abilities → Elo scale 1000 + 400·log10(γ), centred to mean 1000 (LMSYS)."""
    rating = ELO_SCALE * np.asarray(log_ability) / math.log(ELO_BASE)
    return ELO_INITIAL + rating - rating.mean(axis=-1, keepdims=True)


@dataclasses.dataclass(frozen=True, slots=True)
class BradleyTerryResult:
    """Bradley–Terry ratings on the Elo scale with bootstrap intervals.

    ``rating``/``low``/``high`` are NaN when the win graph is not strongly connected (no MLE
    exists): then ``components`` lists the strongly connected components in dominance order
    and the ranking follows that order. ``bootstrap_valid`` counts the resamples whose own win
    graph was strongly connected; only those are used for the interval.
    """

    models: tuple[str, ...]
    rating: np.ndarray
    low: np.ndarray
    high: np.ndarray
    log_ability: np.ndarray
    battles: np.ndarray
    wins: np.ndarray
    strongly_connected: bool
    components: tuple[tuple[str, ...], ...]
    iterations: int
    converged: bool
    bootstrap: int
    bootstrap_valid: int
    seed: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "bradley_terry",
            "strongly_connected": self.strongly_connected,
            "components": [list(c) for c in self.components],
            "converged": self.converged,
            "iterations": self.iterations,
            "bootstrap": self.bootstrap,
            "bootstrap_valid": self.bootstrap_valid,
            "seed": self.seed,
            "confidence": self.confidence,
            "models": {
                name: {
                    "rating": clean_float(self.rating[i]),
                    "low": clean_float(self.low[i]),
                    "high": clean_float(self.high[i]),
                    "battles": float(self.battles[i]),
                    "wins": float(self.wins[i]),
                }
                for i, name in enumerate(self.models)
            },
        }


def _cluster_multiplicity(rng: np.random.Generator, n_boot: int, n_clusters: int) -> np.ndarray:
    """How often each cluster is drawn in each of ``n_boot`` resamples with replacement."""
    draws = rng.integers(0, n_clusters, size=(n_boot, n_clusters))
    flat = (np.arange(n_boot)[:, None] * n_clusters + draws).reshape(-1)
    return np.bincount(flat, minlength=n_boot * n_clusters).reshape(n_boot, n_clusters).astype(np.float64)


def bradley_terry(
    table: RunTable,
    *,
    bootstrap: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    battle_data: Battles | None = None,
) -> BradleyTerryResult:
    """Bradley–Terry ratings (Hunter 2004 MM) with a task-cluster bootstrap interval.

    Battles are shared (task, run) pairs, higher quality wins, ties half (see module doc).
    The interval resamples task clusters with replacement ``bootstrap`` times
    (``numpy.random.default_rng(seed)``), refits, and takes the (1−confidence)/2 and
    (1+confidence)/2 percentiles of each model's rating (Efron & Tibshirani 1993, percentile
    interval; LMSYS Chatbot Arena bootstraps its ratings the same way over battles).
    """
    level = check_confidence(confidence)
    n_boot = _check_count(bootstrap, "bootstrap", 0)
    data = battles(table) if battle_data is None else battle_data
    m = table.n_models
    win = data.win_matrix()
    games = win + win.T
    components = strong_components(win) if m else []
    connected = m >= 2 and len(components) == 1
    nan = np.full(m, np.nan)
    rating, low, high, log_ability = nan, nan.copy(), nan.copy(), nan.copy()
    iterations, converged, valid = 0, False, 0
    if connected:
        fit = fit_bradley_terry(win)
        log_ability = fit.log_ability
        rating = elo_scale(log_ability)
        iterations, converged = fit.iterations, bool(fit.converged[0])
        if n_boot:
            rng = np.random.default_rng(seed)
            multiplicity = _cluster_multiplicity(rng, n_boot, data.wins_a.shape[1])
            stack = data.win_matrix(multiplicity)
            reach = reachability(stack > 0)
            ok = reach.all(axis=(1, 2))
            valid = int(ok.sum())
            if valid:
                boot = fit_bradley_terry(stack[ok], tolerance=_BT_BOOTSTRAP_TOLERANCE)
                boot_rating = elo_scale(boot.log_ability[boot.converged])
                valid = int(boot.converged.sum())
                if valid:
                    tail = (1.0 - level) / 2.0 * 100.0
                    low, high = np.percentile(boot_rating, [tail, 100.0 - tail], axis=0)
    names = table.models
    return BradleyTerryResult(
        models=names,
        rating=rating,
        low=low,
        high=high,
        log_ability=log_ability,
        battles=games.sum(axis=1),
        wins=win.sum(axis=1),
        strongly_connected=connected,
        components=tuple(tuple(names[i] for i in c) for c in components),
        iterations=iterations,
        converged=converged,
        bootstrap=n_boot,
        bootstrap_valid=valid,
        seed=int(seed),
        confidence=level,
    )


# ----------------------------------------------------------------------------- Elo


@dataclasses.dataclass(frozen=True, slots=True)
class EloResult:
    """Online Elo ratings after one pass over the rounds (order-dependent by nature)."""

    models: tuple[str, ...]
    rating: np.ndarray
    battles: np.ndarray
    rounds: int
    k_factor: float
    order: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "elo",
            "order_dependent": True,
            "order": self.order,
            "k_factor": self.k_factor,
            "scale": ELO_SCALE,
            "base": ELO_BASE,
            "initial": ELO_INITIAL,
            "rounds": self.rounds,
            "models": {
                name: {"rating": clean_float(self.rating[i]), "battles": int(self.battles[i])}
                for i, name in enumerate(self.models)
            },
        }


ELO_ORDER = (
    "one rating period per (task, run): periods in order of task name, then run number; "
    "every pair of models that ran the period is rated from the ratings at its start"
)


def elo(table: RunTable, grid: RunGrid | None = None, *, k_factor: float = ELO_K) -> EloResult:
    """Online Elo (Elo 1978; K = 4, scale 400, base 10, initial 1000 as LMSYS Chatbot Arena).

    Expected score of i against j: E_ij = 1 / (1 + 10^((R_j − R_i)/400)); after a battle
    R_i += K (S_ij − E_ij) with S = 1 win, ½ tie, 0 loss. Elo is order-dependent. The order
    here: each (task, run) slot is one *rating period* (Elo 1978, §1.6; FIDE rates a
    tournament from the ratings at its start): periods in order of task name then run number,
    and within a period every pair of models that both ran it is rated from the ratings at
    the start of the period, the changes summed. This keeps one Python step per slot (not per
    battle: 1M runs of 20 models are 9.5M battles but only 50k slots) while every battle is
    still counted. With two models per slot it is exactly sequential Elo in that order.
    """
    if isinstance(k_factor, bool) or not isinstance(k_factor, (int, float)) or not k_factor > 0:
        raise ValueError(f"k_factor {k_factor!r} is not allowed; it must be a number > 0")
    grid = run_grid(table) if grid is None else grid
    quality = grid.values
    m, n_slots = quality.shape
    present = ~np.isnan(quality)
    # Actual score per (model, slot): wins + half ties against the other models present.
    actual = np.zeros((m, n_slots))
    for i in range(m):
        mine = quality[i][None, :]
        actual[i] = (mine > quality).sum(axis=0) + 0.5 * ((mine == quality).sum(axis=0) - 1.0)
    actual[~present] = 0.0
    opponents = present.sum(axis=0)
    battles_per_model = np.where(present, opponents[None, :] - 1, 0).sum(axis=1)
    task_rank = np.empty(table.n_tasks, dtype=np.int64)
    task_rank[np.argsort(np.asarray(table.tasks, dtype=object).astype(str), kind="stable")] = np.arange(
        table.n_tasks
    )
    order = np.lexsort((grid.slot_run, task_rank[grid.slot_task])) if n_slots else np.zeros(0, np.int64)
    order = order[opponents[order] >= 2]
    rating = np.full(m, ELO_INITIAL)
    log_base = math.log(ELO_BASE) / ELO_SCALE
    actual_t = np.ascontiguousarray(actual[:, order].T)
    mask_t = np.ascontiguousarray(present[:, order].T.astype(np.float64))
    k = float(k_factor)
    # One step per period with preallocated buffers (this loop is the only per-slot Python).
    strength = np.empty(m)
    inverse_sum = np.empty((m, m))
    expected = np.empty(m)
    change = np.empty(m)
    for step in range(len(order)):
        mask = mask_t[step]
        np.multiply(rating, log_base, out=strength)
        np.exp(strength, out=strength)  # γ_i = 10^(R_i/400)
        np.add.outer(strength, strength, out=inverse_sum)
        np.reciprocal(inverse_sum, out=inverse_sum)
        np.dot(inverse_sum, mask, out=expected)
        np.multiply(expected, strength, out=expected)  # Σ_j present γ_i/(γ_i+γ_j), self term ½
        np.subtract(actual_t[step], expected, out=change)
        np.add(change, 0.5, out=change)
        np.multiply(change, mask, out=change)
        np.multiply(change, k, out=change)
        np.add(rating, change, out=rating)
    return EloResult(
        models=table.models,
        rating=rating,
        battles=battles_per_model.astype(np.int64),
        rounds=len(order),
        k_factor=k,
        order=ELO_ORDER,
    )


# --------------------------------------------------------------------------- Borda


def average_positions(scores: np.ndarray) -> np.ndarray:
    """Positions (1 = best, higher score better) with ties given their average position.

    NaN scores are placed after all known ones, sharing the average of the positions left.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    positions = np.empty(n)
    known = np.flatnonzero(~np.isnan(scores))
    unknown = np.flatnonzero(np.isnan(scores))
    if known.size:
        values, inverse, counts = np.unique(-scores[known], return_inverse=True, return_counts=True)
        first = np.cumsum(counts) - counts + 1
        positions[known] = (first + (counts - 1) / 2.0)[inverse.reshape(-1)]
    if unknown.size:
        positions[unknown] = known.size + (unknown.size + 1) / 2.0
    return positions


@dataclasses.dataclass(frozen=True, slots=True)
class BordaResult:
    """Borda count over categories: positions per category (ties averaged) summed.

    ``positions`` is (models, categories used); ``points`` = Σ (models − position), higher is
    better (equivalent to ordering by the position sum, lower is better).
    """

    models: tuple[str, ...]
    categories: tuple[str, ...]
    positions: np.ndarray
    position_sum: np.ndarray
    points: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "borda",
            "categories": list(self.categories),
            "models": {
                name: {
                    "position_sum": float(self.position_sum[i]),
                    "points": float(self.points[i]),
                    "positions": dict(zip(self.categories, clean_list(self.positions[i]))),
                }
                for i, name in enumerate(self.models)
            },
        }


def borda(scores: ModelScores) -> BordaResult:
    """Borda count (de Borda 1781) with categories as voters and category scores as ballots.

    In each category with at least one score, models get positions 1..M by score (ties share
    the average of their positions; a model without tasks in the category shares the
    positions after the scored ones). Position sums are added over categories; points are
    Σ_c (M − position).
    """
    used = np.flatnonzero(~np.isnan(scores.category).all(axis=0)) if scores.category.size else np.zeros(0, int)
    m = len(scores.models)
    positions = np.zeros((m, len(used)))
    for column, c in enumerate(used):
        positions[:, column] = average_positions(scores.category[:, c])
    position_sum = positions.sum(axis=1)
    return BordaResult(
        models=scores.models,
        categories=tuple(scores.categories[c] for c in used),
        positions=positions,
        position_sum=position_sum,
        points=(m - positions).sum(axis=1),
    )


# -------------------------------------------------------------------------- Pareto

PARETO_DIMENSIONS = ("score", "cost_per_task_usd", "latency_p50_ms")


@dataclasses.dataclass(frozen=True, slots=True)
class ParetoResult:
    """Pareto front over score ↑, cost per task ↓, p50 latency ↓.

    ``values`` is (models, 3) with NaN for unknown. ``dimensions`` lists the dimensions used
    (a dimension unknown for every model is dropped). ``layer`` is 1 for the front, 2 for
    the front of the rest, and so on; ``dominated_by[i]`` names every model that dominates i.
    """

    models: tuple[str, ...]
    values: np.ndarray
    dimensions: tuple[str, ...]
    front: tuple[str, ...]
    layer: np.ndarray
    dominated_by: tuple[tuple[str, ...], ...]
    unknown: tuple[tuple[str, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "pareto",
            "dimensions": list(self.dimensions),
            "front": list(self.front),
            "models": {
                name: {
                    **{dim: clean_float(self.values[i, d]) for d, dim in enumerate(PARETO_DIMENSIONS)},
                    "layer": int(self.layer[i]),
                    "dominated_by": list(self.dominated_by[i]),
                    "unknown": list(self.unknown[i]),
                }
                for i, name in enumerate(self.models)
            },
        }


def latency_p50(table: RunTable) -> np.ndarray:
    """Median run latency (ms) per model over runs with a known latency; NaN when none.

    numpy's default (linear interpolation) percentile definition, as vLLM's benchmark.
    """
    result = np.full(table.n_models, np.nan)
    known = ~np.isnan(table.latency_ms)
    model = table.model[known]
    latency = table.latency_ms[known]
    order = np.lexsort((latency, model))
    model, latency = model[order], latency[order]
    counts = np.bincount(model, minlength=table.n_models)
    starts = np.cumsum(counts) - counts
    for i in np.flatnonzero(counts):
        result[i] = float(np.median(latency[starts[i] : starts[i] + counts[i]]))
    return result


def _per_model(values: Mapping[str, float | None] | None, models: Sequence[str], what: str) -> np.ndarray:
    result = np.full(len(models), np.nan)
    if values is None:
        return result
    unknown = sorted(set(values) - set(models))
    if unknown:
        raise ValueError(f"{what} given for model {unknown[0]!r}, which is not one of: {', '.join(models)}")
    for i, name in enumerate(models):
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value >= 0
        ):
            raise ValueError(f"{what} {value!r} of model {name!r} is not allowed; it must be a number >= 0 or None")
        result[i] = float(value)
    return result


def pareto(
    models: Sequence[str],
    score: np.ndarray,
    cost_per_task: np.ndarray,
    latency_ms: np.ndarray,
) -> ParetoResult:
    """Pareto front (non-dominated set) over score ↑, cost ↓, latency ↓.

    i dominates j when i is at least as good as j on every dimension used and strictly better
    on one. Unknown values are handled explicitly: a dimension unknown for every model is
    dropped; when a value is unknown for i or j on a used dimension, the pair is not
    comparable (neither can be shown to dominate), so a model with an unknown value is never
    dominated nor dominating through a guess. Layers are peeled by non-dominated sorting
    (Deb et al. 2002, NSGA-II).
    """
    names = tuple(models)
    values = np.column_stack([score, cost_per_task, latency_ms]).astype(np.float64)
    sign = np.array([1.0, -1.0, -1.0])  # higher is better after the sign flip
    used = [d for d in range(3) if not np.isnan(values[:, d]).all()]
    better = values[:, used] * sign[used]
    known = ~np.isnan(better)
    comparable = (known[:, None, :] & known[None, :, :]).all(axis=2)
    with np.errstate(invalid="ignore"):
        at_least = (better[:, None, :] >= better[None, :, :]).all(axis=2)
        strictly = (better[:, None, :] > better[None, :, :]).any(axis=2)
    dominates = comparable & at_least & strictly  # dominates[i, j]: i dominates j
    if not used:
        dominates[:] = False
    layer = np.zeros(len(names), dtype=np.int64)
    remaining = np.ones(len(names), dtype=bool)
    level = 0
    while remaining.any():
        level += 1
        beaten = (dominates[remaining][:, remaining]).any(axis=0)
        current = np.flatnonzero(remaining)[~beaten]
        layer[current] = level
        remaining[current] = False
    unknown = tuple(
        tuple(PARETO_DIMENSIONS[d] for d in used if np.isnan(values[i, d])) for i in range(len(names))
    )
    return ParetoResult(
        models=names,
        values=values,
        dimensions=tuple(PARETO_DIMENSIONS[d] for d in used),
        front=tuple(names[i] for i in np.flatnonzero(layer == 1)),
        layer=layer,
        dominated_by=tuple(tuple(names[i] for i in np.flatnonzero(dominates[:, j])) for j in range(len(names))),
        unknown=unknown,
    )


# ------------------------------------------------------------------- all rankings


@dataclasses.dataclass(frozen=True, slots=True)
class RankedModel:
    """One row of a ranking: 1-based position (tied models share it), value and interval."""

    model: str
    position: int
    value: float | None
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "position": self.position,
            "value": clean_float(self.value),
            "low": clean_float(self.low),
            "high": clean_float(self.high),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Ranking:
    """A ranking in one method: ``entries`` best first; ``value_name`` says what value is."""

    method: str
    value_name: str
    entries: tuple[RankedModel, ...]
    note: str = ""

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(entry.model for entry in self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "value": self.value_name,
            "note": self.note,
            "entries": [entry.to_dict() for entry in self.entries],
        }


def _rank(
    method: str,
    value_name: str,
    models: Sequence[str],
    key: np.ndarray,
    value: np.ndarray,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
    note: str = "",
) -> Ranking:
    """Order by ``key`` ascending (NaN last, then by name); equal keys share a position."""
    key = np.asarray(key, dtype=np.float64)
    sortable = np.where(np.isnan(key), np.inf, key)
    order = sorted(range(len(models)), key=lambda i: (sortable[i], models[i]))
    entries = []
    position = 0
    previous = None
    for place, i in enumerate(order, start=1):
        if previous is None or not _same(sortable[i], previous):
            position = place
            previous = sortable[i]
        entries.append(
            RankedModel(
                model=models[i],
                position=position,
                value=clean_float(value[i]),
                low=None if low is None else clean_float(low[i]),
                high=None if high is None else clean_float(high[i]),
            )
        )
    return Ranking(method=method, value_name=value_name, entries=tuple(entries), note=note)


def _same(value: float, other: float) -> bool:
    """Equal keys tie: the same value up to rounding (1e-9 relative), or both infinite."""
    if value == other:
        return True
    return bool(np.isfinite(value) and np.isfinite(other)
                and abs(value - other) <= 1e-9 * max(1.0, abs(value), abs(other)))


@dataclasses.dataclass(frozen=True, slots=True)
class Rankings:
    """All five rankings of one benchmark run plus the details behind each."""

    scores: ModelScores
    bradley_terry: BradleyTerryResult
    elo: EloResult
    borda: BordaResult
    pareto: ParetoResult

    def ranking(self, method: str) -> Ranking:
        """The ranking of ``method`` (one of :data:`RANK_METHODS`), best first."""
        models = self.scores.models
        if method == "weighted":
            s = self.scores
            return _rank("weighted", "score", models, -s.overall, s.overall, s.overall_low, s.overall_high,
                         note=f"score 0-100 with {s.confidence:.0%} interval (task-clustered SE)")
        if method == "bradley_terry":
            bt = self.bradley_terry
            if bt.strongly_connected:
                return _rank("bradley_terry", "rating", models, -bt.rating, bt.rating, bt.low, bt.high,
                             note=f"Elo-scale MLE, {bt.confidence:.0%} bootstrap interval "
                             f"({bt.bootstrap_valid}/{bt.bootstrap} resamples over tasks)")
            component = np.zeros(len(models))
            index = {name: i for i, name in enumerate(models)}
            for k, members in enumerate(bt.components):
                for name in members:
                    component[index[name]] = k
            return _rank("bradley_terry", "component", models, component, component + 1,
                         note="win graph not strongly connected: no MLE; ordered by component "
                         + " > ".join("{" + ", ".join(c) + "}" for c in bt.components))
        if method == "elo":
            e = self.elo
            return _rank("elo", "rating", models, -e.rating, e.rating, note="online Elo, order-dependent")
        if method == "borda":
            b = self.borda
            return _rank("borda", "points", models, b.position_sum, b.points,
                         note=f"positions summed over {len(b.categories)} categories")
        if method == "pareto":
            p = self.pareto
            return _rank("pareto", "layer", models, p.layer, p.layer.astype(np.float64),
                         note="layer 1 is the Pareto front over " + ", ".join(p.dimensions))
        raise ValueError(f"ranking method {method!r} is not one of: {', '.join(RANK_METHODS)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "weighted": self.scores.to_dict(),
            "bradley_terry": self.bradley_terry.to_dict(),
            "elo": self.elo.to_dict(),
            "borda": self.borda.to_dict(),
            "pareto": self.pareto.to_dict(),
            "orders": {method: list(self.ranking(method).order) for method in RANK_METHODS},
        }


def rank_models(
    table: RunTable,
    category_weights: Mapping[str, float],
    *,
    seed: int = 0,
    bootstrap: int = 200,
    confidence: float = 0.95,
    costs: Mapping[str, float | None] | None = None,
    latency_p50_ms: Mapping[str, float | None] | None = None,
    scores: ModelScores | None = None,
    grid: RunGrid | None = None,
    cluster_by_group: bool = True,
) -> Rankings:
    """Compute every ranking. ``costs``: USD per task per model (None/absent = unknown);
    ``latency_p50_ms`` overrides the median run latency measured in ``table``. ``scores`` and
    ``grid`` (the quality :func:`run_grid`) may be passed when already computed."""
    if scores is None:
        scores = score_model(table, category_weights, confidence=confidence, cluster_by_group=cluster_by_group)
    grid = run_grid(table) if grid is None else grid
    battle_data = battles(table, pair_counts(grid, table.n_tasks), cluster_by_group=cluster_by_group)
    latency = latency_p50(table)
    if latency_p50_ms is not None:
        given = _per_model(latency_p50_ms, table.models, "latency_p50")
        latency = np.where(np.isnan(given), latency, given)
    return Rankings(
        scores=scores,
        bradley_terry=bradley_terry(table, bootstrap=bootstrap, seed=seed, confidence=confidence,
                                    battle_data=battle_data),
        elo=elo(table, grid),
        borda=borda(scores),
        pareto=pareto(table.models, scores.overall, _per_model(costs, table.models, "cost per task"), latency),
    )


def ranking_rows(ranking: Ranking) -> list[list[str]]:
    """Rows (header first): position, model (whole), value, interval."""
    header = ["#", "model", ranking.value_name, "95% interval"]
    whole = ranking.value_name in ("layer", "component")
    rows = [header]
    labels = {e.model: e.model for e in ranking.entries}
    for entry in ranking.entries:
        interval = (
            f"[{_fmt(entry.low)}, {_fmt(entry.high)}]" if entry.low is not None and entry.high is not None else ""
        )
        rows.append([str(entry.position), labels[entry.model], _fmt(entry.value, whole), interval])
    return rows


def _fmt(value: float | None, whole: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if whole else f"{value:.1f}"
