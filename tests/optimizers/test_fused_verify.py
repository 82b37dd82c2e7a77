"""The verification inside the compiled kernel against the NumPy definition.

The fused Levenberg–Marquardt hands the verification what it needs at each
pixel's answer (``Solution.info["checks"]``: ``JwᵀJw``, ``Σ (w·model)²`` and
the Newton gap by :mod:`swiftfit.engines.numba.newton`, a numba copy of
:func:`swiftfit.problem.verify.newton_gaps`). Truth: the NumPy definition, on
the same inputs, piece by piece — the gap against ``newton_gaps`` on random
Gram matrices (bounds crossed, singular and non-finite cases, with and without
weights), the kernel's whole check against the NumPy verification of the same
problem, and the linear solvers' checks against the NumPy Jacobian.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import swiftfit as sf
from swiftfit import losses
from swiftfit.problem.solution import Status
from swiftfit.problem.verify import newton_gaps, verify

pytest.importorskip("numba")
from swiftfit.engines.numba import newton  # noqa: E402
from swiftfit.engines.numba.lower import checks as kernel_checks  # noqa: E402


def _random_case(seed, B=60, N=40, P=6, weighted=False):
    """Least-squares derivatives of random Jacobians at random points, with
    bounds near the points (so some steps cross them) — the inputs of both gaps."""
    rng = np.random.default_rng(seed)
    J = rng.normal(size=(B, N, P)) * np.geomspace(1, 1e3, P)
    # the last column nearly a multiple of the first: condition numbers up to ~1e10
    J[:, :, -1] = J[:, :, 0] * (1 + 10.0 ** rng.uniform(-5, -1, (B, 1))) + 1e-3 * J[:, :, -1]
    w = rng.uniform(0.5, 2.0, (B, N)) if weighted else None
    Jw = J if w is None else J * w[:, :, None]
    r = rng.normal(size=(B, N)) * rng.uniform(0.1, 10, (B, 1))
    theta = rng.normal(size=(B, P)) * 5
    # take out all but a fraction 10^U(-8, 0) of the residual's projection on
    # the columns: points from near a minimum (small gaps) to far from one
    proj = np.stack([Jw[b] @ np.linalg.lstsq(Jw[b], r[b], rcond=None)[0] for b in range(B)])
    r = r - (1 - 10.0 ** rng.uniform(-8, 0, (B, 1))) * proj
    f = np.einsum("bn,bn->b", r, r)
    g = -2 * np.einsum("bnp,bn->bp", Jw, r)
    H = 2 * (Jw.transpose(0, 2, 1) @ Jw)
    data = rng.normal(size=(B, N)) * 10
    # two parameters bounded below by 0 and a third above by 0, the points near
    # those bounds: some steps cross them
    lo = np.full(P, -np.inf)
    hi = np.full(P, np.inf)
    lo[:2] = 0.0
    hi[2] = 0.0
    theta[:, :2] = np.abs(theta[:, :2]) * 10.0 ** rng.uniform(-8, 0, (B, 2))
    theta[:, 2] = -np.abs(theta[:, 2]) * 10.0 ** rng.uniform(-8, 0, B)
    free = rng.random((B, P)) < 0.9
    H[3, 2, 2] = np.nan  # not finite: not judged
    H[4, :, 1] = H[4, 1, :] = 0.0  # a dead column: held, the others judged
    H[5, :, 2] = H[5, :, 1]  # two equal columns: singular, not judged
    H[5, 2, :] = H[5, 1, :]
    free[5] = True
    problem = SimpleNamespace(lower=lo, upper=hi, weights=w, N=N, data=data)
    return problem, J, theta, free, (f, g, H)


@pytest.mark.parametrize("P", [6, 40])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_gap_equals_newton_gaps(seed, weighted, P):
    """The numba gap of each pixel equals ``newton_gaps`` on the same
    derivatives to 1e-9 relative (the one difference: one eigendecomposition
    instead of LAPACK's eigvalsh/solve/inv), and says the
    same "above 1 or not" everywhere; bounds are crossed on some pixels and
    some pixels are not judged (0 from both)."""
    problem, J, theta, free, (f, g, H) = _random_case(seed, N=max(40, 2 * P), P=P, weighted=weighted)
    ref = newton_gaps(problem, losses.get("ls"), theta, J, free=free.copy(), derivatives=(f, g, H))
    col = np.sqrt(np.einsum("bnp,bnp->bp", J, J))
    norm = np.sqrt(np.einsum("bn,bn->b", problem.data, problem.data))
    got = newton.gaps(f, g, H, col, norm, theta, problem.lower, problem.upper, free, 1.0, not weighted, problem.N)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=0)
    np.testing.assert_array_equal(got > 1, ref > 1)
    assert (ref == 0).sum() >= 2 and (ref > 1).sum() >= 3 and ((ref > 0) & (ref < 1)).sum() >= 10
    # bounds matter on these pixels: without them some gaps change
    unbounded = newton.gaps(f, g, H, col, norm, theta, np.full(theta.shape[1], -np.inf),
                            np.full(theta.shape[1], np.inf), free, 1.0, not weighted, problem.N)
    assert not np.allclose(unbounded, got)


def _spectra(weighted, seed=5):
    rng = np.random.default_rng(seed)
    x = np.arange(200.0)
    data = np.stack([10 + 500 / (4 * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - c) / 4) ** 2)
                     for c in rng.uniform(80, 120, 12)])
    data = rng.poisson(data).astype(float)
    s = sf.signals.Signal1D(data)
    if weighted:
        s.set_noise_variance(np.maximum(data, 1.0))
    m = s.create_model()
    m.extend([sf.model.components1D.Gaussian(A=400.0, centre=100.0, sigma=5.0),
              sf.model.components1D.Offset()])
    m.assign_current_values_to_all()
    return m


@pytest.mark.parametrize("weighted", [False, True])
def test_kernel_checks_equal_numpy_verification(weighted):
    """The kernel's checks at a point (the code each pixel's fit ends with)
    against the NumPy evaluation there: ``JwᵀJw`` to 1e-12 of its columns'
    norms, ``Σ (w·model)²`` to 1e-10 relative, the same free columns, and the verification built on them
    gives the same statuses and Newton gaps (to 1e-8) — also for a pixel moved
    off its minimum, which both call NOT_A_MINIMUM."""
    from swiftfit.problem.problem import relevance

    m = _spectra(weighted)
    m.multifit()
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    theta = problem.p0.copy()
    theta[3, 1] += 0.5
    rel = relevance(problem, theta)
    got = kernel_checks(problem, theta)
    J = problem.jacobian(theta)
    Jw = J if problem.weights is None else J * problem.weights[:, :, None]
    gram = Jw.transpose(0, 2, 1) @ Jw
    scale = np.sqrt(np.einsum("bii->bi", gram))
    scale = scale[:, :, None] * scale[:, None, :]  # entries near 0 by cancellation: relative to the columns
    np.testing.assert_allclose(got["gram"] / scale, gram / scale, rtol=0, atol=1e-12)
    wm = problem.evaluate(theta) * (1 if problem.weights is None else problem.weights)
    np.testing.assert_allclose(got["model_sq"], np.einsum("bn,bn->b", wm, wm), rtol=1e-10)
    np.testing.assert_array_equal(got["relevant"], rel)
    loss = losses.get("ls")
    status = np.ones(problem.B, dtype=int)
    ref_status, ref_gap = verify(problem, loss, theta, status, rel)
    fast_status, fast_gap = verify(problem, loss, theta, status, rel, checks=got)
    np.testing.assert_array_equal(fast_status, ref_status)
    np.testing.assert_allclose(fast_gap, ref_gap, rtol=1e-8, atol=1e-12)
    assert ref_status[3] == Status.NOT_A_MINIMUM and (np.delete(ref_status, 3) > 0).all()


def test_fit_hands_over_the_checks_at_its_answer():
    """A fused multifit's own checks (``Solution.info["checks"]``, computed at the
    end of each pixel's fit, no second evaluation) equal the kernel's checks
    recomputed at the fitted values: the same evaluation, bit for bit (the Newton
    gap to 1e-12: its inverse comes from the last iteration's factorisation)."""
    from swiftfit.optimizers.lm import levenberg_marquardt

    m = _spectra(False)
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    sol = levenberg_marquardt(problem, losses.get("ls"))
    assert sol.info["kernel"] == "numba"
    again = kernel_checks(problem, sol.theta)
    for key in ("gram", "model_sq", "relevant"):
        np.testing.assert_array_equal(sol.info["checks"][key], again[key])
    # the fit's Newton gap takes the inverse from its last iteration's factor (scaled by the running
    # column maxima, lm_linalg._cov_reuse), the recomputation a fresh Cholesky: a few roundings apart
    np.testing.assert_allclose(sol.info["checks"]["gap"], again["gap"], rtol=1e-12, atol=0)
    assert (sol.info["checks"]["gap"] < 1).all()


@pytest.mark.parametrize("weights", ["none", "variance", "a zero weight"])
def test_linear_solver_checks_equal_numpy_verification(weights):
    """The linear solvers hand over the weighted design's column norms and the
    residuals or the model's norm (``info["checks"]``): truth, the NumPy Jacobian's weighted
    column norms (1e-12 relative) and residuals (1e-9 of the data's scale) or Σ (w·model)² (1e-10) at
    the answer, and the same statuses from the verification built on either —
    including a pixel whose line is outside the range (a dead column)."""
    from swiftfit.optimizers.linear import solve_lstsq
    from swiftfit.problem.problem import relevance

    rng = np.random.default_rng(3)
    x = np.linspace(0, 10, 300)
    B = 16
    data = rng.poisson(20 + 300 * np.exp(-0.5 * ((x - 4) / 0.3) ** 2), (B, x.size)).astype(float)
    s = sf.signals.Signal1D(data)
    s.axes_manager.signal_axes[0].scale = x[1] - x[0]
    if weights != "none":
        s.set_noise_variance(np.maximum(data, 1.0))
    m = s.create_model()
    g = sf.model.components1D.Gaussian(A=100.0, centre=4.0, sigma=0.3)
    m.extend([sf.model.components1D.Polynomial(order=1), g])
    g.centre.free = g.sigma.free = False
    m.assign_current_values_to_all()
    g.centre.map["values"][5] = 50.0  # far outside the range: its amplitude is not determined
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    if weights == "a zero weight":  # (a channel left out by its weight)
        problem.weights = problem.weights.copy()
        problem.weights[2, 10] = 0.0
    sol = solve_lstsq(problem)
    checks = sol.info["checks"]
    J = problem.jacobian(sol.theta)
    Jw = J if problem.weights is None else J * problem.weights[:, :, None]
    np.testing.assert_allclose(checks["columns"], np.sqrt(np.einsum("bnp,bnp->bp", Jw, Jw)), rtol=1e-12, atol=0)
    if "residuals" in checks:
        np.testing.assert_allclose(checks["residuals"], problem.residuals(sol.theta), rtol=0,
                                   atol=1e-9 * np.abs(problem.residuals(problem.p0)).max())
    else:  # a design per pixel without a fixed part: Σ (w·model)² from its Gram matrix, θᵀGθ
        wm = problem.evaluate(sol.theta) * (1 if problem.weights is None else problem.weights)
        np.testing.assert_allclose(checks["model_sq"], np.einsum("bn,bn->b", wm, wm), rtol=1e-10)
    rel = relevance(problem, sol.theta)
    loss = losses.get("ls")
    ref_status, _ = verify(problem, loss, sol.theta, sol.status, rel)
    fast_status, _ = verify(problem, loss, sol.theta, sol.status, rel, checks=checks)
    np.testing.assert_array_equal(fast_status, ref_status)
    assert ref_status[5] == Status.SINGULAR and (np.delete(ref_status, 5) == Status.CLOSED_FORM).all()
