"""One Newton check (issue 15, items 5 and 7): scipy's doors measure the gap of
their answers with :func:`swiftfit.problem.verify.newton_gaps`, the function
the write-back of every door uses, so the two verdicts cannot disagree.

Data: the Poisson toy of tests/optimizers/test_scipy_min.py (HyperSpy's
binned Gaussian ×50, seed 0) as a bare Problem.
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as hs
from swiftfit import losses
from swiftfit.optimizers.scipy_min import newton_gap, solve_minimize
from swiftfit.problem.solution import Status
from swiftfit.problem.verify import verify


def _poisson_problem():
    v = 2 * np.exp(-((np.arange(10, 100, 0.1) - 50) ** 2) / (2 * 5**2))
    rng = np.random.default_rng(0)
    s = hs.signals.Signal1D(rng.poisson(50 * v).astype(float))
    ax = s.axes_manager[-1]
    ax.scale, ax.offset, ax.is_binned = 0.1, 10, True
    m = s.create_model()
    g = hs.model.components1D.Gaussian()
    m.append(g)
    g.A.value, g.centre.value, g.sigma.value = 50 * 250, 56, 4.9
    return m._problem([()])


@pytest.mark.parametrize("method", ["L-BFGS-B", "Nelder-Mead", "TNC", "Powell"])
def test_scipy_gap_is_the_write_back_gap(method):
    """The solver's own gap and the write-back's are one number, so one verdict."""
    problem = _poisson_problem()
    loss = losses.get("ML-poisson")
    sol = solve_minimize(problem, loss, method=method)
    own = sol.info["newton_gap"][0]
    status, gap = verify(problem, loss, sol.theta, [int(Status.OPTIMIZER_SUCCESS)])
    np.testing.assert_allclose(own, gap[0], rtol=1e-12)
    assert (sol.status[0] == Status.NOT_A_MINIMUM) == (own > 1) == (status[0] == Status.NOT_A_MINIMUM)


def test_the_check_tells_a_minimum_from_a_stop_short_of_it():
    """L-BFGS-B at its default tolerances stops with A still at its start,
    short of the ML answer that trust-exact reaches (gap 15: clearly not a
    minimum, though scipy calls it a success); trust-exact's gap is ~5e-8."""
    problem = _poisson_problem()
    loss = losses.get("ML-poisson")
    short = solve_minimize(problem, loss, method="L-BFGS-B")
    best = solve_minimize(problem, loss, method="trust-exact")
    assert short.info["newton_gap"][0] > 1 and short.status[0] == Status.NOT_A_MINIMUM
    assert short.info["scipy_result"].success and abs(short.theta[0, 0] - best.theta[0, 0]) > 100
    assert best.info["newton_gap"][0] < 1e-3 and best.status[0] == Status.OPTIMIZER_SUCCESS


def test_newton_gap_holds_the_optimizers_bounds_not_the_problems():
    """A bound the optimizer was not given does not hold the step (None: unbounded)."""
    problem = _poisson_problem()
    loss = losses.get("ML-poisson")
    x = np.array(problem.p0[0], dtype=float)
    free = newton_gap(loss, problem, x)
    # a box that blocks every parameter's step: nothing left to judge (0)
    g = loss.gradient(problem, x[None])[0]
    lo = np.where(g > 0, x, -np.inf)   # the step is -H⁻¹g: ... blocked on the side it goes
    hi = np.where(g <= 0, x, np.inf)
    assert free > 1
    blocked = newton_gap(loss, problem, x, lo, hi)
    assert blocked < free
