"""The verification of a linear fit from the solver's shared design.

A linear solver hands the model's verification what it needs from the design
in hand (``Solution.info["checks"]``: the weighted Jacobian's column norms and
the weighted residuals) instead of evaluating every component and its
gradients at every pixel. Truth: the problem's own NumPy evaluation
(``problem.evaluate`` / ``jacobian`` / ``residuals``). The quantities must
agree to 1e-12 relative (the design is the analytic Jacobian), and the
verdicts of :func:`~swiftfit.problem.verify.verify` — statuses and Newton
gaps — must be the same from both, on closed-form answers, on answers that
are not minima (perturbed, reported as converged), with a dead column (a
Gaussian far outside the range) and with a variance signal (per-pixel
weights). Data: 3 × 4 pixels, seeded Gaussian noise.
"""

import numpy as np
import pytest

import swiftfit as hs
from swiftfit import losses
from swiftfit.optimizers import _linear_batch as lb
from swiftfit.optimizers import linear
from swiftfit.problem.problem import relevance
from swiftfit.problem.rows import finite_rows
from swiftfit.problem.solution import Status
from swiftfit.problem.verify import verify

C = hs.model.components1D
X_AXIS = np.linspace(0.0, 10.0, 201)
NAV = (3, 4)
RTOL = 1e-12


def _model(variance: bool, dead: bool = False, seed: int = 0):
    """Offset + slope + two Gaussians of fixed shape (a third one, ``dead``,
    centred far outside the range: its column is exactly 0)."""
    rng = np.random.default_rng(seed)
    centres = [2.5, 6.0] + ([400.0] if dead else [])
    shape = np.stack([np.exp(-((X_AXIS - c) ** 2) / (2 * 0.5**2)) for c in centres[:2]])
    amp = rng.uniform(10, 30, NAV + (2,))
    sd = rng.uniform(0.05, 0.2, NAV + (X_AXIS.size,)) if variance else np.full(NAV + (X_AXIS.size,), 0.1)
    data = 1.0 + 0.05 * X_AXIS + amp @ shape + rng.normal(0, 1, sd.shape) * sd
    s = hs.signals.Signal1D(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale = X_AXIS[0], X_AXIS[1] - X_AXIS[0]
    if variance:
        s.metadata.set_item("Signal.Noise_properties.variance", hs.signals.Signal1D(sd**2))
    m = s.create_model()
    m.append(C.Polynomial(order=1))
    for c in centres:
        g = C.Gaussian(A=1.0, sigma=0.5, centre=c)
        m.append(g)
        g.centre.free = g.sigma.free = False
    m.assign_current_values_to_all()
    return m


def _problem(m):
    return m._problem(list(np.ndindex(*NAV)))


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = max(np.max(np.abs(b)), np.finfo(float).tiny)
    assert np.max(np.abs(a - b)) <= rtol * scale, np.max(np.abs(a - b)) / scale


@pytest.mark.parametrize("variance", [False, True])
def test_the_solvers_checks_equal_the_problems(variance):
    # what the linear solver hands the verification (Solution.info["checks"]) against
    # the problem's own evaluation at the answer: the weighted Jacobian's column norms,
    # and the weighted residuals or (one shared design) the model's squared norm
    problem = _problem(_model(variance))
    sol = linear.solve_lstsq(problem)
    checks = sol.info["checks"]
    J = problem.jacobian(sol.theta)
    Jw = J if problem.weights is None else J * problem.weights[:, :, None]
    _close(checks["columns"], np.sqrt(np.einsum("bnp,bnp->bp", Jw, Jw)))
    if variance:  # per-pixel weights: the residuals (the model's norm follows from them)
        _close(checks["residuals"], problem.residuals(sol.theta), rtol=1e-9)
    else:  # one shared design: the model's norm from its quadratic form, no residuals formed
        assert "residuals" not in checks
        wm = problem.evaluate(sol.theta)
        _close(checks["model_sq"], np.einsum("bn,bn->b", wm, wm), rtol=1e-9)


@pytest.mark.parametrize("variance", [False, True])
@pytest.mark.parametrize("dead", [False, True])
def test_verify_gives_the_same_verdicts_from_the_shared_design(variance, dead):
    problem = _problem(_model(variance, dead))
    sol = linear.solve_lstsq(problem)
    loss = losses.get("ls")
    rel = relevance(problem, sol.theta)
    # closed-form answers; then the same answers, half of them pushed off the
    # minimum, reported as converged by an iterative solver (Newton gaps judged)
    theta2 = sol.theta.copy()
    theta2[::2] *= 1.05
    cases = [(sol.theta, sol.status), (theta2, np.full(problem.B, int(Status.FTOL)))]
    for theta, status in cases:
        s_np, g_np = verify(problem, loss, theta, status, rel)
        # the solver's checks hold at its own answer only; elsewhere verify evaluates
        checks = sol.info["checks"] if theta is sol.theta else None
        s_fast, g_fast = verify(problem, loss, theta, status, rel, checks=checks)
        np.testing.assert_array_equal(s_fast, s_np)
        # gaps at a minimum are rounding noise (~1e-12 of the tolerance): absolute there
        np.testing.assert_allclose(g_fast, g_np, rtol=1e-9, atol=1e-9, equal_nan=True)
    if dead:
        assert (s_np == Status.SINGULAR).all()
    else:
        assert (cases[0][1] == Status.CLOSED_FORM).all()
        # the perturbed pixels are far from a minimum, the others at it
        assert (s_np[::2] == Status.NOT_A_MINIMUM).all() and (s_np[1::2] == Status.FTOL).all()


@pytest.mark.parametrize("variance", [False, True])
def test_multifit_maps_equal_with_and_without_the_shared_design(variance, monkeypatch):
    fitted = []
    for use in (True, False):
        if not use:  # the verification falls back on the problem's own evaluation
            from swiftfit.model import write_back

            plain = write_back._verify
            monkeypatch.setattr(write_back, "_verify", lambda *a, checks=None, **k: plain(*a, **k))
        m = _model(variance)
        m.multifit(optimizer="lstsq")
        fitted.append(m)
    a, b = fitted
    np.testing.assert_array_equal(a._status, b._status)
    assert (a._status == Status.CLOSED_FORM).all()
    np.testing.assert_array_equal(a._chisq, b._chisq)
    for ca, cb in zip(a, b):
        for pa, pb in zip(ca.parameters, cb.parameters):
            np.testing.assert_array_equal(pa.map["values"], pb.map["values"])
            np.testing.assert_array_equal(pa.map["std"], pb.map["std"])


def test_finite_rows_equals_isfinite_all():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, (200, 50))
    a[3, 7] = np.nan
    a[10, 0] = np.inf
    a[11, 1], a[11, 2] = np.inf, -np.inf  # the sum is NaN
    a[20, :] = 1e307  # the sum overflows, every value finite
    a[21, :2] = 1e308, -1e308
    a[30, 5] = -np.inf
    np.testing.assert_array_equal(finite_rows(a), np.isfinite(a).all(axis=1))
    assert finite_rows(a).sum() == 200 - 4
    with pytest.raises(ValueError, match="2-D"):
        finite_rows(a[0])


@pytest.mark.parametrize("noise", [True, False])
def test_chisq_from_the_factorisation_equals_the_residuals(noise):
    """χ² = ‖y‖² − ‖Uᵀy‖²; without noise (χ² ~ rounding, the difference would
    cancel) the residuals are formed instead: both equal Σ r² of the problem."""
    m = _model(False)
    if not noise:  # the model itself as data: an exact fit
        m.multifit(optimizer="lstsq")
        m.signal.data[...] = m.as_signal().data
    problem = _problem(m)
    sol = linear.solve_lstsq(problem)
    r = problem.residuals(sol.theta)
    explicit = np.einsum("bn,bn->b", r, r)
    yy = np.einsum("bn,bn->b", problem.data, problem.data)
    if noise:
        np.testing.assert_allclose(sol.info["chisq"], explicit, rtol=1e-10)
    else:  # every pixel's χ² formed from its residuals, not from the cancelling difference
        assert (explicit < 1e-20 * yy).all() and (sol.info["chisq"] < 1e-20 * yy).all()
        d = lb.prepare(problem, "lstsq")
        np.testing.assert_array_equal(sol.info["chisq"], d.chisq(sol.theta, np.arange(problem.B)))
