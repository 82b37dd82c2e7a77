"""The stall test (issue 16, broad3): a fit walking a degenerate valley ends
early as a failure (``Status.NO_PROGRESS``), not at ``max_nfev``.

Truths: the rule's definition on hand-made states, the NumPy rule
(``_lm_rules.stalled_window``) for the kernel's scalar copy, and the walk
itself on the battery's broad3 data (three broad Gaussians on an offset,
Poisson counts, seeded): a peak spreading into the offset — its ``σ`` beyond
the 512-channel range, the offset below 0 while the data's background is 20
counts, the peak's height and the offset adding up to that background. Every
door (NumPy, the compiled kernel, JAX) gives the same verdict after the same
number of evaluations; before the rule each walked to the 1,100-evaluation
limit.
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.optimizers import _lm_rules as rules
from swiftfit.problem.solution import STATUS_MESSAGES, Status

#: the two broad3 pixels (battery seed 0, 128 pixels: rows 56 and 57) that walk
_WALKERS = (56, 57)


def _broad3(rows):
    """``benchmarks/battery.py``'s broad3 data (128 pixels, seed 0), the given rows."""
    rng = np.random.default_rng(0)
    x = np.arange(512.0)
    peaks = ((220.0, 30.0), (256.0, 35.0), (292.0, 30.0))
    A = rng.uniform(3000, 6000, (128, 3))
    c = np.array([p[0] for p in peaks]) + rng.uniform(-3, 3, (128, 3))
    lam = 20.0 + sum(A[:, k, None] / (s * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - c[:, k, None]) / s) ** 2)
                     for k, (_, s) in enumerate(peaks))
    return rng.poisson(lam).astype(float)[list(rows)]


def _model(data):
    m = sf.signals.Signal1D(data).create_model()
    gs = [sf.model.components1D.Gaussian() for _ in range(3)]
    for g, (cc, s) in zip(gs, ((220.0, 30.0), (256.0, 35.0), (292.0, 30.0))):
        g.A.value, g.sigma.value, g.centre.value = 4500 / 20, s * 1.2, cc + 4
    off = sf.model.components1D.Offset()
    off.offset.value = 15.0
    m.extend(gs + [off])
    m.assign_current_values_to_all()
    return m, gs, off


def test_a_window_is_stalled_when_the_cost_is_flat_and_a_parameter_grows():
    cost_ref = np.full(6, 1000.0)
    # fall of the cost: 1e-6, 1e-6, 1e-6, 1e-6, 1e-3 (progress), and a rise
    cost = 1000.0 - np.array([1e-3, 1e-3, 1e-3, 1e-3, 1.0, -1.0])
    theta_ref = np.array([[2.0, -5.0]] * 6)
    theta = np.array([[2.5, -5.0],   # grew by 1.25 > STALL_GROWTH
                      [2.0, -6.5],   # grew in magnitude (negative)
                      [2.2, -5.5],   # grew by 1.1 only: moving, not running off
                      [-2.5, 5.0],   # changed sign, grew by 1.25
                      [9.0, -5.0],   # grew, but the cost fell by 1e-3
                      [9.0, -5.0]])  # grew and the cost rose: no progress
    np.testing.assert_array_equal(rules.stalled_window(cost_ref, cost, theta_ref, theta),
                                  [True, True, False, True, False, True])
    # a parameter that was 0 grows by moving; one that stays 0 does not
    assert rules.stalled_window(np.array([1.0]), np.array([1.0]), np.zeros((1, 2)), np.array([[0.0, 1e-9]]))[0]
    assert not rules.stalled_window(np.array([1.0]), np.array([1.0]), np.zeros((1, 2)), np.zeros((1, 2)))[0]
    # not finite: never stalled (the non-finite tests decide)
    assert not rules.stalled_window(np.array([np.nan]), np.array([1.0]), np.ones((1, 1)), np.full((1, 1), 3.0))[0]
    assert Status.NO_PROGRESS < 0 and not Status.NO_PROGRESS.success
    assert STATUS_MESSAGES[int(Status.NO_PROGRESS)].startswith("failed: no progress")


def test_numba_copy_matches_the_rule():
    pytest.importorskip("numba")
    from swiftfit.engines.numba import lm_rules

    assert (lm_rules.STALL_EVALS, lm_rules.STALL_GAIN, lm_rules.STALL_GROWTH, lm_rules.STALL_WINDOWS) == (
        rules.STALL_EVALS, rules.STALL_GAIN, rules.STALL_GROWTH, rules.STALL_WINDOWS)
    assert lm_rules.NO_PROGRESS == Status.NO_PROGRESS
    rng = np.random.default_rng(7)
    B, P = 4000, 5
    cost_ref = np.exp(rng.normal(5, 3, B))
    # falls around STALL_GAIN·cost, some rises; growths around STALL_GROWTH, some zeros
    cost = cost_ref * (1 - rng.choice([0.3, 1.0, 3.0, -1.0], B) * rules.STALL_GAIN)
    theta_ref = rng.normal(size=(B, P)) * (rng.random((B, P)) < 0.9)
    theta = theta_ref * rng.uniform(0.5, 1.3, (B, P)) * rng.choice([1, -1], (B, P))
    want = rules.stalled_window(cost_ref, cost, theta_ref, theta)
    got = np.array([lm_rules._stalled_window(cost_ref[b], cost[b], theta_ref[b], theta[b]) for b in range(B)])
    np.testing.assert_array_equal(got, want)
    assert 0.1 < want.mean() < 0.9  # both verdicts occur


def _check_walk(m, gs, off, nfev, status):
    np.testing.assert_array_equal(status, int(Status.NO_PROGRESS))
    # three windows of 50 after the walk began: 200-250 evaluations, not 1,100
    assert np.all((nfev >= 3 * rules.STALL_EVALS) & (nfev <= 300)), nfev
    # the walk: the middle peak spreads beyond the data's range into the offset;
    # its height and the offset together are the background (20 counts), within
    # its Poisson noise over the 512 channels
    sigma = gs[1].sigma.map["values"]
    height = gs[1].A.map["values"] / (sigma * np.sqrt(2 * np.pi))
    assert np.all(sigma > 512), sigma
    assert np.all(off.offset.map["values"] < 0)
    np.testing.assert_allclose(height + off.offset.map["values"], 20.0, atol=2.0)
    # a failure: no standard errors claimed
    assert not np.any(np.asarray(m.multifit_output.status.data) > 0)


def test_degenerate_walk_ends_early_as_failure_at_every_door():
    """NumPy and the kernel (without its linear start, which the NumPy code
    does not take) run the same iterates: the same verdict, evaluations and
    χ²; measured 250 and 200 evaluations (1,100 each before the rule)."""
    pytest.importorskip("numba")
    out = {}
    for kernel in ("numpy", "numba"):
        m, gs, off = _model(_broad3(_WALKERS))
        m.multifit(kernel=kernel, linear_start=False, refit_failed=False)
        nfev, status = np.asarray(m._nfev), np.asarray(m._status)
        _check_walk(m, gs, off, nfev, status)
        out[kernel] = nfev, np.asarray(m._chisq)
    np.testing.assert_array_equal(out["numba"][0], out["numpy"][0])
    np.testing.assert_allclose(out["numba"][1], out["numpy"][1], rtol=1e-10)


def test_degenerate_walk_ends_early_in_the_kernel_with_its_linear_start():
    """The default path (the kernel's linear start): measured 250 evaluations each."""
    pytest.importorskip("numba")
    m, gs, off = _model(_broad3(_WALKERS))
    m.multifit(kernel="numba", refit_failed=False)
    _check_walk(m, gs, off, np.asarray(m._nfev), np.asarray(m._status))


@pytest.mark.slow
def test_degenerate_walk_ends_early_on_jax():
    pytest.importorskip("jax")
    from swiftfit.engines import enable_jax

    enable_jax("float64")
    ref, _, _ = _model(_broad3(_WALKERS))
    ref.multifit(kernel="numpy", refit_failed=False)
    m, gs, off = _model(_broad3(_WALKERS))
    m.multifit(backend="jax", refit_failed=False)
    nfev, status = np.asarray(m._nfev), np.asarray(m._status)
    _check_walk(m, gs, off, nfev, status)
    np.testing.assert_array_equal(nfev, np.asarray(ref._nfev))
    np.testing.assert_allclose(np.asarray(m._chisq), np.asarray(ref._chisq), rtol=1e-8)


def test_multifit_refits_the_stalled_pixels_from_their_neighbours():
    """The walkers among converged neighbours (rows 54-59): the refit starts
    them from the neighbours' median; row 56 then converges (the offset at the
    truth's background), row 57 stalls again and keeps its first result (both
    failed: the lower χ²) — measured 250 evaluations, not 1,100 twice."""
    pytest.importorskip("numba")
    m, gs, off = _model(_broad3(range(54, 60)))
    m.multifit(kernel="numba")
    status = np.asarray(m._status)
    np.testing.assert_array_equal(status, [1, 1, 1, int(Status.NO_PROGRESS), 1, 1])
    np.testing.assert_array_equal(np.asarray(m.multifit_output.refitted.data), [0, 0, 1, 0, 0, 0])
    assert np.asarray(m._nfev)[3] <= 300
    # the truth: a background of 20 counts (Poisson noise over 512 channels)
    np.testing.assert_allclose(off.offset.map["values"][status > 0], 20.0, atol=3.0)
