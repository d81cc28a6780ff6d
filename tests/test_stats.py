"""Tests of pytest_modelbench.stats against independent references.

References are scipy / statsmodels (test-only dependencies) called here, exact rational
arithmetic (fractions.Fraction + math.comb), or published tables quoted with their source.
Tolerances looser than 1e-12 carry a comment saying why.
"""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import ztest

from pytest_modelbench import stats
from pytest_modelbench.stats import (
    EXACT_PERMUTATION_MAX_TASKS,
    Interval,
    binom_cdf,
    binom_pmf,
    binom_sf,
    clustered_mean,
    holm,
    mcnemar_exact,
    mcnemar_midp,
    minimum_detectable_effect,
    normal_cdf,
    normal_ppf,
    paired_bootstrap,
    paired_bootstrap_batch,
    paired_difference,
    pass_at_k,
    pass_at_k_per_task,
    pass_hat_k,
    pass_hat_k_per_task,
    runs_needed,
    sign_flip_test,
    sign_flip_test_batch,
    task_clustered_mean,
    task_means,
    tasks_needed,
    variance_components,
    wilson_interval,
)


def _mean_difference(x, y, axis):
    return np.mean(x - y, axis=axis)


def _scipy_sign_flip(a, b, n_resamples=np.inf, rng=None):
    """scipy.stats.permutation_test(permutation_type='samples') on the mean difference."""
    return sps.permutation_test((a, b), _mean_difference, permutation_type="samples",
                                vectorized=True, n_resamples=n_resamples,
                                alternative="two-sided", rng=rng)


# ---------------------------------------------------------------------------------------------
# Runtime dependencies
# ---------------------------------------------------------------------------------------------


def test_stats_imports_neither_scipy_nor_pytest():
    code = ("import sys, pytest_modelbench.stats; "
            "bad = [m for m in ('scipy', 'statsmodels', 'pytest') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_results_are_frozen():
    interval = Interval(0.1, 0.2)
    with pytest.raises(AttributeError):
        interval.low = 0.0  # type: ignore[misc]
    assert not hasattr(interval, "__dict__")


# ---------------------------------------------------------------------------------------------
# Normal distribution
# ---------------------------------------------------------------------------------------------

PPF_POINTS = sorted(set(
    [10.0 ** -e for e in (300, 200, 100, 50, 20, 16, 10, 8, 5, 3, 2)]
    + [0.0125, 0.02425, 0.075, 0.1, 0.2, 0.3, 0.4, 0.45, 0.49, 0.499999, 0.5]
    + [1 - 10.0 ** -e for e in (1, 2, 3, 5, 8, 10, 12, 15)]
    + [0.5 + 0.425, 0.5 - 0.425, 0.5 + 0.42499, 0.5 - 0.42501]  # AS 241 region boundaries
))


@pytest.mark.parametrize("p", PPF_POINTS)
def test_normal_ppf_matches_scipy(p):
    # reference: scipy.stats.norm.ppf(p) (Boost/cephes ndtri)
    expected = sps.norm.ppf(p)
    assert normal_ppf(p) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_normal_ppf_dense_grid_matches_scipy():
    # reference: scipy.stats.norm.ppf on 2000 log-spaced lower-tail points and their mirrors
    lower = np.logspace(-300, math.log10(0.5), 2000)
    points = np.concatenate([lower, 1.0 - lower[lower > 1e-15]])
    ours = np.array([normal_ppf(float(p)) for p in points])
    expected = sps.norm.ppf(points)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-300)


def test_normal_ppf_edges_and_symmetry():
    assert normal_ppf(0.5) == 0.0
    assert normal_ppf(0.0) == -math.inf
    assert normal_ppf(1.0) == math.inf
    # dyadic p, so that 1 − p is exact and the symmetry must hold exactly
    for p in (2.0**-40, 2.0**-10, 0.125, 0.25, 0.375):
        assert normal_ppf(p) == -normal_ppf(1 - p)


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, "0.5", None, True])
def test_normal_ppf_rejects_bad_probability(bad):
    with pytest.raises(ValueError, match="normal_ppf.*probability in \\[0, 1\\]"):
        normal_ppf(bad)


@pytest.mark.parametrize("x", [-38.0, -30.0, -10.0, -5.0, -1.96, -1.0, -1e-8, 0.0, 1e-8, 0.5, 1.0,
                               1.96, 3.0, 6.0, 8.0])
def test_normal_cdf_matches_scipy(x):
    # reference: scipy.stats.norm.cdf(x)
    assert normal_cdf(x) == pytest.approx(sps.norm.cdf(x), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("p", [1e-200, 1e-12, 0.001, 0.025, 0.3, 0.5, 0.7, 0.975])
def test_normal_cdf_inverts_ppf(p):
    assert normal_cdf(normal_ppf(p)) == pytest.approx(p, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Wilson interval
# ---------------------------------------------------------------------------------------------

WILSON_CASES = [(x, n, conf) for n in (1, 2, 5, 12, 30, 263, 10_000)
                for x in sorted({0, 1, n // 3, n // 2, n - 1, n}) if 0 <= x <= n
                for conf in (0.8, 0.95, 0.99)]


@pytest.mark.parametrize(("successes", "n", "confidence"), WILSON_CASES)
def test_wilson_matches_statsmodels(successes, n, confidence):
    # reference: statsmodels proportion_confint(x, n, alpha=1-conf, method="wilson")
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    interval = wilson_interval(successes, n, confidence)
    assert interval.low == pytest.approx(low, rel=1e-12, abs=1e-14)
    assert interval.high == pytest.approx(high, rel=1e-12, abs=1e-14)


# Newcombe (1998), Stat. Med. 17:857-872, Table II, method 3 (score interval), 95 %:
# quoted to 4 decimals, so compared to 5e-5.
NEWCOMBE_1998 = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("successes", "n", "low", "high"), NEWCOMBE_1998)
def test_wilson_matches_newcombe_table(successes, n, low, high):
    interval = wilson_interval(successes, n)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_wilson_zero_successes_starts_at_zero():
    for n in (1, 7, 1000):
        interval = wilson_interval(0, n)
        assert interval.low == 0.0
        assert 0.0 < interval.high < 1.0


def test_wilson_all_successes_ends_at_one():
    for n in (1, 7, 1000):
        interval = wilson_interval(n, n)
        assert interval.high == 1.0
        assert 0.0 < interval.low < 1.0


def test_wilson_no_runs_is_nan():
    interval = wilson_interval(0, 0)
    assert math.isnan(interval.low) and math.isnan(interval.high)


def test_wilson_accepts_numpy_integers_and_widens_with_confidence():
    narrow = wilson_interval(np.int64(3), np.int64(12), 0.8)
    wide = wilson_interval(3, 12, 0.99)
    assert wide.low < narrow.low < narrow.high < wide.high


@pytest.mark.parametrize(("args", "message"), [
    ((5, 3), "successes must be an integer in \\[0, n=3\\], got 5"),
    ((-1, 3), "successes must be an integer in \\[0, n=3\\], got -1"),
    ((0, -2), "n must be a non-negative integer, got -2"),
    ((1.5, 3), "successes must be an integer, got 1.5"),
    ((True, 3), "successes must be an integer, got True"),
    ((1, 3, 1.0), "confidence must be a number strictly between 0 and 1, got 1.0"),
    ((1, 3, 95), "confidence must be a number strictly between 0 and 1, got 95"),
])
def test_wilson_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        wilson_interval(*args)


# ---------------------------------------------------------------------------------------------
# Binomial distribution
# ---------------------------------------------------------------------------------------------


def _binom_grid():
    for n in (1, 2, 3, 7, 15, 16, 20, 50, 100, 1000, 1001, 10_000, 100_000, 1_000_000):
        for p in (0.5, 0.3, 0.01, 0.9):
            sd = math.sqrt(n * p * (1 - p))
            for k in sorted({0, 1, int(n * p - 5 * sd), int(n * p - sd), int(n * p), int(n * p) + 1,
                             int(n * p + 2 * sd), n // 2, n - 1, n}):
                if 0 <= k <= n:
                    yield k, n, p


BINOM_GRID = list(_binom_grid())


def _binom_tolerance(value):
    # Both our values and scipy's come from exp() of an exponent of size |ln P|, so their
    # relative error grows like |ln P|·eps: 1e-12 down to 1e-30, 1e-11 below (P ≥ 1e-300).
    return 1e-12 if value >= 1e-30 else 1e-11


@pytest.mark.parametrize(("k", "n", "p"), BINOM_GRID)
def test_binom_matches_scipy(k, n, p):
    # reference: scipy.stats.binom.pmf / cdf / sf(k, n, p) (Boost incomplete beta)
    for ours, theirs in ((binom_pmf, sps.binom.pmf), (binom_cdf, sps.binom.cdf), (binom_sf, sps.binom.sf)):
        expected = float(theirs(k, n, p))
        if expected < 1e-300:
            assert ours(k, n, p) < 1e-290
            continue
        assert ours(k, n, p) == pytest.approx(expected, rel=_binom_tolerance(expected), abs=0)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (3, 12), (1, 29), (13, 40), (189, 1000), (499, 1000),
                                      (500, 1000), (0, 1000)])
def test_binom_half_is_exact_for_moderate_n(k, n):
    # reference: Σ_{x≤k} C(n, x) / 2^n in exact rationals, correctly rounded to a double
    cdf = Fraction(sum(math.comb(n, x) for x in range(k + 1)), 2**n)
    assert binom_cdf(k, n, 0.5) == float(cdf)
    assert binom_sf(k, n, 0.5) == float(1 - cdf)
    assert binom_pmf(k, n, 0.5) == float(Fraction(math.comb(n, k), 2**n))


@pytest.mark.parametrize(("k", "n", "p"), [(7, 1000, 0.3), (250, 1000, 0.3), (5, 60, 0.01), (40, 100, 0.5)])
def test_binom_cdf_matches_exact_rationals(k, n, p):
    # reference: Σ_{x≤k} C(n, x) p^x (1−p)^(n−x) with p the exact binary value of the double
    exact_p = Fraction(p)
    cdf = sum(math.comb(n, x) * exact_p**x * (1 - exact_p) ** (n - x) for x in range(k + 1))
    assert binom_cdf(k, n, p) == pytest.approx(float(cdf), rel=1e-12)


def test_binom_edges():
    assert binom_cdf(-1, 10, 0.3) == 0.0 and binom_sf(-1, 10, 0.3) == 1.0
    assert binom_cdf(10, 10, 0.3) == 1.0 and binom_sf(10, 10, 0.3) == 0.0
    assert binom_cdf(0, 0, 0.3) == 1.0 and binom_pmf(0, 0, 0.3) == 1.0
    assert binom_pmf(11, 10, 0.3) == 0.0 and binom_pmf(-1, 10, 0.3) == 0.0
    assert binom_cdf(0, 10, 0.0) == 1.0 and binom_pmf(0, 10, 0.0) == 1.0
    assert binom_cdf(9, 10, 1.0) == 0.0 and binom_pmf(10, 10, 1.0) == 1.0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: binom_cdf(1, -3, 0.5), "n must be a non-negative integer, got -3"),
    (lambda: binom_cdf(1, 3, 1.5), "p must be a probability in \\[0, 1\\], got 1.5"),
    (lambda: binom_cdf(1.5, 3, 0.5), "k must be an integer, got 1.5"),
    (lambda: binom_pmf(1, 3.0, 0.5), "n must be a non-negative integer, got 3.0"),
])
def test_binom_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# McNemar
# ---------------------------------------------------------------------------------------------

MCNEMAR_CASES = [(1, 7), (7, 1), (3, 12), (0, 5), (0, 1), (10, 10), (25, 40), (2, 30), (100, 130),
                 (480, 520), (4900, 5100), (49_000, 51_000), (499_000, 501_000), (0, 1_000_000)]


@pytest.mark.parametrize(("b", "c"), MCNEMAR_CASES)
def test_mcnemar_exact_matches_statsmodels_and_scipy(b, c):
    # references: statsmodels mcnemar([[0, b], [c, 0]], exact=True).pvalue and
    # scipy.stats.binomtest(b, b + c).pvalue (equal for p = 1/2). Beyond n = 1000 both sides
    # use floating tail sums (Boost ibeta vs ours), agreeing to |ln p|·eps: 1e-11 below 1e-30.
    reference = sm_mcnemar(np.array([[0, b], [c, 0]]), exact=True)
    expected_binomtest = sps.binomtest(b, b + c).pvalue
    result = mcnemar_exact(b, c)
    assert result.statistic == reference.statistic == min(b, c)
    rel = _binom_tolerance(reference.pvalue)
    if reference.pvalue < 1e-300:
        assert result.p_value < 1e-290
    else:
        assert result.p_value == pytest.approx(reference.pvalue, rel=rel)
        assert result.p_value == pytest.approx(expected_binomtest, rel=rel)
    assert result.method == "exact McNemar"


@pytest.mark.parametrize(("b", "c"), [(b, c) for b, c in MCNEMAR_CASES if b != c])
def test_mcnemar_midp_matches_scipy_formula(b, c):
    # reference: 2·scipy.stats.binom.cdf(m, n, .5) − scipy.stats.binom.pmf(m, n, .5),
    # Fagerland et al. (2013) eq. (2) of the supplementary material
    m, n = min(b, c), b + c
    expected = 2 * sps.binom.cdf(m, n, 0.5) - sps.binom.pmf(m, n, 0.5)
    result = mcnemar_midp(b, c)
    if expected < 1e-300:
        assert result.p_value < 1e-290
    else:
        assert result.p_value == pytest.approx(expected, rel=_binom_tolerance(expected))


def test_mcnemar_published_example():
    # Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91, Bentur et al. airway
    # data: n12 = 1, n21 = 7; exact conditional p = 0.070, mid-p = 0.039 (3 decimals quoted).
    assert mcnemar_exact(1, 7).p_value == pytest.approx(0.070, abs=5e-4)
    assert mcnemar_midp(1, 7).p_value == pytest.approx(0.039, abs=5e-4)
    # and exactly: 2·9/256 and 2·9/256 − 8/256
    assert mcnemar_exact(1, 7).p_value == 18 / 256
    assert mcnemar_midp(1, 7).p_value == 10 / 256


def test_mcnemar_no_discordant_pairs():
    assert mcnemar_exact(0, 0) == stats.TestResult(0.0, 1.0, "exact McNemar")
    assert mcnemar_midp(0, 0).p_value == 1.0


@pytest.mark.parametrize("m", [1, 3, 20, 5000])
def test_mcnemar_ties(m):
    # b = c: exact p = 1; mid-p = 1 − ½·P(X = m), Fagerland et al. (2013) supplement
    assert mcnemar_exact(m, m).p_value == 1.0
    expected = 1 - 0.5 * sps.binom.pmf(m, 2 * m, 0.5)
    assert mcnemar_midp(m, m).p_value == pytest.approx(expected, rel=1e-12)


def test_mcnemar_one_sided_extreme():
    # all discordant pairs one way: p = 2·(1/2)^n exactly; mid-p = (1/2)^n
    assert mcnemar_exact(0, 10).p_value == 2 / 1024
    assert mcnemar_midp(10, 0).p_value == 1 / 1024
    assert mcnemar_exact(0, 1).p_value == 1.0


def test_mcnemar_is_symmetric():
    for b, c in [(3, 12), (40, 25), (480, 520)]:
        assert mcnemar_exact(b, c) == mcnemar_exact(c, b)
        assert mcnemar_midp(b, c) == mcnemar_midp(c, b)


@pytest.mark.parametrize(("b", "c", "message"), [
    (-1, 3, "b must be a non-negative count of discordant pairs, got -1"),
    (2, -5, "c must be a non-negative count of discordant pairs, got -5"),
    (2.5, 3, "b must be an integer, got 2.5"),
])
def test_mcnemar_rejects_bad_counts(b, c, message):
    with pytest.raises(ValueError, match=message):
        mcnemar_exact(b, c)
    with pytest.raises(ValueError, match=message):
        mcnemar_midp(b, c)


# ---------------------------------------------------------------------------------------------
# Task-clustered mean (Miller 2024)
# ---------------------------------------------------------------------------------------------


def _task_data(seed, n_tasks=37, n_groups=6):
    rng = np.random.default_rng(seed)
    group_effect = rng.normal(0, 0.15, size=n_groups)
    groups = rng.integers(0, n_groups, size=n_tasks)
    means = np.clip(0.6 + group_effect[groups] + rng.normal(0, 0.1, size=n_tasks), 0, 1)
    return means, groups


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_task_clustered_mean_matches_statsmodels_ols(seed):
    # reference: statsmodels OLS(x, ones).fit() — its bse is sqrt(s²/n), s² with ddof = 1
    means, _ = _task_data(seed)
    result = task_clustered_mean(means)
    fit = sm.OLS(means, np.ones_like(means)).fit()
    assert result.mean == pytest.approx(fit.params[0], rel=1e-12)
    assert result.se == pytest.approx(fit.bse[0], rel=1e-12)
    z = sps.norm.ppf(0.975)
    assert result.ci.low == pytest.approx(fit.params[0] - z * fit.bse[0], rel=1e-12)
    assert result.ci.high == pytest.approx(fit.params[0] + z * fit.bse[0], rel=1e-12)
    assert result.n_tasks == means.shape[0] and result.n_clusters is None


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_grouped_mean_matches_statsmodels_cluster(seed, confidence):
    # reference: statsmodels OLS(x, ones).fit(cov_type="cluster", cov_kwds={"groups": g}); its
    # default correction C/(C−1)·(n−1)/(n−k) is C/(C−1) for k = 1, as in our formula, and with
    # use_t=False its interval is normal, like ours.
    means, groups = _task_data(seed)
    fit = sm.OLS(means, np.ones_like(means)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    result = task_clustered_mean(means, groups=groups, confidence=confidence)
    assert result.se == pytest.approx(fit.bse[0], rel=1e-12)
    low, high = fit.conf_int(alpha=1 - confidence)[0]
    assert result.ci.low == pytest.approx(low, rel=1e-12)
    assert result.ci.high == pytest.approx(high, rel=1e-12)
    assert result.n_clusters == len(np.unique(groups))


def test_grouped_mean_accepts_string_labels_and_singletons_reduce_to_plain():
    means, groups = _task_data(5)
    labels = np.array([f"dataset-{g}" for g in groups])
    assert task_clustered_mean(means, groups=labels).se == \
        pytest.approx(task_clustered_mean(means, groups=groups).se, rel=1e-15)
    singletons = task_clustered_mean(means, groups=np.arange(means.shape[0]))
    assert singletons.se == pytest.approx(task_clustered_mean(means).se, rel=1e-12)


def test_clustered_mean_from_runs_uses_task_means():
    # Miller (2024) §2.2: runs of a task are one cluster; ragged run counts allowed
    runs = [[1, 1, 0], [0, 0], [1], [0.5, 1.0, 0.0, 0.5]]
    expected_means = np.array([2 / 3, 0.0, 1.0, 0.5])
    np.testing.assert_allclose(task_means(runs), expected_means, rtol=1e-15)
    result = clustered_mean(runs)
    reference = task_clustered_mean(expected_means)
    assert result.mean == pytest.approx(reference.mean, rel=1e-15)
    assert result.se == pytest.approx(reference.se, rel=1e-14)
    matrix = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=float)
    np.testing.assert_allclose(task_means(matrix), [2 / 3, 0, 1], rtol=1e-15)
    assert clustered_mean(matrix).mean == pytest.approx(5 / 9, rel=1e-15)


def test_clustered_se_exceeds_naive_pooled_se_when_tasks_differ():
    # the point of clustering: runs of one task agree, so pooling n·K runs understates the SE
    rng = np.random.default_rng(11)
    task_rates = rng.uniform(0, 1, size=40)
    runs = (rng.uniform(size=(40, 10)) < task_rates[:, None]).astype(float)
    clustered = clustered_mean(runs)
    pooled_se = runs.ravel().std(ddof=1) / math.sqrt(runs.size)
    assert clustered.se > 1.5 * pooled_se


def test_clustered_mean_one_task_has_no_se():
    result = task_clustered_mean([0.7])
    assert result.mean == 0.7 and math.isnan(result.se)
    assert math.isnan(result.ci.low) and math.isnan(result.ci.high)


def test_clustered_mean_one_group_has_no_se():
    result = task_clustered_mean([0.1, 0.5, 0.9], groups=["a", "a", "a"])
    assert math.isnan(result.se) and result.n_clusters == 1


def test_clustered_mean_all_equal_scores_zero_width():
    for scores in ([0.0] * 5, [1.0] * 5):
        result = task_clustered_mean(scores)
        assert result.se == 0.0
        assert result.ci == Interval(scores[0], scores[0])


@pytest.mark.parametrize(("call", "message"), [
    (lambda: task_clustered_mean([]), "task_means is empty"),
    (lambda: task_clustered_mean([0.1, math.nan]), "task_means\\[1\\] is nan"),
    (lambda: task_clustered_mean([[0.1, 0.2]]), "must be a 1-D array.*shape \\(1, 2\\)"),
    (lambda: task_clustered_mean([0.1, 0.2], groups=[1]), "one label per task \\(2\\).*shape \\(1,\\)"),
    (lambda: task_clustered_mean([0.1, 0.2], confidence=0), "confidence must be.*got 0"),
    (lambda: clustered_mean([[1.0], []]), "values_per_task\\[1\\] has no runs"),
    (lambda: clustered_mean([]), "values_per_task is empty"),
])
def test_clustered_mean_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# Paired difference
# ---------------------------------------------------------------------------------------------


def _paired_data(seed, n=50, shift=0.03):
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0, 1, size=n)
    a = np.clip(difficulty + shift + rng.normal(0, 0.08, size=n), 0, 1)
    b = np.clip(difficulty + rng.normal(0, 0.08, size=n), 0, 1)
    return a, b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_difference_matches_statsmodels_ztest(seed):
    # reference: statsmodels ztest(a − b, value=0) (std with ddof=1, normal p-value) and
    # scipy.stats.pearsonr(a, b) for the correlation
    a, b = _paired_data(seed)
    result = paired_difference(a, b)
    z_reference, p_reference = ztest(a - b, value=0.0)
    assert result.delta == pytest.approx(np.mean(a - b), rel=1e-12)
    assert result.z == pytest.approx(z_reference, rel=1e-12)
    assert result.p_value == pytest.approx(p_reference, rel=1e-12)
    assert result.se == pytest.approx(np.std(a - b, ddof=1) / math.sqrt(a.shape[0]), rel=1e-12)
    assert result.correlation == pytest.approx(sps.pearsonr(a, b).statistic, rel=1e-12)
    assert result.n_tasks == 50 and result.n_clusters is None


def test_paired_difference_clustered_matches_statsmodels():
    # reference: OLS(a − b, ones).fit(cov_type="cluster") bse, normal p-value and interval
    a, b = _paired_data(4, n=60)
    groups = np.repeat(np.arange(12), 5)
    fit = sm.OLS(a - b, np.ones(60)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    result = paired_difference(a, b, groups=groups)
    assert result.se == pytest.approx(fit.bse[0], rel=1e-12)
    assert result.p_value == pytest.approx(fit.pvalues[0], rel=1e-11)  # p from erfc vs scipy norm.sf
    low, high = fit.conf_int()[0]
    assert (result.ci.low, result.ci.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    assert result.n_clusters == 12


def test_paired_difference_identical_models():
    a, _ = _paired_data(0)
    result = paired_difference(a, a.copy())
    assert result.delta == 0.0 and result.se == 0.0 and result.p_value == 1.0 and result.z == 0.0
    assert result.ci == Interval(0.0, 0.0)


def test_paired_difference_constant_shift_is_certain():
    a = np.array([0.25, 0.5, 0.75, 1.0])
    result = paired_difference(a, a - 0.25)
    assert result.se == 0.0 and result.p_value == 0.0 and result.z == math.inf


def test_paired_difference_one_task():
    result = paired_difference([0.9], [0.4])
    assert result.delta == pytest.approx(0.5)
    assert math.isnan(result.se) and math.isnan(result.p_value) and math.isnan(result.correlation)


def test_paired_difference_rejects_mismatched_tasks():
    with pytest.raises(ValueError, match="a_task_means has 3 tasks but b_task_means has 2"):
        paired_difference([0.1, 0.2, 0.3], [0.1, 0.2])


# ---------------------------------------------------------------------------------------------
# Sign-flip permutation test
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "n_tasks"), [(0, 2), (1, 5), (2, 9), (3, 12), (4, 16), (5, 16)])
def test_sign_flip_exact_matches_scipy(seed, n_tasks):
    # reference: scipy.stats.permutation_test(permutation_type="samples", n_resamples=inf),
    # which enumerates all 2^n pairings exactly
    rng = np.random.default_rng(seed)
    a = rng.uniform(size=n_tasks)
    b = np.clip(a - 0.1 + rng.normal(0, 0.2, size=n_tasks), 0, 1)
    reference = _scipy_sign_flip(a, b)
    result = sign_flip_test(a, b)
    assert result.p_value == reference.pvalue
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert result.method == f"sign-flip permutation (exact, {2 ** n_tasks} sign patterns)"


def _exact_sign_flip_p(differences):
    """Reference by brute force in exact rationals: P(|Σ s_i d_i| ≥ |Σ d_i|)."""
    values = [Fraction(d) for d in differences]
    observed = abs(sum(values))
    n = len(values)
    hits = 0
    for code in range(2**n):
        total = sum(v if (code >> i) & 1 == 0 else -v for i, v in enumerate(values))
        hits += abs(total) >= observed
    return Fraction(hits, 2**n)


@pytest.mark.parametrize("differences", [
    [0.5, 0.25, 0.125, -0.125, 0.75, 0.5, 0.0, 0.25],
    [0.1, 0.2, -0.3],            # |0.1 + 0.2 − 0.3| is 5.6e-17 in doubles, 0 exactly: p = 1
    [0.1, 0.2, 0.3, 0.6, -0.2, 0.7, 0.1],
    [1.0, 1.0, 1.0, 1.0],
])
def test_sign_flip_exact_matches_rational_enumeration(differences):
    # reference: the decimal values as exact rationals, so rounding cannot create or break ties
    expected = _exact_sign_flip_p([Fraction(str(d)) for d in differences])
    result = sign_flip_test(differences, np.zeros(len(differences)))
    assert result.p_value == float(expected)


def test_sign_flip_identical_models_p_is_one():
    a = np.linspace(0, 1, 30)
    assert sign_flip_test(a, a.copy()).p_value == 1.0          # Monte Carlo branch (n > 16)
    assert sign_flip_test(a[:10], a[:10].copy()).p_value == 1.0  # exact branch


def test_sign_flip_one_task():
    result = sign_flip_test([0.9], [0.1])
    assert result.p_value == 1.0 and result.statistic == pytest.approx(0.8)


def test_sign_flip_all_same_sign_exact_minimum():
    # only the all-+ and all-− patterns reach |T|: p = 2 / 2^n
    assert sign_flip_test(np.full(10, 0.3), np.zeros(10)).p_value == 2 / 1024


def test_sign_flip_monte_carlo_never_zero():
    # Phipson & Smyth (2010): p = (1 + #{|T*| ≥ |T|}) / (B + 1); here no resample reaches |T|
    # except with probability 2^-39 per draw
    result = sign_flip_test(np.full(40, 0.3), np.zeros(40), n_resamples=999)
    assert result.p_value == 1 / 1000
    assert result.method == "sign-flip permutation (Monte Carlo, 999 resamples)"


def test_sign_flip_monte_carlo_close_to_exact():
    # forcing Monte Carlo on 16 tasks: B = 40000 draws give an SE of sqrt(p(1−p)/B) ≈ 0.0025;
    # allow 4.5 SE (deterministic with the fixed seed)
    rng = np.random.default_rng(9)
    a = rng.uniform(size=16)
    b = np.clip(a - 0.08 + rng.normal(0, 0.2, size=16), 0, 1)
    exact = sign_flip_test(a, b).p_value
    monte_carlo = sign_flip_test(a, b, n_resamples=40_000, exact_max_tasks=0, seed=3).p_value
    assert abs(monte_carlo - exact) <= 4.5 * math.sqrt(exact * (1 - exact) / 40_000)


def test_sign_flip_monte_carlo_close_to_scipy():
    # scipy's randomized permutation_test with 20000 resamples: both are Monte Carlo estimates of
    # the same p-value, so they differ by up to ~4.5·sqrt(2·p(1−p)/B)
    a, b = _paired_data(7, n=40, shift=0.02)
    ours = sign_flip_test(a, b, n_resamples=20_000, seed=1).p_value
    reference = _scipy_sign_flip(a, b, n_resamples=20_000, rng=1).pvalue
    assert abs(ours - reference) <= 4.5 * math.sqrt(2 * reference * (1 - reference) / 20_000)


def test_sign_flip_seeded_and_batch_consistent():
    a, b = _paired_data(8, n=30)
    first = sign_flip_test(a, b, seed=5)
    assert sign_flip_test(a, b, seed=5) == first
    assert sign_flip_test(a, b, seed=np.random.default_rng(5)) == first
    differences = np.vstack([a - b, (a - b)[::-1], np.zeros(30)])
    batch = sign_flip_test_batch(differences, seed=5)
    assert batch.p_value[0] == first.p_value
    assert batch.p_value[2] == 1.0
    assert batch.statistic.shape == (3,)
    assert EXACT_PERMUTATION_MAX_TASKS == 16


@pytest.mark.parametrize(("call", "message"), [
    (lambda: sign_flip_test([0.1], [0.1, 0.2]), "a_task_means has 1 tasks but b_task_means has 2"),
    (lambda: sign_flip_test([], []), "a_task_means is empty"),
    (lambda: sign_flip_test([0.1, 0.2], [0.1, 0.3], n_resamples=0), "n_resamples must be a positive integer, got 0"),
    (lambda: sign_flip_test([0.1], [0.2], exact_max_tasks=40), "exact_max_tasks must be an integer in \\[0, 24\\], got 40"),
    (lambda: sign_flip_test([0.1] * 20, [0.2] * 20, seed=-1), "seed must be a non-negative integer"),
    (lambda: sign_flip_test_batch(np.zeros((2, 3, 4))), "1-D or 2-D .*shape \\(2, 3, 4\\)"),
    (lambda: sign_flip_test_batch([[0.1, math.inf]]), "differences\\[0, 1\\] is inf"),
])
def test_sign_flip_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# Paired bootstrap
# ---------------------------------------------------------------------------------------------


def test_bootstrap_se_matches_ideal_bootstrap_se():
    # The ideal (B → ∞) bootstrap SE of a mean is sqrt(Σ(d − d̄)²/n)/sqrt(n) (Efron & Tibshirani
    # 1993, eq. 5.11 with ddof=0). With B = 20000 the Monte Carlo relative error of the SE is
    # about 1/sqrt(2B) = 0.5 %; allow 3 %.
    a, b = _paired_data(3, n=80)
    result = paired_bootstrap(a, b, n_resamples=20_000, seed=2)
    ideal = np.std(a - b, ddof=0) / math.sqrt(80)
    assert result.se == pytest.approx(ideal, rel=0.03)
    assert result.delta == pytest.approx(np.mean(a - b), rel=1e-12)
    assert result.ci.low < result.delta < result.ci.high


def test_bootstrap_ci_close_to_scipy_percentile():
    # reference: scipy.stats.bootstrap(paired=True, method="percentile") with its own random
    # resamples: the two percentile endpoints are Monte Carlo estimates of the same quantiles,
    # so compare to within 0.15 bootstrap SE (≈ 10 MC standard errors at B = 20000)
    a, b = _paired_data(6, n=60)
    ours = paired_bootstrap(a, b, n_resamples=20_000, seed=4)
    reference = sps.bootstrap((a, b), _mean_difference, paired=True, vectorized=True,
                              n_resamples=20_000, method="percentile", rng=4)
    assert ours.ci.low == pytest.approx(reference.confidence_interval.low, abs=0.15 * ours.se)
    assert ours.ci.high == pytest.approx(reference.confidence_interval.high, abs=0.15 * ours.se)
    assert ours.se == pytest.approx(reference.standard_error, rel=0.03)


def test_bootstrap_ci_close_to_normal_for_many_tasks():
    # with 400 tasks the mean is close to normal: percentile CI ≈ d̄ ± z·SE_ideal (within 5 %)
    a, b = _paired_data(12, n=400)
    ours = paired_bootstrap(a, b, n_resamples=10_000, seed=0)
    half = sps.norm.ppf(0.975) * np.std(a - b) / math.sqrt(400)
    assert ours.ci.high - ours.delta == pytest.approx(half, rel=0.05)
    assert ours.delta - ours.ci.low == pytest.approx(half, rel=0.05)


def test_bootstrap_is_seeded_and_batch_matches_single_rows():
    a, b = _paired_data(1, n=25)
    first = paired_bootstrap(a, b, n_resamples=2000, seed=7)
    assert paired_bootstrap(a, b, n_resamples=2000, seed=7) == first
    assert paired_bootstrap(a, b, n_resamples=2000, seed=8) != first
    differences = np.vstack([a - b, b - a, (a - b) * 2])
    batch = paired_bootstrap_batch(differences, n_resamples=2000, seed=7)
    # same resampled tasks for every row; one matrix product vs one vector product: 1e-12
    assert batch.low[0] == pytest.approx(first.ci.low, rel=1e-12)
    assert batch.high[0] == pytest.approx(first.ci.high, rel=1e-12)
    assert batch.low[1] == pytest.approx(-first.ci.high, rel=1e-12)
    assert batch.se[2] == pytest.approx(2 * first.se, rel=1e-12)


def test_bootstrap_identical_models_zero_interval():
    a, _ = _paired_data(2)
    result = paired_bootstrap(a, a.copy(), n_resamples=500)
    assert result.ci == Interval(0.0, 0.0) and result.se == 0.0 and result.delta == 0.0


def test_bootstrap_one_task_has_no_interval():
    result = paired_bootstrap([1.0], [0.0])
    assert result.delta == 1.0 and math.isnan(result.se) and math.isnan(result.ci.low)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: paired_bootstrap([0.1, 0.2], [0.1]), "a_task_means has 2 tasks but b_task_means has 1"),
    (lambda: paired_bootstrap([0.1, 0.2], [0.1, 0.3], confidence=1.5), "confidence must be.*got 1.5"),
    (lambda: paired_bootstrap([0.1, 0.2], [0.1, 0.3], n_resamples=2.5), "n_resamples must be a positive integer, got 2.5"),
    (lambda: paired_bootstrap_batch(np.zeros((3, 0))), "differences has no tasks"),
])
def test_bootstrap_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# Holm
# ---------------------------------------------------------------------------------------------

HOLM_CASES = [
    [0.01, 0.04, 0.03, 0.005],
    [0.5],
    [0.0, 1.0, 0.2, 0.2, 0.2],           # ties, and both ends
    [0.9, 0.8, 0.7, 0.6],                # capped at 1 and monotone
    list(np.random.default_rng(0).uniform(0, 0.1, size=190)),  # 190 model pairs at once
]


@pytest.mark.parametrize("p_values", HOLM_CASES)
def test_holm_matches_statsmodels(p_values):
    # reference: statsmodels.stats.multitest.multipletests(p, method="holm")[1]
    expected = multipletests(p_values, method="holm")[1]
    np.testing.assert_allclose(holm(p_values), expected, rtol=1e-15, atol=0)


def test_holm_properties():
    p_values = np.random.default_rng(1).uniform(size=50)
    adjusted = holm(p_values)
    order = np.argsort(p_values)
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert np.all(adjusted >= p_values) and np.all(adjusted <= 1.0)
    assert holm([]).shape == (0,)


@pytest.mark.parametrize(("p_values", "message"), [
    ([0.1, 1.2], "p_values\\[1\\] is 1.2: p-values must lie in \\[0, 1\\]"),
    ([-0.01], "p_values\\[0\\] is -0.01"),
    ([0.1, math.nan], "p_values\\[1\\] is nan"),
    ([[0.1, 0.2]], "1-D array"),
])
def test_holm_rejects_bad_input(p_values, message):
    with pytest.raises(ValueError, match=message):
        holm(p_values)


# ---------------------------------------------------------------------------------------------
# Power (Miller 2024 §5)
# ---------------------------------------------------------------------------------------------

# (z_{0.975} + z_{0.8})² = 7.848879734349086 from scipy.stats.norm.ppf; the textbook
# constant 7.85 behind "n = 7.85 σ²/δ²" (e.g. Lehr 1992 uses 2·7.85 ≈ 16 for two samples).
Z_SUM_SQUARED = (sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) ** 2


def test_power_constant_matches_textbook():
    assert Z_SUM_SQUARED == pytest.approx(7.85, abs=0.005)
    assert minimum_detectable_effect(1, omega2=1.0) ** 2 == pytest.approx(Z_SUM_SQUARED, rel=1e-12)


@pytest.mark.parametrize(("n_tasks", "omega2", "sigma2_a", "sigma2_b", "runs_a", "runs_b", "alpha", "power"), [
    (100, 0.04, 0.0, 0.0, 1, 1, 0.05, 0.8),
    (500, 0.02, 0.2, 0.15, 5, 3, 0.05, 0.9),
    (50, 0.1, 0.25, 0.25, 1, 1, 0.01, 0.8),
    (5000, 0.01, 0.05, 0.05, 10, 10, 0.05 / 190, 0.8),
])
def test_minimum_detectable_effect_formula(n_tasks, omega2, sigma2_a, sigma2_b, runs_a, runs_b, alpha, power):
    # reference: (norm.ppf(1 − α/2) + norm.ppf(power))·sqrt(V/n) with scipy quantiles, and the
    # same n from statsmodels NormalIndPower(ratio=0) (one-sample z test). statsmodels also
    # counts rejections in the wrong tail (≤ Φ(−z_{α/2} − z_β) ≈ 1e-6 of power), hence 1e-4.
    variance = omega2 + sigma2_a / runs_a + sigma2_b / runs_b
    z_sum = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    mde = minimum_detectable_effect(n_tasks, omega2=omega2, sigma2_a=sigma2_a, sigma2_b=sigma2_b,
                                    runs_a=runs_a, runs_b=runs_b, alpha=alpha, power=power)
    assert mde == pytest.approx(z_sum * math.sqrt(variance / n_tasks), rel=1e-12)
    nobs = NormalIndPower().solve_power(effect_size=mde / math.sqrt(variance), alpha=alpha,
                                        power=power, ratio=0)
    assert nobs == pytest.approx(n_tasks, rel=1e-4)
    needed = tasks_needed(mde * 1.0000001, omega2=omega2, sigma2_a=sigma2_a, sigma2_b=sigma2_b,
                          runs_a=runs_a, runs_b=runs_b, alpha=alpha, power=power)
    assert needed == n_tasks


def test_tasks_needed_rounds_up_and_is_tight():
    kwargs = dict(omega2=0.03, sigma2_a=0.2, sigma2_b=0.1, runs_a=4, runs_b=2)
    delta = 0.05
    needed = tasks_needed(delta, **kwargs)
    exact = Z_SUM_SQUARED * (0.03 + 0.2 / 4 + 0.1 / 2) / delta**2
    assert needed == math.ceil(exact)
    assert minimum_detectable_effect(needed, **kwargs) <= delta < minimum_detectable_effect(needed - 1, **kwargs)
    assert tasks_needed(-delta, **kwargs) == needed
    assert tasks_needed(100.0, omega2=0.01) == 1


def test_runs_needed():
    kwargs = dict(omega2=0.01, sigma2_a=0.2, sigma2_b=0.2)
    runs = runs_needed(0.05, 1000, **kwargs)
    assert runs is not None
    assert tasks_needed(0.05, runs_a=runs, runs_b=runs, **kwargs) <= 1000
    assert tasks_needed(0.05, runs_a=runs - 1, runs_b=runs - 1, **kwargs) > 1000
    # ω² alone needs 7.85·0.01/0.05² ≈ 31.4 tasks: with 30 no number of runs is enough
    assert runs_needed(0.05, 30, **kwargs) is None
    assert runs_needed(0.05, 10_000, omega2=0.01, sigma2_a=0.0, sigma2_b=0.0) == 1


@pytest.mark.parametrize(("call", "message"), [
    (lambda: tasks_needed(0.0, omega2=0.1), "delta must be a finite non-zero difference, got 0.0"),
    (lambda: tasks_needed(0.1, omega2=-0.1), "omega2 must be a finite number ≥ 0, got -0.1"),
    (lambda: tasks_needed(0.1, omega2=0.0), "all 0"),
    (lambda: tasks_needed(0.1, omega2=0.1, runs_a=0), "runs_a must be a positive integer number of runs, got 0"),
    (lambda: tasks_needed(0.1, omega2=0.1, alpha=0.0), "alpha must be a number strictly between 0 and 1, got 0.0"),
    (lambda: minimum_detectable_effect(0, omega2=0.1), "n_tasks must be a positive integer"),
    (lambda: runs_needed(0.1, 10, omega2=0.1, sigma2_a=0.1, sigma2_b=0.1, power=1.0), "power must be"),
])
def test_power_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_variance_components_recover_simulated_truth():
    # simulated pilot: ω² = 0.02 (between-task variance of the true difference), within-task
    # run variances σ_A² = 0.09, σ_B² = 0.04 with 6 and 4 runs over 3000 tasks. Sampling error
    # of the estimates is a few percent; allow 15 % (fixed seed, deterministic).
    rng = np.random.default_rng(21)
    n_tasks = 3000
    base = rng.normal(0.5, 0.2, size=n_tasks)
    true_difference = rng.normal(0.05, math.sqrt(0.02), size=n_tasks)
    runs_a = base[:, None] + true_difference[:, None] + rng.normal(0, 0.3, size=(n_tasks, 6))
    runs_b = base[:, None] + rng.normal(0, 0.2, size=(n_tasks, 4))
    components = variance_components(runs_a, runs_b)
    assert components.omega2 == pytest.approx(0.02, rel=0.15)
    assert components.sigma2_a == pytest.approx(0.09, rel=0.05)
    assert components.sigma2_b == pytest.approx(0.04, rel=0.05)
    assert (components.runs_a, components.runs_b, components.n_tasks) == (6, 4, 3000)
    # plugged back in, the variance of the task-mean difference is reproduced exactly
    reconstructed = components.omega2 + components.sigma2_a / 6 + components.sigma2_b / 4
    observed = np.var(runs_a.mean(axis=1) - runs_b.mean(axis=1), ddof=1)
    assert reconstructed == pytest.approx(observed, rel=1e-12)


def test_variance_components_floor_at_zero_and_validate():
    runs = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert variance_components(runs, runs.copy()).omega2 == 0.0
    with pytest.raises(ValueError, match="runs_a must be a 2-D array .* shape \\(3, 1\\)"):
        variance_components(np.zeros((3, 1)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="runs_a has 3 tasks but runs_b has 4"):
        variance_components(np.zeros((3, 2)), np.zeros((4, 2)))


# ---------------------------------------------------------------------------------------------
# pass@k and pass^k
# ---------------------------------------------------------------------------------------------


def _exact_pass_at_k(n, c, k):
    """Chen et al. (2021) definition in exact rationals: 1 − C(n−c, k)/C(n, k)."""
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


def _exact_pass_hat_k(n, c, k):
    """Yao et al. (2024) definition in exact rationals: C(c, k)/C(n, k)."""
    return Fraction(math.comb(c, k), math.comb(n, k))


PASS_CASES = [(n, c, k) for n, c, k in [
    (1, 0, 1), (1, 1, 1), (5, 2, 1), (5, 2, 3), (5, 2, 4), (10, 3, 5), (10, 10, 10), (10, 0, 10),
    (20, 7, 2), (200, 1, 1), (200, 13, 10), (200, 13, 100), (1000, 1, 1), (1000, 999, 500),
    (100, 50, 50), (100, 3, 97), (100, 3, 98),
]]


@pytest.mark.parametrize(("n", "c", "k"), PASS_CASES)
def test_pass_at_k_matches_exact_fractions(n, c, k):
    result = pass_at_k_per_task([n], [c], k)
    assert result.shape == (1,)
    assert result[0] == pytest.approx(float(_exact_pass_at_k(n, c, k)), rel=1e-12, abs=0)


@pytest.mark.parametrize(("n", "c", "k"), PASS_CASES)
def test_pass_hat_k_matches_exact_fractions(n, c, k):
    expected = float(_exact_pass_hat_k(n, c, k))
    assert pass_hat_k_per_task([n], [c], k)[0] == pytest.approx(expected, rel=1e-12, abs=0)


def test_pass_metrics_average_over_tasks():
    n = np.array([10, 10, 20, 5, 7])
    c = np.array([0, 10, 3, 2, 6])
    for k in (1, 2, 5):
        expected_at = sum(_exact_pass_at_k(int(ni), int(ci), k) for ni, ci in zip(n, c)) / len(n)
        expected_hat = sum(_exact_pass_hat_k(int(ni), int(ci), k) for ni, ci in zip(n, c)) / len(n)
        assert pass_at_k(n, c, k) == pytest.approx(float(expected_at), rel=1e-12)
        assert pass_hat_k(n, c, k) == pytest.approx(float(expected_hat), rel=1e-12)


def test_pass_metrics_edges():
    # no passes → 0; all pass → 1; k = 1 → c/n for both; pass@k = 1 once n − c < k
    assert pass_at_k([8], [0], 3) == 0.0 and pass_hat_k([8], [0], 3) == 0.0
    assert pass_at_k([8], [8], 3) == 1.0 and pass_hat_k([8], [8], 3) == 1.0
    assert pass_at_k([8], [3], 1) == pytest.approx(3 / 8, rel=1e-15)
    assert pass_hat_k([8], [3], 1) == pytest.approx(3 / 8, rel=1e-15)
    assert pass_at_k([8], [6], 3) == 1.0
    assert pass_hat_k([8], [2], 3) == 0.0
    assert pass_at_k(np.array([3.0]), np.array([1.0]), 3) == 1.0  # integral floats accepted


def test_pass_metrics_monotone_in_k():
    n, c = np.full(4, 12), np.array([1, 4, 9, 11])
    at = [pass_at_k(n, c, k) for k in range(1, 13)]
    hat = [pass_hat_k(n, c, k) for k in range(1, 13)]
    assert all(x <= y for x, y in zip(at, at[1:]))
    assert all(x >= y for x, y in zip(hat, hat[1:]))
    assert at[0] == hat[0]


def test_pass_at_k_small_value_keeps_relative_accuracy():
    # 1 − (1 − 1/10⁶) computed naively loses 10 digits; the log1p/expm1 form does not
    assert pass_at_k([1_000_000], [1], 1) == pytest.approx(1e-6, rel=1e-12)


@pytest.mark.parametrize(("n", "c", "k", "message"), [
    ([5, 3], [1, 1], 4, "task 1: k=4 exceeds its n=3 samples; k must be ≤ n"),
    ([5], [6], 1, "task 0: c=6 must lie in \\[0, n=5\\]"),
    ([5], [-1], 1, "task 0: c=-1 must lie"),
    ([5], [1], 0, "k must be a positive integer, got 0"),
    ([5, 5], [1], 1, "n has 2 tasks but c has 1"),
    ([], [], 1, "n and c are empty"),
    ([5.5], [1], 1, "n must be integer counts"),
])
def test_pass_metrics_reject_bad_input(n, c, k, message):
    with pytest.raises(ValueError, match=message):
        pass_at_k(n, c, k)
    with pytest.raises(ValueError, match=message):
        pass_hat_k(n, c, k)


# ---------------------------------------------------------------------------------------------
# Sign-flip test of a weighted mean and its inverted interval
# ---------------------------------------------------------------------------------------------


def _weighted_p(contributions, weights, delta, n_resamples=4000, seed=7):
    """p(δ) straight from the definition: the sign-flip test of the shifted contributions."""
    shifted = np.asarray(contributions) - delta * np.asarray(weights)
    return float(stats.sign_flip_test_batch(shifted[np.newaxis, :], n_resamples=n_resamples, seed=seed).p_value[0])


@pytest.mark.parametrize("seed", range(8))
def test_sign_flip_interval_inverts_the_exact_test_of_scipy(seed):
    # Equal weights: c_g = d_g / n, and the test of c − δ/n is scipy's exact paired permutation
    # test of d − δ. Just inside the ends p > α, just outside p ≤ α.
    rng = np.random.default_rng(seed)
    d = rng.normal(0.4, 1.0, 6 + seed)
    n = d.size
    result = stats.sign_flip_inference_batch(d[np.newaxis] / n, np.full((1, n), 1.0 / n), 0.05)

    def scipy_p(delta):
        return sps.permutation_test((d - delta,), np.mean, permutation_type="samples", n_resamples=np.inf).pvalue

    low, high = float(result.low[0]), float(result.high[0])
    assert result.p_value[0] == pytest.approx(scipy_p(0.0), rel=1e-12)
    if n >= 6:  # below log2(2/0.05) tasks no finite end exists
        assert scipy_p(low + 1e-7) > 0.05 >= scipy_p(low - 1e-7)
        assert scipy_p(high - 1e-7) > 0.05 >= scipy_p(high + 1e-7)
    assert (low > 0 or high < 0) == (result.p_value[0] <= 0.05)


@pytest.mark.parametrize("seed", range(6))
def test_sign_flip_interval_weighted_monte_carlo_matches_its_definition(seed):
    rng = np.random.default_rng(100 + seed)
    g = 30
    weights = rng.random(g) + 0.05
    weights /= weights.sum()
    contributions = weights * rng.normal(0.5, 1.0, g)
    alpha = (0.05, 0.01, 0.2)[seed % 3]
    result = stats.sign_flip_inference_batch(contributions[np.newaxis], weights[np.newaxis], alpha,
                                             n_resamples=4000, seed=7)
    assert "Monte Carlo" in result.method
    assert result.p_value[0] == pytest.approx(_weighted_p(contributions, weights, 0.0), rel=1e-15)
    low, high = float(result.low[0]), float(result.high[0])
    assert _weighted_p(contributions, weights, low + 1e-9) > alpha >= _weighted_p(contributions, weights, low - 1e-9)
    assert _weighted_p(contributions, weights, high - 1e-9) > alpha >= _weighted_p(contributions, weights, high + 1e-9)
    assert low <= result.estimate[0] <= high


def test_sign_flip_interval_rows_at_their_own_levels_and_degenerate_cases():
    d = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]]) / 8
    w = np.full((2, 8), 1 / 8)
    wide = stats.sign_flip_inference_batch(d, w, [0.01, 0.05])
    narrow = stats.sign_flip_inference_batch(d, w, [0.05, 0.05])
    assert wide.low[0] < narrow.low[0] and wide.high[0] > narrow.high[0]  # 99% is wider than 95%
    assert narrow.low[1] < 0 < narrow.high[1] and narrow.p_value[1] == 1.0
    few = stats.sign_flip_inference_batch(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]]), 0.05)
    assert few.low[0] == -math.inf and few.high[0] == math.inf  # 2 tasks: smallest p is 1/2
    empty = stats.sign_flip_inference_batch(np.zeros((1, 3)), np.zeros((1, 3)), 0.05)
    assert math.isnan(empty.p_value[0]) and math.isnan(empty.estimate[0])
    with pytest.raises(ValueError, match="weights must be >= 0"):
        stats.sign_flip_inference_batch(np.ones((1, 2)), -np.ones((1, 2)), 0.05)
    with pytest.raises(ValueError, match="alpha must lie strictly between 0 and 1"):
        stats.sign_flip_inference_batch(np.ones((1, 2)), np.ones((1, 2)), 1.0)


@pytest.mark.parametrize("seed", range(10))
def test_holm_levels_agree_with_holm_decisions(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.03, 3), rng.uniform(0, 1, 5)])
    rng.shuffle(p)
    levels = stats.holm_levels(p, 0.05)
    adjusted = multipletests(p, alpha=0.05, method="holm")[1]
    np.testing.assert_array_equal(p <= levels, adjusted <= 0.05)
    assert stats.holm_levels([0.01], 0.05).tolist() == [0.05]
    # ranks: 0.001 (α/3, rejected), 0.01 (α/2, rejected), 0.2 (α/1, not rejected)
    assert stats.holm_levels([0.001, 0.2, 0.01], 0.05).tolist() == [0.05 / 3, 0.05, 0.05 / 2]


# ---------------------------------------------------------------------------------------------
# Wilson interval at the effective sample size of clustered runs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("successes", "n"), [(0, 7), (3, 10), (10, 10), (81, 263)])
def test_clustered_wilson_with_one_run_per_task_is_wilson(successes, n):
    result = stats.clustered_wilson_interval([1] * successes + [0] * (n - successes), [1] * n)
    low, high = proportion_confint(successes, n, method="wilson")
    assert (result.interval.low, result.interval.high) == pytest.approx((low, high), rel=1e-12, abs=1e-15)
    assert result.effective_n == n


def test_clustered_wilson_with_identical_repeats_is_wilson_over_tasks():
    # 12 tasks, 7 pass; each task run 5 times with the same answer: 60 runs, 12 observations.
    result = stats.clustered_wilson_interval([5] * 7 + [0] * 5, [5] * 12)
    low, high = proportion_confint(7, 12, method="wilson")
    assert result.effective_n == pytest.approx(12.0, rel=1e-12)
    assert (result.interval.low, result.interval.high) == pytest.approx((low, high), rel=1e-12)
    assert result.estimate == pytest.approx(7 / 12)


def test_clustered_wilson_effective_n_is_the_design_effect():
    # Korn & Graubard (1998): n_eff = p(1 − p)/v with v the linearised ratio variance.
    x = np.array([3, 1, 0, 2, 2, 1])
    n = np.array([3, 2, 1, 4, 2, 3])
    p = x.sum() / n.sum()
    v = ((x - p * n) ** 2).sum() / n.sum() ** 2
    result = stats.clustered_wilson_interval(x, n)
    assert result.effective_n == pytest.approx(min(n.sum(), p * (1 - p) / v), rel=1e-12)
    assert math.isnan(stats.clustered_wilson_interval([], []).estimate)
    with pytest.raises(ValueError, match="0 <= successes <= trials"):
        stats.clustered_wilson_interval([3], [2])
