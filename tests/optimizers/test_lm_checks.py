"""The NumPy and JAX LM hand the verification what they hold at their answer
(issue 15, item 5: "no slower"): ``info["checks"]`` (``JwᵀJw``, ``Σ(w·model)²``,
the Newton gap, the free columns) and ``info["chisq"]``, so the write-back
evaluates neither the model nor the Jacobian again.

Truth: the verification on the problem's own NumPy evaluation at the same
point (``checks=None``): the same statuses, Newton gaps to 1e-8, χ² to 1e-12
— at the fit's answer and at a point moved off it (NOT_A_MINIMUM either way).
"""

from __future__ import annotations

import numpy as np
import pytest
from check_problems import gauss_offset_problem

from swiftfit import losses
from swiftfit.optimizers import _lm_steps as steps
from swiftfit.optimizers.lm import levenberg_marquardt
from swiftfit.problem.problem import Problem, relevance
from swiftfit.problem.solution import Status
from swiftfit.problem.verify import verify


def _same_verdicts(problem, theta, status, checks, rel):
    loss = losses.get("ls")
    ref_status, ref_gap = verify(problem, loss, theta, status, rel)
    fast_status, fast_gap = verify(problem, loss, theta, status, rel, checks=checks)
    np.testing.assert_array_equal(fast_status, ref_status)
    np.testing.assert_allclose(fast_gap, ref_gap, rtol=1e-8, atol=1e-12)
    return ref_status


def _moved_off(problem, theta):
    """Pixel 3 moved by 0.5 channel in centre: not a minimum."""
    moved = theta.copy()
    moved[3, problem.names.index("Gaussian.centre")] += 0.5
    return moved


@pytest.mark.parametrize("bounded", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_numpy_lm_checks_equal_numpy_verification(weighted, bounded):
    problem = gauss_offset_problem(weighted)
    if bounded:
        problem.lower = np.where(np.array(problem.names) == "Gaussian.A", 0.0, -np.inf)
    sol = levenberg_marquardt(problem, losses.get("ls"), kernel="numpy", bounded=bounded)
    r = problem.residuals(sol.theta)
    np.testing.assert_allclose(sol.info["chisq"], np.einsum("bn,bn->b", r, r), rtol=1e-12)
    rel = relevance(problem, sol.theta)
    status = _same_verdicts(problem, sol.theta, sol.status, sol.info["checks"], rel)
    assert (np.delete(status, 6) > 0).all()
    # at a point off the minimum, the same function the fit ends with
    moved = _moved_off(problem, sol.theta)
    _, checks = steps.answer_checks(problem, moved, problem.residuals(moved), rel)
    status = _same_verdicts(problem, moved, np.ones(problem.B, dtype=int), checks, rel)
    assert status[3] == Status.NOT_A_MINIMUM


def test_numpy_lm_verification_evaluates_nothing(monkeypatch):
    """With the LM's checks the verification calls no evaluation of the problem."""
    problem = gauss_offset_problem(True)
    sol = levenberg_marquardt(problem, losses.get("ls"), kernel="numpy")
    rel = relevance(problem, sol.theta)

    def refuse(*args, **kwargs):
        raise AssertionError("evaluated again")

    for name in ("jacobian", "evaluate", "residuals"):
        monkeypatch.setattr(Problem, name, refuse)
    status, gap = verify(problem, losses.get("ls"), sol.theta, sol.status, rel, checks=sol.info["checks"])
    assert np.isfinite(gap[status > 0]).all()


@pytest.mark.parametrize("weighted", [False, pytest.param(True, marks=pytest.mark.slow)])  # JAX compiles ~30 s
def test_jax_lm_checks_equal_numpy_verification(weighted):
    pytest.importorskip("jax")
    from swiftfit.engines.jax.lm import jax_levenberg_marquardt

    problem = gauss_offset_problem(weighted)
    sol = jax_levenberg_marquardt(problem, dtype="float64")
    r = problem.residuals(sol.theta)
    np.testing.assert_allclose(sol.info["chisq"], np.einsum("bn,bn->b", r, r), rtol=1e-12)
    rel = relevance(problem, sol.theta)
    status = _same_verdicts(problem, sol.theta, sol.status, sol.info["checks"], rel)
    assert (np.delete(status, 6) > 0).all()
    # float32 answers are verified on one float64 NumPy evaluation at the answer (the
    # checks and χ² come from it, not from the float32 kernel): tests/optimizers/test_newton_checks.py
