"""Statistics for pytest-modelbench: numpy and the standard library only.

Every method cites its source; docs/methodology.md explains when the plugin uses each one.

- Score uncertainty: :func:`task_clustered_mean`, :func:`clustered_mean`, :func:`wilson_interval`
  (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640; Wilson 1927; Newcombe 1998).
- Paired comparison of two models: :func:`paired_difference`, :func:`paired_bootstrap`,
  :func:`sign_flip_test`, :func:`mcnemar_exact`, :func:`mcnemar_midp`; many pairs:
  :func:`holm`, and the ``*_batch`` variants that share resamples across comparisons.
- Power: :func:`minimum_detectable_effect`, :func:`tasks_needed`, :func:`runs_needed`,
  :func:`variance_components`.
- Code tasks: :func:`pass_at_k` (Chen et al. 2021), :func:`pass_hat_k` (Yao et al. 2024).
- Distributions: :func:`normal_cdf`, :func:`normal_ppf`, :func:`binom_pmf`, :func:`binom_cdf`,
  :func:`binom_sf`.

Intervals are normal (CLT) intervals, as Miller (2024) recommends for evals with tens of
tasks or more; no t quantiles are used.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "EXACT_PERMUTATION_MAX_TASKS",
    "BatchTestResult",
    "BootstrapBatch",
    "BootstrapResult",
    "ClusteredProportion",
    "Interval",
    "MeanEstimate",
    "PairedDifference",
    "TestResult",
    "VarianceComponents",
    "binom_cdf",
    "binom_pmf",
    "binom_sf",
    "clustered_mean",
    "clustered_wilson_interval",
    "holm",
    "holm_levels",
    "mcnemar_exact",
    "mcnemar_midp",
    "minimum_detectable_effect",
    "normal_cdf",
    "normal_ppf",
    "paired_bootstrap",
    "paired_bootstrap_batch",
    "paired_difference",
    "pass_at_k",
    "pass_at_k_per_task",
    "pass_hat_k",
    "pass_hat_k_per_task",
    "runs_needed",
    "SignFlipInference",
    "SignFlipPatterns",
    "sign_flip_inference_batch",
    "sign_flip_test",
    "sign_flip_test_batch",
    "task_clustered_mean",
    "task_means",
    "tasks_needed",
    "variance_components",
    "wilson_interval",
]


def _is_integral(value: object) -> bool:
    return isinstance(value, np.integer)


@dataclasses.dataclass(frozen=True, slots=True)
class Interval:
    """A closed interval ``[low, high]``; both ends are NaN when there is no data."""

    low: float
    high: float


def _check_confidence(confidence: float) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        raise ValueError(f"confidence must be a number strictly between 0 and 1, got {confidence!r}")
    level = float(confidence)
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence must be a number strictly between 0 and 1, got {confidence!r}")
    return level


# Wichura (1988), Algorithm AS 241 "The percentage points of the normal distribution",
# Applied Statistics 37(3):477-484, PPND16 coefficients (about 1e-16 relative accuracy).
_AS241_A = (3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
            1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
            3.3430575583588128105e4, 2.5090809287301226727e3)
_AS241_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
            2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
            5.2264952788528545610e3)
_AS241_C = (1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
            3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
            2.27238449892691845833e-2, 7.74545014278341407640e-4)
_AS241_D = (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
            1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
            1.05075007164441684324e-9)
_AS241_E = (6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
            2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
            2.71155556874348757815e-5, 2.01033439929228813265e-7)
_AS241_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
            7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
            2.04426310338993978564e-15)


def _poly(coefficients: tuple[float, ...], x: float) -> float:
    total = 0.0
    for coefficient in reversed(coefficients):
        total = total * x + coefficient
    return total


def normal_cdf(x: float) -> float:
    """Standard normal CDF, Φ(x) = erfc(−x/√2)/2 (accurate in both tails)."""
    return 0.5 * math.erfc(-float(x) / math.sqrt(2.0))


def normal_ppf(p: float) -> float:
    """Standard normal quantile Φ⁻¹(p), Wichura (1988) AS 241 PPND16.

    ``p`` must lie in [0, 1]; 0 and 1 give −inf and +inf.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or math.isnan(p) \
            or not 0.0 <= p <= 1.0:
        raise ValueError(f"normal_ppf() takes a probability in [0, 1], got {p!r}")
    p = float(p)
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return q * _poly(_AS241_A, r) / _poly(_AS241_B, r)
    r = p if q < 0.0 else 1.0 - p
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r -= 1.6
        value = _poly(_AS241_C, r) / _poly(_AS241_D, r)
    else:
        r -= 5.0
        value = _poly(_AS241_E, r) / _poly(_AS241_F, r)
    return -value if q < 0.0 else value


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion.

    Wilson (1927), JASA 22:209-212; recommended by Newcombe (1998), Stat. Med. 17:857-872
    (his method 3). With z = Φ⁻¹(1 − α/2) and p̂ = x/n::

        center = (x + z²/2) / (n + z²)
        half   = z / (n + z²) · sqrt(x(n − x)/n + z²/4)

    The interval is [center − half, center + half]; it is exactly 0 at the low end when
    x = 0 and exactly 1 at the high end when x = n. ``n == 0`` (no runs) returns
    ``Interval(nan, nan)``: there is no proportion to bound.
    """
    level = _check_confidence(confidence)
    successes = _check_count("successes", successes)
    n = _check_count("n", n)
    if n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be an integer in [0, n={n}], got {successes!r}")
    if n == 0:
        return Interval(math.nan, math.nan)
    z = normal_ppf(1.0 - (1.0 - level) / 2.0)
    z2 = z * z
    denom = n + z2
    center = (successes + z2 / 2.0) / denom
    half = z / denom * math.sqrt(successes * (n - successes) / n + z2 / 4.0)
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return Interval(low, high)


@dataclasses.dataclass(frozen=True, slots=True)
class ClusteredProportion:
    """A proportion of runs whose runs come in clusters (the runs of one task).

    ``estimate`` = Σx/Σn; ``effective_n`` the sample size the interval treats it as; ``interval``
    the Wilson interval at that size.
    """

    estimate: float
    effective_n: float
    clusters: int
    interval: Interval


def clustered_wilson_interval(successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95) -> ClusteredProportion:
    """Wilson interval for a proportion of runs that respects their clustering by task.

    ``successes``/``trials`` hold each cluster's passes and runs. The point estimate is the
    ratio p̂ = Σx_g / Σn_g; its variance is the linearised (ratio-estimator) variance with
    tasks as the sampling units, v = Σ_g (x_g − p̂ n_g)² / (Σn_g)² (Cochran 1977, §6.11; the
    clustered SE of Miller 2024). Repeated runs of a task are not independent, so the Wilson
    interval (Wilson 1927; Newcombe 1998) is taken at the effective sample size
    n_eff = p̂(1 − p̂)/v (Korn & Graubard 1998, "Confidence intervals for proportions with small
    expected number of positive counts estimated from survey data", Survey Methodology 24), at
    most Σn_g. When p̂ is 0 or 1 (v = 0) n_eff is the number of clusters: each task counts
    once. With one run per task this is exactly :func:`wilson_interval`; with K identical runs
    per task it is Wilson's interval over the tasks.
    """
    level = _check_confidence(confidence)
    x = _as_scores("successes", successes, allow_empty=True)
    n = _as_scores("trials", trials, allow_empty=True)
    if x.shape != n.shape:
        raise ValueError(f"successes has {x.shape[0]} clusters but trials {n.shape[0]}: one count each")
    if ((n < 0) | (x < 0) | (x > n)).any():
        raise ValueError("each cluster needs 0 <= successes <= trials")
    keep = n > 0
    x, n = x[keep], n[keep]
    total = float(n.sum())
    clusters = int(n.shape[0])
    if total == 0:
        return ClusteredProportion(math.nan, 0.0, 0, Interval(math.nan, math.nan))
    estimate = float(x.sum()) / total
    residual = x - estimate * n
    variance = float(np.dot(residual, residual)) / (total * total)
    if variance > 0:
        effective = min(total, estimate * (1.0 - estimate) / variance)
        if total - effective <= 1e-9 * total:  # one run per task: exactly the plain Wilson interval
            effective = total
    else:
        effective = float(clusters) if 0.0 < estimate < 1.0 else float(min(clusters, total))
    effective = max(effective, 1e-12)
    z = normal_ppf(1.0 - (1.0 - level) / 2.0)
    z2 = z * z
    denom = effective + z2
    center = (estimate * effective + z2 / 2.0) / denom
    half = z / denom * math.sqrt(estimate * (1.0 - estimate) * effective + z2 / 4.0)
    low = 0.0 if estimate == 0.0 else max(0.0, center - half)
    high = 1.0 if estimate == 1.0 else min(1.0, center + half)
    return ClusteredProportion(estimate, effective, clusters, Interval(low, high))


# ---------------------------------------------------------------------------------------------
# Binomial distribution (Loader 2000 saddle-point pmf, ratio-summed tails)
# ---------------------------------------------------------------------------------------------

_TAIL_BLOCK = 4096
_TAIL_RTOL = 1e-17


def _stirlerr_table() -> tuple[float, ...]:
    """stirlerr(n) for n = 0..15, computed in 40-digit decimal arithmetic (no cancellation)."""
    with decimal.localcontext() as context:
        context.prec = 40
        log_sqrt_2pi = decimal.Decimal("0.9189385332046727417803297364056176398614")
        values = [0.0]  # stirlerr(0) is never used: pmf(0) and pmf(n) are computed directly
        for n in range(1, 16):
            big_n = decimal.Decimal(n)
            log_factorial = decimal.Decimal(math.factorial(n)).ln()
            values.append(float(log_factorial - (big_n + decimal.Decimal("0.5")) * big_n.ln()
                                + big_n - log_sqrt_2pi))
    return tuple(values)


_STIRLERR_SMALL = _stirlerr_table()


def _stirlerr(n: int) -> float:
    """log(n!) − log(√(2πn)·(n/e)ⁿ), the error of Stirling's formula (Loader 2000).

    Exact table up to 15, then the asymptotic series 1/12n − 1/360n³ + 1/1260n⁵ − ...
    """
    if n <= 15:
        return _STIRLERR_SMALL[n]
    nn = float(n) * float(n)
    return (1.0 / 12 - (1.0 / 360 - (1.0 / 1260 - (1.0 / 1680 - 1.0 / 1188 / nn) / nn) / nn) / nn) / n


def _bd0(x: float, mean: float) -> float:
    """Deviance term x·log(x/M) + M − x, by a series when x ≈ M (Loader 2000)."""
    if abs(x - mean) < 0.1 * (x + mean):
        v = (x - mean) / (x + mean)
        total = (x - mean) * v
        term = 2.0 * x * v
        v2 = v * v
        j = 1
        while True:
            term *= v2
            updated = total + term / (2 * j + 1)
            if updated == total:
                return total
            total = updated
            j += 1
    return x * math.log(x / mean) + mean - x


def _check_binom_args(n: int, p: float) -> tuple[int, float]:
    if isinstance(n, bool) or not (isinstance(n, int) or _is_integral(n)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return int(n), float(p)


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or _is_integral(value)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)  # type: ignore[arg-type]


def _pmf(x: int, n: int, p: float) -> float:
    if x < 0 or x > n:
        return 0.0
    q = 1.0 - p
    if p == 0.0:
        return 1.0 if x == 0 else 0.0
    if p == 1.0:
        return 1.0 if x == n else 0.0
    if p == 0.5 and n <= _EXACT_HALF_MAX_N:
        return math.comb(n, x) / (1 << n)
    if x == 0:
        return q**n
    if x == n:
        return p**n
    exponent = (_stirlerr(n) - _stirlerr(x) - _stirlerr(n - x)
                - _bd0(float(x), n * p) - _bd0(float(n - x), n * q))
    log_factor = math.log(2.0 * math.pi) + math.log(x) + math.log1p(-x / n)
    return math.exp(exponent - 0.5 * log_factor)


def _ratio_sum(first: int, last: int, step: int, ratio) -> float:
    """Σ_j t_j with t_0 = 1 and t_j = t_{j−1}·ratio(x_{j−1}), x running first → last by step.

    ``ratio(xs)`` is non-increasing along the walk and at most 1, so once a block ends the
    rest is bounded by a geometric series; summing stops when that bound is negligible.
    """
    total = 1.0
    carry = 1.0
    position = first
    block = _TAIL_BLOCK
    while position != last:
        stop = position + step * block
        stop = max(stop, last) if step < 0 else min(stop, last)
        xs = np.arange(position, stop, step, dtype=np.float64)
        terms = carry * np.cumprod(ratio(xs))
        total += float(terms.sum())
        carry = float(terms[-1])
        position = stop
        if position == last or carry == 0.0:
            break
        next_ratio = float(ratio(np.array([float(position)]))[0])
        if next_ratio < 1.0 and carry * next_ratio / (1.0 - next_ratio) <= _TAIL_RTOL * total:
            break
        block *= 2
    return total


_EXACT_HALF_MAX_N = 1000


def _half_cdf_exact(k: int, n: int) -> float:
    """P(X ≤ k) for X ~ Bin(n, ½) as Σ_{x≤k} C(n, x) / 2ⁿ in integers, correctly rounded."""
    total = 0
    term = 1
    for x in range(k + 1):
        total += term
        term = term * (n - x) // (x + 1)
    return total / (1 << n)


def _lower_tail(k: int, n: int, p: float) -> float:
    """P(X ≤ k) for k below the mean: pmf(k)·Σ_j pmf(k−j)/pmf(k)."""
    odds = (1.0 - p) / p
    return _pmf(k, n, p) * _ratio_sum(k, 0, -1, lambda xs: xs * odds / (n - xs + 1.0))


def _upper_tail(k: int, n: int, p: float) -> float:
    """P(X > k) for k + 1 at or above the mean: pmf(k+1)·Σ_j pmf(k+1+j)/pmf(k+1)."""
    odds = p / (1.0 - p)
    return _pmf(k + 1, n, p) * _ratio_sum(k + 1, n, 1, lambda xs: (n - xs) * odds / (xs + 1.0))


def binom_pmf(k: int, n: int, p: float) -> float:
    """Binomial probability P(X = k), X ~ Bin(n, p).

    Loader (2000), "Fast and accurate computation of binomial probabilities": the saddle-point
    form exp(−stirlerr and deviance terms)/√(2πk(n−k)/n), with no cancellation of large
    log-factorials: relative error about |ln P|·1e-16 for any n. Exact C(n, k)/2ⁿ for p = ½
    and n ≤ 1000.
    """
    n, p = _check_binom_args(n, p)
    return _pmf(_check_count("k", k), n, p)


def binom_cdf(k: int, n: int, p: float) -> float:
    """Binomial CDF P(X ≤ k), X ~ Bin(n, p).

    The tail on the far side of the mean is summed from its largest term outwards using the
    ratio of successive pmf terms (Loader 2000 for the starting term), and the other side is
    1 − that tail. Relative error is about |ln P|·1e-16 (so ≤ 1e-13 unless P < 1e-190), for
    n up to 10⁶ and beyond. For p = ½ and n ≤ 1000 (McNemar's usual case) the sum is done
    in exact integers, Σ C(n, x)/2ⁿ, and correctly rounded.
    """
    n, p = _check_binom_args(n, p)
    k = _check_count("k", k)
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p == 0.0:
        return 1.0
    if p == 1.0:
        return 0.0
    if p == 0.5 and n <= _EXACT_HALF_MAX_N:
        return _half_cdf_exact(k, n)
    if k < n * p:
        return min(1.0, _lower_tail(k, n, p))
    return max(0.0, 1.0 - _upper_tail(k, n, p))


def binom_sf(k: int, n: int, p: float) -> float:
    """Binomial survival function P(X > k), X ~ Bin(n, p) (method as :func:`binom_cdf`)."""
    n, p = _check_binom_args(n, p)
    k = _check_count("k", k)
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    if p == 0.5 and n <= _EXACT_HALF_MAX_N:
        return _half_cdf_exact(n - k - 1, n)
    if k < n * p:
        return max(0.0, 1.0 - _lower_tail(k, n, p))
    return min(1.0, _upper_tail(k, n, p))


# ---------------------------------------------------------------------------------------------
# Result objects
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class MeanEstimate:
    """A model's mean score with its task-clustered standard error and normal interval.

    ``n_tasks`` tasks were averaged; ``n_clusters`` is the number of task groups when a
    second level of clustering was used, else None. ``se`` and ``ci`` are NaN when there is
    not enough data to estimate a spread (one task, or one group).
    """

    mean: float
    se: float
    ci: Interval
    n_tasks: int
    n_clusters: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PairedDifference:
    """Mean difference A − B over shared tasks, paired (and optionally clustered) SE.

    ``z = delta/se`` and ``p_value`` is the two-sided normal p-value of delta = 0.
    ``correlation`` is the Pearson correlation of the two models' task scores (NaN when
    either is constant); a high correlation is why pairing shrinks the SE.
    """

    delta: float
    se: float
    ci: Interval
    n_tasks: int
    n_clusters: int | None
    z: float
    p_value: float
    correlation: float


@dataclasses.dataclass(frozen=True, slots=True)
class TestResult:
    """A hypothesis test: its statistic, two-sided p-value and a short method name."""

    __test__ = False  # not a pytest test class, despite the name

    statistic: float
    p_value: float
    method: str


@dataclasses.dataclass(frozen=True, slots=True)
class BatchTestResult:
    """One test applied to many comparisons at once: arrays aligned with the input rows."""

    __test__ = False

    statistic: np.ndarray
    p_value: np.ndarray
    method: str


@dataclasses.dataclass(frozen=True, slots=True)
class BootstrapResult:
    """Paired bootstrap over tasks: observed mean difference, bootstrap SE, percentile CI."""

    delta: float
    se: float
    ci: Interval
    n_tasks: int
    n_resamples: int


@dataclasses.dataclass(frozen=True, slots=True)
class BootstrapBatch:
    """Paired bootstrap for many comparisons sharing the same resamples of tasks."""

    delta: np.ndarray
    se: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_tasks: int
    n_resamples: int


@dataclasses.dataclass(frozen=True, slots=True)
class VarianceComponents:
    """Variance components of a paired comparison, for power calculations (Miller 2024).

    ``omega2`` is the between-task variance of the true (infinitely-many-runs) score
    difference; ``sigma2_a``/``sigma2_b`` the mean within-task run variance of each model.
    """

    omega2: float
    sigma2_a: float
    sigma2_b: float
    runs_a: int
    runs_b: int
    n_tasks: int


# ---------------------------------------------------------------------------------------------
# Input helpers
# ---------------------------------------------------------------------------------------------


def _as_scores(name: str, values: ArrayLike, *, allow_empty: bool = False) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of real numbers, got {values!r}") from exc
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of real numbers, got shape {array.shape}")
    if array.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: at least one task is needed")
    bad = ~np.isfinite(array)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{index}] is {float(array[index])!r}: values must be finite numbers")
    return array


def _as_matrix(name: str, values: ArrayLike) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 2-D array of real numbers, got {values!r}") from exc
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D (comparisons × tasks), got shape {array.shape}")
    if array.shape[1] == 0:
        raise ValueError(f"{name} has no tasks (shape {array.shape}): at least one is needed")
    bad = ~np.isfinite(array)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}[{row}, {column}] is {float(array[row, column])!r}: values must be finite numbers")
    return array


def _group_index(groups: ArrayLike, n_tasks: int) -> tuple[np.ndarray, int]:
    labels = np.asarray(groups)
    if labels.ndim != 1 or labels.shape[0] != n_tasks:
        raise ValueError(f"groups must be a 1-D array with one label per task ({n_tasks}), "
                         f"got shape {labels.shape}")
    _, index = np.unique(labels, return_inverse=True)
    index = index.reshape(-1)
    return index, int(index.max()) + 1


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not (isinstance(seed, int) or _is_integral(seed))
                             or seed < 0):
        raise ValueError(f"seed must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(seed)


def _check_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not (isinstance(n_resamples, int) or _is_integral(n_resamples)) \
            or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    return int(n_resamples)


def _normal_interval(center: float, se: float, level: float) -> Interval:
    if math.isnan(se):
        return Interval(math.nan, math.nan)
    z = normal_ppf(1.0 - (1.0 - level) / 2.0)
    return Interval(center - z * se, center + z * se)


def _clustered_se(values: np.ndarray, groups: ArrayLike | None) -> tuple[float, int | None]:
    """SE of the mean: CLT over tasks, or cluster-robust over task groups (CR1)."""
    n = values.shape[0]
    if groups is None:
        if n < 2:
            return math.nan, None
        return math.sqrt(float(np.var(values, ddof=1)) / n), None
    index, n_clusters = _group_index(groups, n)
    if n_clusters < 2:
        return math.nan, n_clusters
    residuals = values - values.mean()
    cluster_sums = np.bincount(index, weights=residuals, minlength=n_clusters)
    variance_sum = n_clusters / (n_clusters - 1) * float(np.dot(cluster_sums, cluster_sums))
    return math.sqrt(variance_sum) / n, n_clusters


# ---------------------------------------------------------------------------------------------
# Score uncertainty (Miller 2024)
# ---------------------------------------------------------------------------------------------


def task_means(values_per_task: Sequence[ArrayLike] | np.ndarray) -> np.ndarray:
    """Mean of each task's runs: one value per task (Miller 2024, §2: a task is a cluster).

    ``values_per_task`` is a 2-D array (tasks × runs) or a sequence of 1-D arrays, one per
    task, of possibly different lengths. Every task needs at least one finite value.
    """
    if isinstance(values_per_task, np.ndarray) and values_per_task.ndim == 2:
        matrix = _as_matrix("values_per_task", values_per_task)
        return matrix.mean(axis=1)
    if len(values_per_task) == 0:
        raise ValueError("values_per_task is empty: at least one task is needed")
    lengths = np.fromiter((np.size(runs) for runs in values_per_task), dtype=np.int64,
                          count=len(values_per_task))
    if (lengths == 0).any():
        index = int(np.flatnonzero(lengths == 0)[0])
        raise ValueError(f"values_per_task[{index}] has no runs: every task needs at least one")
    flat = _as_scores("values_per_task (all runs)",
                      np.concatenate([np.ravel(np.asarray(runs, dtype=np.float64))
                                      for runs in values_per_task]))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return np.add.reduceat(flat, starts) / lengths


def task_clustered_mean(task_means: ArrayLike, groups: ArrayLike | None = None,
                        confidence: float = 0.95) -> MeanEstimate:
    """Mean score over tasks with its CLT standard error (Miller 2024, arXiv 2411.00640).

    Each entry of ``task_means`` is one task's mean over its runs. Without ``groups``::

        SE = sqrt(var(task_means, ddof=1) / n)

    With ``groups`` (one label per task, e.g. a dataset or template) the cluster-robust SE
    (Miller 2024 §2.3; Cameron & Miller 2015 CR1)::

        SE_cl = sqrt(C/(C−1) · Σ_c (Σ_{i∈c} e_i)²) / n,   e_i = x_i − mean(x)

    which equals statsmodels ``OLS(x, ones).fit(cov_type="cluster")`` (its default correction
    C/(C−1)·(n−1)/(n−k) reduces to C/(C−1) for k = 1 regressor). The interval is the normal
    (CLT) one, mean ± z·SE, as Miller recommends; it is not clipped to [0, 1]. SE and CI are
    NaN for a single task (or a single group).
    """
    level = _check_confidence(confidence)
    values = _as_scores("task_means", task_means)
    se, n_clusters = _clustered_se(values, groups)
    mean = float(values.mean())
    return MeanEstimate(mean, se, _normal_interval(mean, se, level), int(values.shape[0]), n_clusters)


def clustered_mean(values_per_task: Sequence[ArrayLike] | np.ndarray, groups: ArrayLike | None = None,
                   confidence: float = 0.95) -> MeanEstimate:
    """Task-clustered mean of raw run scores: :func:`task_means` then :func:`task_clustered_mean`.

    Miller (2024) §2.2: runs of the same task are one cluster, so the task means, not the
    pooled runs, are the independent observations.
    """
    return task_clustered_mean(task_means(values_per_task), groups, confidence)


def paired_difference(a_task_means: ArrayLike, b_task_means: ArrayLike, groups: ArrayLike | None = None,
                      confidence: float = 0.95) -> PairedDifference:
    """Paired difference of two models over the same tasks (Miller 2024 §4).

    d_i = a_i − b_i for task i (arrays aligned by position); delta = mean(d) and
    SE = sqrt(var(d, ddof=1)/n), or the clustered SE of :func:`task_clustered_mean` when
    ``groups`` is given. z = delta/SE, p = 2·(1 − Φ(|z|)), CI = delta ± z_{α/2}·SE.
    With SE = 0 (all differences equal), p is 1 when delta = 0 and 0 otherwise.
    """
    level = _check_confidence(confidence)
    a = _as_scores("a_task_means", a_task_means)
    b = _as_scores("b_task_means", b_task_means)
    if a.shape != b.shape:
        raise ValueError(f"a_task_means has {a.shape[0]} tasks but b_task_means has {b.shape[0]}: "
                         f"a paired comparison needs the same tasks in the same order")
    differences = a - b
    delta = float(differences.mean())
    se, n_clusters = _clustered_se(differences, groups)
    if math.isnan(se):
        z, p_value = math.nan, math.nan
    elif se == 0.0:
        z = 0.0 if delta == 0.0 else math.copysign(math.inf, delta)
        p_value = 1.0 if delta == 0.0 else 0.0
    else:
        z = delta / se
        p_value = min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))
    correlation = math.nan
    if a.shape[0] >= 2 and np.ptp(a) > 0 and np.ptp(b) > 0:
        correlation = float(np.corrcoef(a, b)[0, 1])
    return PairedDifference(delta, se, _normal_interval(delta, se, level), int(a.shape[0]),
                            n_clusters, z, p_value, correlation)


# ---------------------------------------------------------------------------------------------
# McNemar
# ---------------------------------------------------------------------------------------------


def _discordant(b: int, c: int) -> tuple[int, int]:
    checked = []
    for name, value in (("b", b), ("c", c)):
        count = _check_count(name, value)
        if count < 0:
            raise ValueError(f"{name} must be a non-negative count of discordant pairs, got {value!r}")
        checked.append(count)
    return checked[0], checked[1]


def mcnemar_exact(b: int, c: int) -> TestResult:
    """Exact (conditional) McNemar test for paired pass/fail outcomes.

    ``b`` counts pairs where A passed and B failed, ``c`` the reverse. Under H0 the
    discordant pairs split Bin(b + c, ½) (McNemar 1947; exact form, Fagerland et al. 2013)::

        p = min(1, 2 · BinomCDF(min(b, c); b + c, ½))

    The statistic is min(b, c) (as statsmodels' ``mcnemar(exact=True)``). No discordant
    pairs gives p = 1.
    """
    b, c = _discordant(b, c)
    smaller, total = min(b, c), b + c
    if total == 0:
        return TestResult(0.0, 1.0, "exact McNemar")
    p_value = min(1.0, 2.0 * binom_cdf(smaller, total, 0.5))
    return TestResult(float(smaller), p_value, "exact McNemar")


def mcnemar_midp(b: int, c: int) -> TestResult:
    """Mid-p McNemar test (Fagerland, Lydersen & Laake 2013, BMC Med Res Methodol 13:91).

    The mid-p value counts tables more extreme than the observed one fully and equally
    extreme ones by half. With m = min(b, c), n = b + c and X ~ Bin(n, ½)::

        b ≠ c:  p_mid = 2·P(X ≤ m) − P(X = m)       (the exact p minus the point probability)
        b = c:  p_mid = 1 − ½·P(X = m)              (the observed table has no mirror image)

    as in the paper's supplementary material. Less conservative than the exact test, and it
    kept the nominal level in all 9595 scenarios the authors checked. No discordant pairs
    (b = c = 0) gives p = 1: there is nothing to test.
    """
    b, c = _discordant(b, c)
    smaller, total = min(b, c), b + c
    if total == 0:
        return TestResult(0.0, 1.0, "mid-p McNemar")
    point = binom_pmf(smaller, total, 0.5)
    if b == c:
        p_value = 1.0 - 0.5 * point
    else:
        p_value = 2.0 * binom_cdf(smaller, total, 0.5) - point
    return TestResult(float(smaller), min(1.0, max(0.0, p_value)), "mid-p McNemar")


# ---------------------------------------------------------------------------------------------
# Sign-flip permutation test
# ---------------------------------------------------------------------------------------------

EXACT_PERMUTATION_MAX_TASKS = 16
"""Up to this many tasks the sign-flip test enumerates all 2ⁿ sign patterns exactly."""

_TIE_RTOL = 1e-12
_CHUNK_ELEMENTS = 2_000_000


def _all_sign_patterns(n: int) -> np.ndarray:
    """The 2^(n−1) sign vectors with the first sign +1 (the rest are their negations)."""
    codes = np.arange(2 ** (n - 1), dtype=np.int64)
    bits = (codes[:, np.newaxis] >> np.arange(n - 1, dtype=np.int64)) & 1
    signs = np.ones((codes.shape[0], n), dtype=np.float64)
    signs[:, 1:] = 1.0 - 2.0 * bits
    return signs


def _sign_blocks(n_clusters: int, n_resamples: int, seed: int | np.random.Generator | None,
                 exact_max_tasks: int):
    """The sign patterns of a sign-flip test, in blocks: (exact, number of patterns, blocks).

    Exact (n ≤ ``exact_max_tasks``): the 2^(n−1) patterns whose first sign is +1 (each stands
    for itself and its negation, which gives the same |statistic|). Monte Carlo: ``n_resamples``
    seeded patterns, each sign +1 or −1 with probability ½. Every caller with the same
    arguments sees the same patterns in the same order.
    """
    if n_clusters <= exact_max_tasks:
        signs = _all_sign_patterns(n_clusters) if n_clusters else np.ones((1, 0))
        step = max(1, _CHUNK_ELEMENTS // max(n_clusters, 1))
        return True, signs.shape[0], (signs[start:start + step] for start in range(0, signs.shape[0], step))

    def random_blocks():
        rng = _rng(seed)
        n_bytes = (n_clusters + 7) // 8
        chunk = max(1, _CHUNK_ELEMENTS // n_clusters)
        for start in range(0, n_resamples, chunk):
            rows = min(chunk, n_resamples - start)
            random_bytes = rng.integers(0, 256, size=(rows, n_bytes), dtype=np.uint8)
            flips = np.unpackbits(random_bytes, axis=1, count=n_clusters).astype(np.float64)
            yield 1.0 - 2.0 * flips

    return False, n_resamples, random_blocks()


def _check_exact_max(exact_max_tasks: int) -> int:
    if isinstance(exact_max_tasks, bool) or not isinstance(exact_max_tasks, int) \
            or not 0 <= exact_max_tasks <= 24:
        raise ValueError(f"exact_max_tasks must be an integer in [0, 24], got {exact_max_tasks!r}")
    return exact_max_tasks


def _method(exact: bool, n_clusters: int, n_resamples: int) -> str:
    if exact:
        return f"sign-flip permutation (exact, {2 ** n_clusters} sign patterns)"
    return f"sign-flip permutation (Monte Carlo, {n_resamples} resamples)"


def sign_flip_test_batch(differences: ArrayLike, *, n_resamples: int = 10_000,
                         seed: int | np.random.Generator | None = 0,
                         exact_max_tasks: int = EXACT_PERMUTATION_MAX_TASKS) -> BatchTestResult:
    """Two-sided paired sign-flip permutation test for each row of ``differences``.

    ``differences`` is (comparisons × tasks): row r holds d_i = a_i − b_i for one model pair
    over the same tasks. Under H0 (no difference) each d_i is symmetric about 0, so flipping
    its sign leaves the distribution unchanged (Fisher 1935; Good 2005, *Permutation,
    Parametric and Bootstrap Tests*). The statistic is the mean difference T = mean(d);
    p = P(|T*| ≥ |T|) over sign patterns, where values within 1e-12·Σ|d_i|/n of |T| count
    as ties (so rounding does not decide the p-value).

    With n ≤ ``exact_max_tasks`` all 2ⁿ patterns are enumerated (half of them, by symmetry);
    the p-value is exact. Otherwise ``n_resamples`` random patterns are drawn (seeded) and
    p = (1 + #{|T*| ≥ |T|}) / (n_resamples + 1) (Phipson & Smyth 2010), never 0. All rows
    share the same patterns, so a batch is one matrix product per chunk.
    """
    matrix = _as_matrix("differences", differences)
    n_resamples = _check_resamples(n_resamples)
    n_rows, n_tasks = matrix.shape
    exact, count, blocks = _sign_blocks(n_tasks, n_resamples, seed, _check_exact_max(exact_max_tasks))
    observed = matrix.sum(axis=1)
    threshold = np.abs(observed) - _TIE_RTOL * np.abs(matrix).sum(axis=1)
    exceed = np.zeros(n_rows, dtype=np.int64)
    for block in blocks:
        exceed += (np.abs(block @ matrix.T) >= threshold).sum(axis=0)
    p_value = exceed / float(count) if exact else (exceed + 1.0) / (n_resamples + 1.0)
    return BatchTestResult(observed / n_tasks, np.minimum(p_value, 1.0), _method(exact, n_tasks, n_resamples))


@dataclasses.dataclass(frozen=True, slots=True)
class SignFlipInference:
    """The sign-flip test of weighted means and the intervals that invert it (one per row).

    ``estimate`` is Σ_g c_g (the weighted mean difference), ``p_value`` the two-sided p-value
    of estimate = 0, ``low``/``high`` the interval {δ : p(δ) > α_row} at each row's level
    (−inf/inf where no bound exists: too few clusters to reject anything at that level).
    """

    estimate: np.ndarray
    p_value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    level: np.ndarray
    method: str


def sign_flip_inference_batch(contributions: ArrayLike, weights: ArrayLike, alpha: ArrayLike | float, *,
                              n_resamples: int = 10_000, seed: int | np.random.Generator | None = 0,
                              exact_max_tasks: int = EXACT_PERMUTATION_MAX_TASKS) -> SignFlipInference:
    """Sign-flip test and test-inversion interval of a weighted mean difference, per row.

    Row r compares two models on the clusters (tasks, or task groups) they share: ``c_g`` is
    cluster g's contribution Σ_{t∈g} π_t d_t to the weighted difference Δ = Σ_g c_g, and
    ``weights`` ω_g = Σ_{t∈g} π_t its share of the weight (ω sums to 1 over the row's clusters;
    0 for clusters the row does not have). Under H0: Δ = δ with every task shifted by δ, the
    shifted contributions c_g − δ ω_g are symmetric about 0 (Fisher 1935; Good 2005), so

        p(δ) = P(|Σ s_g (c_g − δ ω_g)| ≥ |Σ (c_g − δ ω_g)|)

    over sign patterns s (exact up to ``exact_max_tasks`` clusters, else ``n_resamples`` seeded
    patterns with p = (1 + count)/(R + 1), Phipson & Smyth 2010). ``p_value`` is p(0), equal to
    :func:`sign_flip_test_batch` of the contributions with the same seed.

    The interval is {δ : p(δ) > α_r} (Hartigan 1969; the permutation-test inversion of Lehmann
    & Romano 2005, §15.2): for pattern s, |a − δb| ≥ |Δ − δ| (a = s·c, b = s·ω, |b| ≤ 1) holds
    exactly for δ between (Δ − a)/(1 − b) and (Δ + a)/(1 + b), an interval that contains Δ; so
    the interval's ends are order statistics of those endpoints, computed without search.
    By construction the interval excludes 0 exactly when p(0) ≤ α_r.
    """
    patterns = SignFlipPatterns(contributions, weights, n_resamples=n_resamples, seed=seed,
                                exact_max_tasks=exact_max_tasks)
    levels = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (patterns.p_value.shape[0],)).copy()
    low, high = patterns.interval(levels)
    return SignFlipInference(patterns.estimate, patterns.p_value, low, high, levels, patterns.method)


class SignFlipPatterns:
    """The sign patterns of :func:`sign_flip_inference_batch`, projected once per row.

    For every pattern s and row r it keeps a = s·c_r and b = s·ω_r; from them come the p-value
    of δ = 0 (``p_value``) and, by :meth:`interval`, the inverted interval at any level, without
    projecting again (Holm's levels are known only once every p-value is).
    """

    def __init__(self, contributions: ArrayLike, weights: ArrayLike, *, n_resamples: int = 10_000,
                 seed: int | np.random.Generator | None = 0,
                 exact_max_tasks: int = EXACT_PERMUTATION_MAX_TASKS) -> None:
        c = _as_matrix("contributions", contributions)
        w = _as_matrix("weights", weights)
        if c.shape != w.shape:
            raise ValueError(f"contributions have shape {c.shape} but weights {w.shape}: one weight per cluster")
        if (w < 0).any():
            raise ValueError("weights must be >= 0 (each cluster's share of the weighted mean)")
        n_rows, n_clusters = c.shape
        self.n_resamples = _check_resamples(n_resamples)
        self.exact, self.count, blocks = _sign_blocks(n_clusters, self.n_resamples, seed,
                                                      _check_exact_max(exact_max_tasks))
        self.method = _method(self.exact, n_clusters, self.n_resamples)
        estimate = c.sum(axis=1)
        self.total = w.sum(axis=1)
        self.scale = np.abs(c).sum(axis=1)
        threshold = np.abs(estimate) - _TIE_RTOL * self.scale
        exceed = np.zeros(n_rows, dtype=np.int64)
        projected_a, projected_b = [], []
        for block in blocks:
            a = block @ c.T  # (patterns, rows)
            projected_a.append(a)
            projected_b.append(block @ w.T)
            exceed += (np.abs(a) >= threshold).sum(axis=0)
        self._a = np.concatenate(projected_a, axis=0).T.copy()  # (rows, patterns), contiguous per row
        self._b = np.concatenate(projected_b, axis=0).T.copy()
        if self.exact:
            p_value = exceed / float(self.count)
        else:
            p_value = (exceed + 1.0) / (self.n_resamples + 1.0)
        self.empty = self.total <= 0
        self.estimate = np.where(self.empty, np.nan, estimate)
        self.p_value = np.where(self.empty, np.nan, np.minimum(p_value, 1.0))

    def interval(self, alpha: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Each row's interval {δ : p(δ) > α_r}; −inf/inf where no end exists."""
        n_rows = self._a.shape[0]
        levels = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (n_rows,))
        if ((levels <= 0) | (levels >= 1) | np.isnan(levels)).any():
            raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
        if self.exact:
            # p(δ) = count/H > α  ⟺  count ≥ floor(α·H) + 1
            needed = np.floor(levels * self.count).astype(np.int64) + 1
        else:
            # p(δ) = (1 + count)/(R + 1) > α  ⟺  count ≥ floor(α·(R + 1) − 1) + 1
            needed = np.maximum(np.floor(levels * (self.n_resamples + 1.0) - 1.0).astype(np.int64) + 1, 0)
        low = np.full(n_rows, -np.inf)
        high = np.full(n_rows, np.inf)
        for row in range(n_rows):
            k = int(needed[row])
            if k <= 0 or self.empty[row]:
                continue
            low_ends, high_ends = self._ends(row)
            low[row] = np.partition(low_ends, k - 1)[k - 1]
            high[row] = -np.partition(-high_ends, k - 1)[k - 1]
        # The interval always holds the estimate; ties at 0 follow the test.
        not_rejected = self.p_value > levels
        low = np.where(not_rejected, np.minimum(low, 0.0), low)
        high = np.where(not_rejected, np.maximum(high, 0.0), high)
        low = np.where(self.empty, np.nan, np.minimum(low, self.estimate))
        high = np.where(self.empty, np.nan, np.maximum(high, self.estimate))
        return low, high

    def _ends(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Per pattern, the δ range where it counts as extreme: between (Δ − a)/(1 − b) and
        (Δ + a)/(1 + b) (scaled by the total weight); everywhere for the observed pattern."""
        a, b = self._a[row], self._b[row]
        estimate, total = self.estimate[row], self.total[row]
        with np.errstate(invalid="ignore", divide="ignore"):
            minus = total - b
            plus = total + b
            first = np.where(minus > 1e-12 * total, (estimate - a) / minus, np.nan)
            second = np.where(plus > 1e-12 * total, (estimate + a) / plus, np.nan)
        degenerate = np.isnan(first) | np.isnan(second)
        low_ends = np.where(degenerate, -np.inf, np.fmin(first, second))
        high_ends = np.where(degenerate, np.inf, np.fmax(first, second))
        # Endpoints within rounding of 0 are 0, as ties count in p(0).
        tolerance = _TIE_RTOL * max(float(self.scale[row]), 1e-300)
        low_ends[np.abs(low_ends) <= tolerance] = 0.0
        high_ends[np.abs(high_ends) <= tolerance] = 0.0
        return low_ends, high_ends


def holm_levels(p_values: ArrayLike, alpha: float) -> np.ndarray:
    """The level at which Holm's step-down procedure tests each hypothesis, for intervals that
    agree with its decisions.

    With p sorted ascending, the j-th hypothesis is tested at α/(m − j + 1) while every smaller
    one was rejected; from the first non-rejection k on, at α/(m − k + 1). A test-inversion
    interval at these levels excludes 0 exactly when the Holm-adjusted p-value is ≤ α. (For
    m = 1 this is α.)
    """
    values = _as_scores("p_values", p_values, allow_empty=True)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    m = values.shape[0]
    levels = np.empty(m, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    stopped_at = None
    for rank, index in enumerate(order):
        if stopped_at is None and values[index] > alpha / (m - rank):
            stopped_at = rank
        levels[index] = alpha / (m - (rank if stopped_at is None else stopped_at))
    return levels


def sign_flip_test(a_task_means: ArrayLike, b_task_means: ArrayLike, *, n_resamples: int = 10_000,
                   seed: int | np.random.Generator | None = 0,
                   exact_max_tasks: int = EXACT_PERMUTATION_MAX_TASKS) -> TestResult:
    """Paired sign-flip permutation test of mean(a − b) = 0; see :func:`sign_flip_test_batch`."""
    a = _as_scores("a_task_means", a_task_means)
    b = _as_scores("b_task_means", b_task_means)
    if a.shape != b.shape:
        raise ValueError(f"a_task_means has {a.shape[0]} tasks but b_task_means has {b.shape[0]}: "
                         f"a paired test needs the same tasks in the same order")
    batch = sign_flip_test_batch(a - b, n_resamples=n_resamples, seed=seed,
                                 exact_max_tasks=exact_max_tasks)
    return TestResult(float(batch.statistic[0]), float(batch.p_value[0]), batch.method)


# ---------------------------------------------------------------------------------------------
# Paired bootstrap
# ---------------------------------------------------------------------------------------------


def paired_bootstrap_batch(differences: ArrayLike, *, n_resamples: int = 10_000, confidence: float = 0.95,
                           seed: int | np.random.Generator | None = 0) -> BootstrapBatch:
    """Percentile bootstrap CI of the mean difference, resampling tasks (Efron & Tibshirani 1993).

    ``differences`` is (comparisons × tasks). Each resample draws n task indices with
    replacement (one seeded draw shared by every row, so comparisons stay paired on the same
    tasks) and takes the mean of each row over them. The CI is the (α/2, 1 − α/2) quantiles
    of the resampled means (numpy's default linear interpolation between order statistics);
    ``se`` is their standard deviation (ddof=1). One task gives NaN SE and CI.
    """
    level = _check_confidence(confidence)
    matrix = _as_matrix("differences", differences)
    n_resamples = _check_resamples(n_resamples)
    n_rows, n_tasks = matrix.shape
    delta = matrix.mean(axis=1)
    if n_tasks < 2:
        nan = np.full(n_rows, np.nan)
        return BootstrapBatch(delta, nan, nan.copy(), nan.copy(), n_tasks, n_resamples)
    rng = _rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // n_tasks)
    resampled = np.empty((n_resamples, n_rows), dtype=np.float64)
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        indices = rng.integers(0, n_tasks, size=(rows, n_tasks))
        offsets = (indices + (np.arange(rows) * n_tasks)[:, np.newaxis]).ravel()
        counts = np.bincount(offsets, minlength=rows * n_tasks).reshape(rows, n_tasks)
        resampled[start:start + rows] = (counts @ matrix.T) / n_tasks
    alpha = 1.0 - level
    low, high = np.quantile(resampled, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    se = resampled.std(axis=0, ddof=1) if n_resamples > 1 else np.full(n_rows, np.nan)
    return BootstrapBatch(delta, se, low, high, n_tasks, n_resamples)


def paired_bootstrap(a_task_means: ArrayLike, b_task_means: ArrayLike, *, n_resamples: int = 10_000,
                     confidence: float = 0.95,
                     seed: int | np.random.Generator | None = 0) -> BootstrapResult:
    """Paired bootstrap over tasks for mean(a − b); see :func:`paired_bootstrap_batch`."""
    a = _as_scores("a_task_means", a_task_means)
    b = _as_scores("b_task_means", b_task_means)
    if a.shape != b.shape:
        raise ValueError(f"a_task_means has {a.shape[0]} tasks but b_task_means has {b.shape[0]}: "
                         f"a paired bootstrap needs the same tasks in the same order")
    batch = paired_bootstrap_batch(a - b, n_resamples=n_resamples, confidence=confidence, seed=seed)
    return BootstrapResult(float(batch.delta[0]), float(batch.se[0]),
                           Interval(float(batch.low[0]), float(batch.high[0])),
                           batch.n_tasks, batch.n_resamples)


# ---------------------------------------------------------------------------------------------
# Multiple comparisons
# ---------------------------------------------------------------------------------------------


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values, same order as the input.

    Sorting p ascending, p̃_(j) = max_{i ≤ j} min(1, (m − i + 1)·p_(i)); reject H_(j) at level
    α when p̃_(j) ≤ α. Controls the family-wise error rate under any dependence. Pass all
    pairs' p-values at once (the family). An empty input gives an empty array.
    """
    values = _as_scores("p_values", p_values, allow_empty=True)
    outside = (values < 0.0) | (values > 1.0)
    if outside.any():
        index = int(np.flatnonzero(outside)[0])
        raise ValueError(f"p_values[{index}] is {float(values[index])!r}: p-values must lie in [0, 1]")
    m = values.shape[0]
    if m == 0:
        return values
    order = np.argsort(values, kind="stable")
    multipliers = np.arange(m, 0, -1, dtype=np.float64)
    stepped = np.maximum.accumulate(np.minimum(1.0, multipliers * values[order]))
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = stepped
    return adjusted


# ---------------------------------------------------------------------------------------------
# Power and sample size (Miller 2024 §5)
# ---------------------------------------------------------------------------------------------


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        allowed = "a finite number ≥ 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def _check_runs(name: str, value: int) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or _is_integral(value)) or value < 1:
        raise ValueError(f"{name} must be a positive integer number of runs, got {value!r}")
    return int(value)


def _z_sum(alpha: float, power: float) -> float:
    for name, value in (("alpha", alpha), ("power", power)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return normal_ppf(1.0 - alpha / 2.0) + normal_ppf(power)


def _difference_variance(omega2: float, sigma2_a: float, sigma2_b: float, runs_a: int, runs_b: int) -> float:
    omega2 = _check_positive("omega2", omega2, allow_zero=True)
    sigma2_a = _check_positive("sigma2_a", sigma2_a, allow_zero=True)
    sigma2_b = _check_positive("sigma2_b", sigma2_b, allow_zero=True)
    variance = omega2 + sigma2_a / _check_runs("runs_a", runs_a) + sigma2_b / _check_runs("runs_b", runs_b)
    if variance == 0.0:
        raise ValueError("omega2, sigma2_a and sigma2_b are all 0: with no variance any difference "
                         "is detected with one task; give at least one positive variance")
    return variance


def minimum_detectable_effect(n_tasks: int, *, omega2: float, sigma2_a: float = 0.0, sigma2_b: float = 0.0,
                              runs_a: int = 1, runs_b: int = 1, alpha: float = 0.05,
                              power: float = 0.8) -> float:
    """Smallest true mean difference a two-sided paired z-test detects (Miller 2024 §5).

    δ = (z_{α/2} + z_β) · sqrt((ω² + σ_A²/K_A + σ_B²/K_B) / n). The formula ignores the
    (negligible) chance of rejecting in the wrong direction.
    """
    n_tasks = _check_runs("n_tasks", n_tasks)
    variance = _difference_variance(omega2, sigma2_a, sigma2_b, runs_a, runs_b)
    return _z_sum(alpha, power) * math.sqrt(variance / n_tasks)


def tasks_needed(delta: float, *, omega2: float, sigma2_a: float = 0.0, sigma2_b: float = 0.0,
                 runs_a: int = 1, runs_b: int = 1, alpha: float = 0.05, power: float = 0.8) -> int:
    """Tasks needed to detect a true difference ``delta`` (Miller 2024 §5), rounded up.

    n = (z_{α/2} + z_β)² · (ω² + σ_A²/K_A + σ_B²/K_B) / δ².
    """
    delta = abs(_check_nonzero("delta", delta))
    variance = _difference_variance(omega2, sigma2_a, sigma2_b, runs_a, runs_b)
    n = _z_sum(alpha, power) ** 2 * variance / delta**2
    return max(1, math.ceil(n * (1.0 - 1e-12)))


def runs_needed(delta: float, n_tasks: int, *, omega2: float, sigma2_a: float, sigma2_b: float,
                alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Runs per task (same K for both models) to detect ``delta`` with ``n_tasks`` tasks.

    Solving the formula of :func:`tasks_needed` for K = K_A = K_B:
    K = (σ_A² + σ_B²) / (n·δ²/(z_{α/2} + z_β)² − ω²), rounded up. Returns None when no
    number of runs suffices: the between-task variance ω² alone needs more than ``n_tasks``.
    """
    delta = abs(_check_nonzero("delta", delta))
    n_tasks = _check_runs("n_tasks", n_tasks)
    omega2 = _check_positive("omega2", omega2, allow_zero=True)
    within = _check_positive("sigma2_a", sigma2_a, allow_zero=True) \
        + _check_positive("sigma2_b", sigma2_b, allow_zero=True)
    budget = n_tasks * delta**2 / _z_sum(alpha, power) ** 2 - omega2
    if budget <= 0.0:
        return None
    return max(1, math.ceil(within / budget * (1.0 - 1e-12)))


def _check_nonzero(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value == 0:
        raise ValueError(f"{name} must be a finite non-zero difference, got {value!r}")
    return float(value)


def variance_components(runs_a: ArrayLike, runs_b: ArrayLike) -> VarianceComponents:
    """Estimate ω², σ_A², σ_B² from pilot runs (tasks × runs arrays, same tasks in order).

    σ² is the mean over tasks of the within-task run variance (ddof=1), unbiased for the
    mean within-task variance. ω² is the method-of-moments estimate
    var(d̄_i, ddof=1) − σ_A²/K_A − σ_B²/K_B (d̄_i the difference of task means), unbiased
    for the between-task variance of the true difference, floored at 0 (Miller 2024 §5
    defines ω² = var(x_A) + var(x_B) − 2 cov(x_A, x_B) of the true task scores).
    Needs ≥ 2 tasks and ≥ 2 runs per task per model.
    """
    a = np.asarray(runs_a, dtype=np.float64)
    b = np.asarray(runs_b, dtype=np.float64)
    for name, array in (("runs_a", a), ("runs_b", b)):
        if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 2:
            raise ValueError(f"{name} must be a 2-D array (tasks × runs) with at least 2 tasks and "
                             f"2 runs, got shape {array.shape}")
        _as_matrix(name, array)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"runs_a has {a.shape[0]} tasks but runs_b has {b.shape[0]}: "
                         f"variance components need the same tasks")
    sigma2_a = float(np.var(a, axis=1, ddof=1).mean())
    sigma2_b = float(np.var(b, axis=1, ddof=1).mean())
    differences = a.mean(axis=1) - b.mean(axis=1)
    omega2 = float(np.var(differences, ddof=1)) - sigma2_a / a.shape[1] - sigma2_b / b.shape[1]
    return VarianceComponents(max(0.0, omega2), sigma2_a, sigma2_b, int(a.shape[1]), int(b.shape[1]),
                              int(a.shape[0]))


# ---------------------------------------------------------------------------------------------
# pass@k and pass^k
# ---------------------------------------------------------------------------------------------


def _check_pass_counts(n: ArrayLike, c: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray, int]:
    samples = np.atleast_1d(np.asarray(n))
    correct = np.atleast_1d(np.asarray(c))
    for name, array in (("n", samples), ("c", correct)):
        if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer)
                                   or (np.issubdtype(array.dtype, np.floating)
                                       and np.all(np.isfinite(array)) and np.all(array == np.round(array)))):
            raise ValueError(f"{name} must be integer counts (one per task), got {array!r}")
    if samples.shape != correct.shape:
        raise ValueError(f"n has {samples.shape[0]} tasks but c has {correct.shape[0]}")
    if samples.size == 0:
        raise ValueError("n and c are empty: at least one task is needed")
    samples = samples.astype(np.int64)
    correct = correct.astype(np.int64)
    k = _check_count("k", k)
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    bad = (correct < 0) | (correct > samples)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(f"task {index}: c={int(correct[index])} must lie in [0, n={int(samples[index])}]")
    too_few = samples < k
    if too_few.any():
        index = int(np.flatnonzero(too_few)[0])
        raise ValueError(f"task {index}: k={k} exceeds its n={int(samples[index])} samples; k must be ≤ n")
    return samples, correct, k


def pass_at_k_per_task(n: ArrayLike, c: ArrayLike, k: int) -> np.ndarray:
    """Unbiased pass@k per task (Chen et al. 2021, "Evaluating Large Language Models Trained on Code").

    With n samples of which c pass: pass@k = 1 − C(n−c, k)/C(n, k), computed in the stable
    product form 1 − Π_{i=n−c+1}^{n} (1 − k/i) (summed in log space, then −expm1), and 1
    when n − c < k.
    """
    samples, correct, k = _check_pass_counts(n, c, k)
    width = int(correct.max())
    result = np.ones(samples.shape[0], dtype=np.float64)
    computable = samples - correct >= k
    if width == 0 or not computable.any():
        return np.where(computable, 0.0, result)
    offsets = np.arange(width, dtype=np.int64)
    denominators = (samples[computable, np.newaxis] - offsets).astype(np.float64)
    used = offsets < correct[computable, np.newaxis]
    # terms i run over n, n−1, ..., n−c+1; all exceed k here, so log1p(−k/i) is finite
    logs = np.where(used, np.log1p(-k / np.where(used, denominators, np.inf)), 0.0)
    result[computable] = -np.expm1(logs.sum(axis=1))
    return result


def pass_at_k(n: ArrayLike, c: ArrayLike, k: int) -> float:
    """Mean over tasks of :func:`pass_at_k_per_task` (Chen et al. 2021)."""
    return float(pass_at_k_per_task(n, c, k).mean())


def pass_hat_k_per_task(n: ArrayLike, c: ArrayLike, k: int) -> np.ndarray:
    """pass^k per task (τ-bench, Yao et al. 2024): C(c, k)/C(n, k) = Π_{j<k} (c − j)/(n − j).

    The chance that k runs drawn without replacement from the n all pass: a consistency
    measure (pass^1 = c/n; pass^k falls with k unless a task always or never passes).
    """
    samples, correct, k = _check_pass_counts(n, c, k)
    offsets = np.arange(k, dtype=np.int64)
    numerators = np.clip(correct[:, np.newaxis] - offsets, 0, None).astype(np.float64)
    denominators = (samples[:, np.newaxis] - offsets).astype(np.float64)
    return np.prod(numerators / denominators, axis=1)


def pass_hat_k(n: ArrayLike, c: ArrayLike, k: int) -> float:
    """Mean over tasks of :func:`pass_hat_k_per_task` (Yao et al. 2024)."""
    return float(pass_hat_k_per_task(n, c, k).mean())
