"""Linear multifit ("lstsq", "ols", "nnls", "ridge") over a whole spectrum image.

Truth: per pixel, the closed forms computed here from a design matrix built
by hand from the known component shapes — ``np.linalg.lstsq`` with OLS/WLS
standard errors, ``scipy.optimize.nnls`` with the covariance on its free set,
the ridge normal equations with the sandwich covariance. multifit must match
them to 1e-9 relative (values) and 1e-8 relative (standard deviations) in
every way a design can vary: not at all (one shared design), fixed centres
varying per pixel, a component inactive at some pixels, a variance signal.
Data: 3 × 4 pixels, seeded Gaussian noise.
"""

import numpy as np
import pytest
from scipy.optimize import nnls

import swiftfit as hs
from swiftfit.errors import OptimizerError
from swiftfit.optimizers import _linear_batch as lb

C = hs.model.components1D

X_AXIS = np.linspace(0.0, 10.0, 201)
CENTRES = np.array([2.5, 5.0, 7.5])
SIGMAS = np.array([0.4, 0.5, 0.45])
NAV = (3, 4)  # array order: 3 rows × 4 columns
RTOL_VALUES, RTOL_STD = 1e-9, 1e-8
ALPHA = 0.7


def _gauss(centre, sigma):
    return np.exp(-((X_AXIS - centre) ** 2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))


def _design(centres, active=(True, True, True)):
    """Columns in the model's free-parameter order: a0, a1, then the active Gaussians' A."""
    cols = [np.ones_like(X_AXIS), X_AXIS]
    cols += [_gauss(c, s) for c, s, a in zip(centres, SIGMAS, active) if a]
    return np.column_stack(cols)


def _truth(rng):
    """Per-pixel coefficients a0, a1, A1..A3 (A3 near zero: nnls clips it at some pixels)."""
    a0 = rng.uniform(1.0, 2.0, NAV)
    a1 = rng.uniform(-0.1, 0.1, NAV)
    A = np.stack([rng.uniform(20, 40, NAV), rng.uniform(10, 30, NAV), rng.uniform(-0.3, 0.3, NAV)], -1)
    return np.concatenate([a0[..., None], a1[..., None], A], -1)


def _make(centres_map=None, inactive=None, variance=None, seed=0):
    """Signal + model. ``centres_map`` (NAV + (3,)): fixed centres per pixel;
    ``inactive``: pixels where the third Gaussian is switched off;
    ``variance`` (NAV + (N,)): a variance signal (the noise then follows it)."""
    rng = np.random.default_rng(seed)
    truth = _truth(rng)
    centres = np.broadcast_to(CENTRES, NAV + (3,)) if centres_map is None else centres_map
    data = np.empty(NAV + (X_AXIS.size,))
    for idx in np.ndindex(*NAV):
        act = (True, True, not (inactive is not None and inactive[idx]))
        coef = truth[idx] if act[2] else truth[idx][:4]
        sd = 0.05 if variance is None else np.sqrt(variance[idx])
        data[idx] = _design(centres[idx], act) @ coef + rng.normal(0, 1, X_AXIS.size) * sd
    s = hs.signals.Signal1D(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale = X_AXIS[0], X_AXIS[1] - X_AXIS[0]
    if variance is not None:
        s.metadata.set_item("Signal.Noise_properties.variance", hs.signals.Signal1D(variance))
    m = s.create_model()
    poly = C.Polynomial(order=1)
    m.append(poly)
    gs = []
    for k in range(3):
        g = C.Gaussian(A=1.0, sigma=SIGMAS[k], centre=CENTRES[k])
        m.append(g)
        g.centre.free = g.sigma.free = False
        gs.append(g)
    m.assign_current_values_to_all()
    if centres_map is not None:
        for k, g in enumerate(gs):
            g.centre.map["values"][...] = centres_map[..., k]
    if inactive is not None:
        gs[2].active_is_multidimensional = True
        gs[2]._active_array[inactive] = False
    params = [poly.a0, poly.a1] + [g.A for g in gs]
    return s, m, params, centres


def _maps(params, field):
    return np.stack([np.asarray(p.map[field], dtype=float) for p in params], -1)


def _reference(optimizer, s, centres, inactive=None, variance=None):
    """Closed-form values and std at every pixel (NaN where a parameter is not fitted)."""
    P = 5
    values = np.full(NAV + (P,), np.nan)
    std = np.full(NAV + (P,), np.nan)
    for idx in np.ndindex(*NAV):
        act = (True, True, not (inactive is not None and inactive[idx]))
        cols = np.flatnonzero([True, True, *act])
        X = _design(centres[idx], act)
        w = np.ones(X_AXIS.size) if variance is None else 1 / np.sqrt(variance[idx])
        Xw, yw = X * w[:, None], s.data[idx] * w
        if optimizer in ("lstsq", "ols"):
            beta = np.linalg.lstsq(Xw, yw, rcond=None)[0]
            cov = np.linalg.inv(Xw.T @ Xw)
        elif optimizer == "nnls":
            beta = nnls(Xw, yw)[0]
            free = beta > 0
            cov = np.full((len(cols), len(cols)), np.nan)
            cov[np.ix_(free, free)] = np.linalg.inv(Xw[:, free].T @ Xw[:, free])
        else:
            A = Xw.T @ Xw + ALPHA * np.eye(len(cols))
            beta = np.linalg.solve(A, Xw.T @ yw)
            Ai = np.linalg.inv(A)
            cov = Ai @ Xw.T @ Xw @ Ai
        if variance is None:  # unweighted: rescaled by the reduced chi^2 (dof: N minus all free parameters)
            r = yw - Xw @ beta
            cov = cov * (r @ r) / (X_AXIS.size - P)
        values[idx + (cols,)] = beta
        std[idx + (cols,)] = np.sqrt(np.diag(cov))
    return values, std


def _compare(params, values, std, inactive=None):
    got_v, got_s = _maps(params, "values"), _maps(params, "std")
    sel = np.isfinite(values)
    np.testing.assert_allclose(got_v[sel], values[sel], rtol=RTOL_VALUES, atol=1e-12)
    if inactive is not None:
        # where the third Gaussian is inactive its area is not fitted: it keeps
        # its starting value and has no standard deviation. The others' std
        # there are rescaled by the model with the chunk's number of free
        # parameters (5, not 4): compared through the unscaled covariance in
        # test_inactive_pixels_covariance_is_that_of_the_active_columns
        np.testing.assert_array_equal(got_v[inactive, 4], 1.0)
        assert np.isnan(got_s[inactive, 4]).all()
        got_s, std = got_s[~inactive], std[~inactive]
    np.testing.assert_allclose(got_s, std, rtol=RTOL_STD, atol=1e-14)  # NaN where NaN


CASES = ["shared", "centres_vary", "inactive", "variance"]


def _case(case, seed):
    rng = np.random.default_rng(100 + seed)
    kw = {}
    if case == "centres_vary":
        kw["centres_map"] = CENTRES + rng.uniform(-0.3, 0.3, NAV + (1,))
    elif case == "inactive":
        inactive = np.zeros(NAV, dtype=bool)
        inactive[0, 1] = inactive[2, 3] = inactive[1, 0] = True
        kw["inactive"] = inactive
    elif case == "variance":
        kw["variance"] = 0.002 * rng.uniform(0.5, 2.0, NAV + (1,)) * (1 + X_AXIS / 10)
    return kw


@pytest.mark.parametrize("optimizer", ["lstsq", "ols", "nnls", "ridge"])
@pytest.mark.parametrize("case", CASES)
def test_multifit_equals_closed_form(optimizer, case):
    kw = _case(case, seed=CASES.index(case))
    s, m, params, centres = _make(**kw, seed=CASES.index(case))
    opts = {"alpha": ALPHA} if optimizer == "ridge" else {}
    m.multifit(optimizer=optimizer, **opts)
    assert (m._status == 5).all()
    values, std = _reference(optimizer, s, centres, kw.get("inactive"), kw.get("variance"))
    _compare(params, values, std, kw.get("inactive"))
    if optimizer == "nnls":
        assert (_maps(params, "values") >= 0).all()


@pytest.mark.parametrize("case", CASES)
def test_multifit_equals_a_loop_of_single_fits(case):
    kw = _case(case, seed=7)
    _, m, params, _ = _make(**kw, seed=7)
    m.multifit(optimizer="lstsq")
    batched_v, batched_s = _maps(params, "values"), _maps(params, "std")
    for p in params:
        p.map["values"][...] = 1.0
    for idx in np.ndindex(*NAV):
        m.axes_manager.indices = idx[::-1]
        m.fit(optimizer="lstsq")
    np.testing.assert_allclose(_maps(params, "values"), batched_v, rtol=RTOL_VALUES, atol=1e-12)
    # (a single fit at a pixel where a component is inactive has one free
    # parameter fewer, hence another reduced chi^2: std compared elsewhere there)
    keep = ~kw["inactive"] if "inactive" in kw else np.ones(NAV, dtype=bool)
    np.testing.assert_allclose(_maps(params, "std")[keep], batched_s[keep], rtol=RTOL_STD)


@pytest.mark.parametrize("optimizer", ["lstsq", "ridge"])
def test_inactive_pixels_covariance_is_that_of_the_active_columns(optimizer):
    kw = _case("inactive", seed=8)
    _, m, _, centres = _make(**kw, seed=8)
    problem = m._problem(list(np.ndindex(*NAV)))
    sol = hs.optimizers.get(optimizer).solve(problem, alpha=ALPHA) if optimizer == "ridge" else \
        hs.optimizers.get(optimizer).solve(problem)
    for b, idx in enumerate(np.ndindex(*NAV)):
        act = (True, True, not kw["inactive"][idx])
        X = _design(centres[idx], act)
        G = X.T @ X
        A = G + ALPHA * np.eye(X.shape[1]) if optimizer == "ridge" else G
        cov = np.linalg.inv(A) @ G @ np.linalg.inv(A)
        k = X.shape[1]
        np.testing.assert_allclose(sol.covariance[b][:k, :k], cov, rtol=1e-8, atol=1e-14)
        if not act[2]:
            assert np.isnan(sol.covariance[b][4, 4])
            np.testing.assert_array_equal(sol.covariance[b][4, :4], 0.0)


@pytest.mark.parametrize("case", CASES)
def test_calculate_errors_false_leaves_std_nan_and_values_unchanged(case):
    kw = _case(case, seed=3)
    _, m, params, _ = _make(**kw, seed=3)
    m.multifit(optimizer="lstsq")
    ref = _maps(params, "values")
    chisq = m._chisq.copy()
    for p in params:
        p.map["values"][...] = 1.0
        p.map["std"][...] = 0.0
    m.multifit(optimizer="lstsq", calculate_errors=False)
    np.testing.assert_array_equal(_maps(params, "values"), ref)
    assert np.isnan(_maps(params, "std")).all()
    assert (m._status == 5).all()
    np.testing.assert_allclose(m._chisq, chisq, rtol=1e-12)


@pytest.mark.parametrize("bad", ["yes", 1, None, np.array([True])])
def test_calculate_errors_must_be_a_bool(bad):
    _, m, _, _ = _make()
    with pytest.raises(TypeError, match=r"`calculate_errors` must be True or False, got") as exc:
        m.multifit(optimizer="nnls", calculate_errors=bad)
    assert repr(bad) in str(exc.value)


def test_calculate_errors_is_refused_by_non_linear_optimizers():
    _, m, _, _ = _make()
    with pytest.raises(OptimizerError, match="unknown options.*calculate_errors"):
        m.multifit(optimizer="lm", calculate_errors=False)


def test_chisq_passed_on_is_the_models_chisq():
    # the solvers hand the weighted chi^2 to the model; it must be the one the
    # model itself computes from its residuals
    for case in CASES:
        _, m, _, _ = _make(**_case(case, seed=4), seed=4)
        pixels = list(np.ndindex(*NAV))
        problem = m._problem(pixels)
        for name in ("lstsq", "nnls", "ridge"):
            sol = hs.optimizers.get(name).solve(problem)
            r = problem.residuals(sol.theta)
            np.testing.assert_allclose(sol.info["chisq"], np.einsum("bn,bn->b", r, r), rtol=1e-10)


def _two_peaks(separations):
    """Two Gaussians per pixel (fixed centres 5 ± separation/2) and an offset."""
    rng = np.random.default_rng(21)
    n = len(separations)
    data = np.empty((n, X_AXIS.size))
    for b, sep in enumerate(separations):
        data[b] = (30 * _gauss(5 - sep / 2, 0.5) + 20 * _gauss(5 + sep / 2, 0.5) + 1.0
                   + rng.normal(0, 0.05, X_AXIS.size))
    s = hs.signals.Signal1D(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale = X_AXIS[0], X_AXIS[1] - X_AXIS[0]
    m = s.create_model()
    g1, g2, off = C.Gaussian(sigma=0.5), C.Gaussian(sigma=0.5), C.Offset()
    for c in (g1, g2, off):
        m.append(c)
    m.assign_current_values_to_all()
    for g in (g1, g2):
        g.centre.free = g.sigma.free = False
    g1.centre.map["values"][:] = 5 - np.asarray(separations) / 2
    g2.centre.map["values"][:] = 5 + np.asarray(separations) / 2
    return m, (g1.A, g2.A, off.offset)


def test_ill_conditioned_pixel_gets_the_svd_answer():
    # pixel 1: the two peaks 1e-6 apart (design condition ~1e6, scaled Gram ~1e12 > 1e10);
    # pixel 2: on top of each other (rank deficient); the others well separated
    seps = [2.0, 1e-6, 0.0, 3.0]
    m, _params = _two_peaks(seps)
    problem = m._problem([(b,) for b in range(len(seps))])
    design = lb.prepare(problem, "lstsq")
    accepted = lb.normal_solve(design)[1]
    np.testing.assert_array_equal(accepted, [True, False, False, True])
    batch = hs.optimizers.get("lstsq").solve(problem)
    for b in range(len(seps)):
        # one pixel alone: a shared design, solved by SVD
        single = hs.optimizers.get("lstsq").solve(problem.take([b]))
        assert batch.status[b] == single.status[0]
        np.testing.assert_allclose(batch.theta[b], single.theta[0], rtol=1e-9)
        np.testing.assert_allclose(batch.covariance[b], single.covariance[0], rtol=1e-8)
    assert list(batch.status) == [5, 5, -3, 5]
    # and the well-separated pixels match numpy's lstsq on the hand-built design
    for b in (0, 3):
        X = np.column_stack([_gauss(5 - seps[b] / 2, 0.5), _gauss(5 + seps[b] / 2, 0.5), np.ones_like(X_AXIS)])
        ref = np.linalg.lstsq(X, m.signal.data[b], rcond=None)[0]
        np.testing.assert_allclose(batch.theta[b], ref, rtol=RTOL_VALUES)


def test_nonlinear_free_parameter_is_refused_in_multifit():
    kw = _case("centres_vary", seed=1)
    _, m, _, _ = _make(**kw, seed=1)
    m[1].centre.free = True
    with pytest.raises(OptimizerError, match=r"Gaussian\.centre"):
        m.multifit(optimizer="lstsq")


def test_a_component_active_only_outside_the_sample_is_still_checked():
    # the free centre belongs to a component active at one pixel only, not among
    # the sampled ones: affinity must still be verified there
    kw = _case("centres_vary", seed=2)
    _, m, _, _ = _make(**kw, seed=2)
    g = m[3]
    g.centre.free = True
    g.active_is_multidimensional = True
    g._active_array[...] = False
    g._active_array[1, 2] = True
    problem = m._problem(list(np.ndindex(*NAV)))
    # first and last pixel, plus pixel (1, 2) (flat 6) where the component is active
    assert list(lb.sample_rows(problem)) == [0, 6, 11]
    with pytest.raises(OptimizerError, match=r"\['Gaussian_1\.centre'\]"):
        m.multifit(optimizer="lstsq")


_STATE = {"k": 1.0}


class _Scaled(hs.component.Component):
    """a·k·x with k read from module state (a component's state changed in place)."""

    parameters = ("a",)
    linear = ("a",)

    @staticmethod
    def function(x, a):
        return a * _STATE["k"] * x

    @staticmethod
    def gradients(x, a):
        return (_STATE["k"] * x,)


class _Flat(hs.component.Component):
    """a·x written for ``(B, 1)`` parameter arrays only (``reshape(-1, 1)``)."""

    parameters = ("a",)
    linear = ("a",)

    @staticmethod
    def function(x, a):
        return np.asarray(a).reshape(-1, 1) * x

    @staticmethod
    def gradients(x, a):
        return (np.broadcast_to(x, (np.size(a), x.size)),)


def _line_signal(slope, seed):
    rng = np.random.default_rng(seed)
    data = slope * X_AXIS + 2.0 + rng.normal(0, 0.01, NAV + (X_AXIS.size,))
    s = hs.signals.Signal1D(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale = X_AXIS[0], X_AXIS[1] - X_AXIS[0]
    return s


def test_cached_shared_design_notices_a_component_changed_in_place():
    # two multifits of the same model with a component's state changed in
    # between: the second must not reuse the first one's design
    m = _line_signal(3.0, seed=5).create_model()
    comp = _Scaled(a=1.0)
    m.append(comp)
    m.append(C.Offset())
    try:
        m.multifit(optimizer="lstsq")
        np.testing.assert_allclose(comp.a.map["values"], 3.0, rtol=1e-3)
        _STATE["k"] = 2.0
        m.multifit(optimizer="lstsq")
        np.testing.assert_allclose(comp.a.map["values"], 1.5, rtol=1e-3)
    finally:
        _STATE["k"] = 1.0


def test_component_that_cannot_be_stacked_falls_back_to_the_exact_design():
    # fixed values vary per pixel (per-pixel designs); the component's function
    # does not broadcast over a stack of points, so the exact Jacobian is used
    s = _line_signal(3.0, seed=6)
    m = s.create_model()
    comp, g = _Flat(a=1.0), C.Gaussian(A=1.0, sigma=0.5)
    m.extend([comp, g, C.Offset()])
    m.assign_current_values_to_all()
    g.centre.free = g.sigma.free = False
    centres = np.random.default_rng(6).uniform(3, 7, NAV)
    g.centre.map["values"][...] = centres
    m.multifit(optimizer="lstsq")
    assert (m._status == 5).all()
    for idx in np.ndindex(*NAV):
        X = np.column_stack([X_AXIS, _gauss(centres[idx], 0.5), np.ones_like(X_AXIS)])
        ref = np.linalg.lstsq(X, s.data[idx], rcond=None)[0]
        got = [comp.a.map["values"][idx], g.A.map["values"][idx], m[2].offset.map["values"][idx]]
        np.testing.assert_allclose(got, ref, rtol=RTOL_VALUES, atol=1e-12)


@pytest.mark.parametrize(("case", "path"), [("shared", "shared"), ("variance", "shared, weighted per pixel"),
                                            ("centres_vary", "per pixel"), ("inactive", "per pixel")])
def test_each_case_takes_its_path(case, path):
    _, m, _, _ = _make(**_case(case, seed=9), seed=9)
    d = lb.prepare(m._problem(list(np.ndindex(*NAV))), "lstsq")
    got = "shared" if d.shared else "shared, weighted per pixel" if d.X0t is not None else "per pixel"
    assert got == path


@pytest.mark.parametrize("grad", ["auto", "fd"])
def test_ties_and_fd_gradients_with_centres_varying(grad):
    # the second Gaussian's area twinned to twice the first's, the third's
    # through an expr tie to the first's plus... nothing free: 0.5·A1
    kw = _case("centres_vary", seed=10)
    s, m, params, centres = _make(**kw, seed=10)
    g1, g2, g3 = m[1], m[2], m[3]
    g2.A.twin_function_expr = "2*x"
    g2.A.twin = g1.A
    g3.A.expr = f"0.5 * {g1.name}.A"
    m.multifit(optimizer="lstsq", grad=grad)
    assert (m._status == 5).all()
    for idx in np.ndindex(*NAV):
        X = _design(centres[idx])
        Xr = np.column_stack([X[:, 0], X[:, 1], X[:, 2] + 2 * X[:, 3] + 0.5 * X[:, 4]])
        ref = np.linalg.lstsq(Xr, s.data[idx], rcond=None)[0]
        got = [params[0].map["values"][idx], params[1].map["values"][idx], params[2].map["values"][idx]]
        np.testing.assert_allclose(got, ref, rtol=RTOL_VALUES, atol=1e-12)
        np.testing.assert_allclose(params[3].map["values"][idx], 2 * ref[2], rtol=RTOL_VALUES)
        np.testing.assert_allclose(params[4].map["values"][idx], 0.5 * ref[2], rtol=RTOL_VALUES)


def test_chisq_of_noiseless_data_is_not_lost_to_cancellation():
    # χ² ≈ 0: the algebraic ‖y‖² − 2θᵀb + θᵀGθ would be all rounding; the
    # residual itself must be used
    kw = _case("centres_vary", seed=11)
    s, m, _params, centres = _make(**kw, seed=11)
    truth = _truth(np.random.default_rng(11))
    for idx in np.ndindex(*NAV):
        s.data[idx] = _design(centres[idx]) @ truth[idx]
    problem = m._problem(list(np.ndindex(*NAV)))
    sol = hs.optimizers.get("lstsq").solve(problem)
    yy = np.einsum("bn,bn->b", problem.data, problem.data)
    assert (sol.info["chisq"] >= 0).all() and (sol.info["chisq"] <= 1e-24 * yy).all()
    np.testing.assert_allclose(sol.theta, truth.reshape(-1, 5), rtol=1e-10)


def test_single_fit_with_calculate_errors_false():
    _, m, params, _ = _make()
    out = m.fit(optimizer="lstsq", calculate_errors=False)
    assert out.success and out.covariance is None
    assert all(p.std is None or np.isnan(p.std) for p in params)


def test_large_fixed_offset_uses_the_exact_design():
    # a polynomial whose fixed constant dwarfs its free slope: f(e_j) − f(0)
    # would lose digits, so the design comes from the analytic Jacobian
    rng = np.random.default_rng(12)
    centres = rng.uniform(3, 7, NAV)
    a0 = 1e9
    data = np.empty(NAV + (X_AXIS.size,))
    for idx in np.ndindex(*NAV):
        data[idx] = a0 + 0.37 * X_AXIS + 25 * _gauss(centres[idx], 0.5) + rng.normal(0, 0.01, X_AXIS.size)
    s = hs.signals.Signal1D(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale = X_AXIS[0], X_AXIS[1] - X_AXIS[0]
    m = s.create_model()
    poly, g = C.Polynomial(order=1, a0=a0), C.Gaussian(A=1.0, sigma=0.5)
    m.extend([poly, g])
    m.assign_current_values_to_all()
    poly.a0.free = False
    g.centre.free = g.sigma.free = False
    g.centre.map["values"][...] = centres
    problem = m._problem(list(np.ndindex(*NAV)))
    with pytest.raises(lb._NotFast):
        lb.fast_design(problem)
    m.multifit(optimizer="lstsq")
    for idx in np.ndindex(*NAV):
        X = np.column_stack([X_AXIS, _gauss(centres[idx], 0.5)])
        ref = np.linalg.lstsq(X, s.data[idx] - a0, rcond=None)[0]
        got = [poly.a1.map["values"][idx], g.A.map["values"][idx]]
        np.testing.assert_allclose(got, ref, rtol=RTOL_VALUES)
