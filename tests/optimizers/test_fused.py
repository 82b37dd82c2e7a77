"""The fused (numba) fast path of "lm" against the NumPy reference.

Truth: the NumPy implementation (``kernel="numpy"``), which is itself tested
against NIST certified values and closed forms. The kernel's model, residuals,
``JᵀJ`` and ``Jᵀr`` must equal NumPy's to 1e-11 relative (the Gaussian
recurrence and the evaluation window cost ~1e-13); fitted values and standard
errors to 1e-8 relative (both solvers stop at the minimum to about that
precision, by different linear algebra: Cholesky vs SVD).
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import lower as _fused
from swiftfit.errors import OptimizerError

pytest.importorskip("numba")
C = sf.model.components1D


def _spectra(nav=(3, 4), n=400, seed=0, x=None):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 100.0, n) if x is None else x
    B = int(np.prod(nav))
    centre = 40 + rng.uniform(-1, 1, B)
    truth = (300 * np.exp(-0.5 * ((x - centre[:, None]) / 3.0) ** 2) / (3.0 * np.sqrt(2 * np.pi))
             + 50 * 2.0 / (np.pi * ((x - 70) ** 2 + 4.0)) + 5 + 0.02 * x + 8 * np.exp(-x / 30.0) + 4 * np.exp(-4 * np.log(2) * ((x - 20) / 5.0) ** 2))
    data = truth + rng.normal(0, 0.3, truth.shape)
    return x, data.reshape(nav + (n,))


def _model(data, x=None, weights=False, binned=False):
    axes = None
    if x is not None:
        axes = [{"size": s} for s in data.shape[:-1]] + [{"axis": x}]
    s = sf.signals.Signal1D(data, axes=axes) if axes else sf.signals.Signal1D(data)
    if x is None:
        s.axes_manager[-1].scale = 100.0 / (data.shape[-1] - 1)
    if binned:
        s.axes_manager[-1].is_binned = True
    if weights:
        var = sf.signals.Signal1D(np.full(data.shape, 0.09) * (1 + 0.5 * np.linspace(0, 1, data.shape[-1])))
        s.metadata.set_item("Signal.Noise_properties.variance", var)
    m = s.create_model()
    m.extend([C.Gaussian(A=250, sigma=3.5, centre=40.5), C.Lorentzian(A=45, gamma=2.2, centre=70.3),
              C.Polynomial(order=1, a0=4, a1=0.01), C.Exponential(A=6, tau=25.0),
              C.GaussianHF(height=3.5, fwhm=5.5, centre=20.3), C.Offset(offset=0.1)])
    m[-1].offset.free = False  # a fixed parameter of an otherwise free model
    m.assign_current_values_to_all()
    return m


def _all_maps(m, field):
    return np.stack([p.map[field] for c in m for p in c.parameters if p.free or p.twin is not None], -1)


@pytest.mark.parametrize("variant", ["uniform", "nonuniform", "weights", "binned"])
def test_kernel_evaluation_equals_numpy(variant):
    x_nonuni = np.sort(np.random.default_rng(3).uniform(0, 100, 400))
    x, data = _spectra(x=x_nonuni if variant == "nonuniform" else None)
    m = _model(data, x=x if variant == "nonuniform" else None, weights=variant == "weights",
               binned=variant == "binned")
    pixels = list(np.ndindex(*m._nav_shape))
    problem = m._problem(pixels)
    low = _fused.lower(problem)
    assert low is not None
    assert (low["dx"] > 0) == (variant != "nonuniform")
    rng = np.random.default_rng(1)
    theta = problem.p0 * rng.uniform(0.9, 1.1, problem.p0.shape)
    F, R, G, g, J = _fused.evaluate(problem, theta, low)
    ref_f = problem.evaluate(theta)
    ref_r = problem.residuals(theta)
    ref_J = problem.jacobian(theta)
    if problem.weights is not None:
        ref_J = ref_J * problem.weights[:, :, None]
    np.testing.assert_allclose(F, ref_f, rtol=1e-11, atol=1e-11 * np.abs(ref_f).max())
    np.testing.assert_allclose(R, ref_r, rtol=1e-9, atol=1e-11 * np.abs(ref_f).max())
    np.testing.assert_allclose(J, ref_J, rtol=1e-10, atol=1e-11 * np.abs(ref_J).max())
    np.testing.assert_allclose(G, np.einsum("bnp,bnq->bpq", ref_J, ref_J), rtol=1e-10,
                               atol=1e-11 * np.abs(G).max())
    np.testing.assert_allclose(g, np.einsum("bnp,bn->bp", ref_J, ref_r), rtol=1e-8,
                               atol=1e-10 * np.abs(g).max())


@pytest.mark.parametrize("variant", ["uniform", "nonuniform", "weights"])
def test_fast_multifit_equals_numpy_reference(variant):
    x_nonuni = np.sort(np.random.default_rng(4).uniform(0, 100, 400))
    x, data = _spectra(x=x_nonuni if variant == "nonuniform" else None, seed=2)
    results = {}
    for kernel in ("numba", "numpy"):
        m = _model(data, x=x if variant == "nonuniform" else None, weights=variant == "weights")
        m.multifit(kernel=kernel)
        results[kernel] = (_all_maps(m, "values"), _all_maps(m, "std"), m._status.copy(), m._chisq.copy())
    fast, ref = results["numba"], results["numpy"]
    assert (ref[2] > 0).all() and (fast[2] > 0).all()
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-8)
    np.testing.assert_allclose(fast[1], ref[1], rtol=1e-8)
    np.testing.assert_allclose(fast[3], ref[3], rtol=1e-10)


def test_fast_path_twins_and_inactive_components():
    x, data = _spectra(nav=(6,), seed=5)
    second = 3 * np.exp(-0.5 * ((x - 55.0) / 3.0) ** 2)  # a second peak sharing the width
    data = data + second
    data[[1, 4]] -= second  # ... absent where its component is inactive
    out = {}
    for kernel in ("numba", "numpy"):
        m = _model(data)
        extra = C.Gaussian(A=20, sigma=3.0, centre=55.4)
        m.append(extra)
        extra.sigma.twin = m[0].sigma  # identity twin: the same column
        extra.active_is_multidimensional = True
        extra._active_array[[1, 4]] = False
        m.assign_current_values_to_all()
        m.multifit(kernel=kernel)
        out[kernel] = (_all_maps(m, "values"), _all_maps(m, "std"), m._status.copy())
    np.testing.assert_array_equal(out["numba"][2], out["numpy"][2])
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=1e-8)
    np.testing.assert_allclose(out["numba"][1], out["numpy"][1], rtol=1e-8, equal_nan=True)


def test_status_codes_match_reference():
    x, data = _spectra(nav=(5,), seed=6)
    statuses = {}
    for kernel in ("numba", "numpy"):
        m = _model(data)
        m.multifit(kernel=kernel)
        statuses[kernel] = m._status.copy()
        m = _model(data)
        m.multifit(kernel=kernel, max_nfev=3, refit_failed=False)  # the evaluation limit: code -1
        assert (m._status == -1).all(), kernel
    np.testing.assert_array_equal(statuses["numba"], statuses["numpy"])
    assert (statuses["numba"] > 0).all()
    # zeros are fitted exactly (every amplitude 0, the offset cancelled by a0), but a
    # peak of amplitude 0 has no centre or width: not determined, code -3, in both
    # kernels (issue 19: success means determined; multifit marks zeros -8)
    for kernel in ("numba", "numpy"):
        m = _model(np.zeros((1, 400)))
        m.axes_manager.indices = (0,)
        m.fit(kernel=kernel)
        assert m.fit_output.status == -3, kernel


class _Line(sf.Component):
    """A user component in HyperSpy's template: only the NumPy path runs it."""

    def __init__(self, k=0.0):
        super().__init__(("k",))
        self.k.value = k

    def function(self, x):
        return self.k.value * np.sin(x / 7)


def test_unsupported_problems_fall_back_or_refuse():
    x, data = _spectra(nav=(2,), seed=7)
    m = _model(data)
    m.append(_Line())
    m.assign_current_values_to_all()
    with pytest.raises(OptimizerError, match="kernel='numba'"):
        m.multifit(kernel="numba")
    m.multifit()  # "auto": the NumPy path
    assert (m._status > 0).all()
    with pytest.raises(OptimizerError, match="`kernel` must be one of"):
        m.multifit(kernel="gpu")


_EXPRESSIONS = [
    ("h * exp(-(x - c) ** 2 / (2 * s ** 2))", dict(h=30.0, c=60.0, s=2.0)),
    ("a * sqrt(x + 1) + b * log(x + 2) - t * tanh(x / 40) + u * arctan(x / 30)", dict(a=0.1, b=0.2, t=0.3, u=0.2)),
    ("k * cos(x / 9) ** 2 + q * erf((x - 50) / w) + abs(v) * x ** 1.5 / 1000", dict(k=0.4, q=0.3, w=10.0, v=0.2)),
    ("A / (1 + ((x - x0) / g) ** 2) + min(x, 100) * 0 + heaviside(x - 10) * z", dict(A=3.0, x0=80.0, g=4.0, z=0.1)),
]


def _expression_model(data):
    s = sf.signals.Signal1D(data)
    s.axes_manager[-1].scale = 100.0 / (data.shape[-1] - 1)
    m = s.create_model()
    for i, (text, values) in enumerate(_EXPRESSIONS):
        m.append(C.Expression(text, name=f"e{i}", **values))
    m.assign_current_values_to_all()
    return m


def test_expression_programs_equal_numpy():
    x, data = _spectra(nav=(4,), seed=9)
    m = _expression_model(data)
    problem = m._problem([(i,) for i in range(4)])
    low = _fused.lower(problem)
    assert low is not None and len(low["ex"][0]) == len(_EXPRESSIONS)
    theta = problem.p0 * np.random.default_rng(2).uniform(0.8, 1.2, problem.p0.shape)
    F, R, G, g, J = _fused.evaluate(problem, theta, low)
    ref_f = problem.evaluate(theta)
    ref_J = problem.jacobian(theta)
    np.testing.assert_allclose(F, ref_f, rtol=1e-12, atol=1e-13 * np.abs(ref_f).max())
    np.testing.assert_allclose(J, ref_J, rtol=1e-11, atol=1e-13 * np.abs(ref_J).max())


def test_expression_fit_equals_numpy_reference():
    rng = np.random.default_rng(10)
    x = np.linspace(0, 100, 500)
    truth = 30 * np.exp(-(x - 60.5) ** 2 / (2 * 2.2**2)) + 0.5 * np.sqrt(x + 1) + 1.0 / (1 + ((x - 80) / 4) ** 2)
    data = truth + rng.normal(0, 0.05, (3, x.size))
    out = {}
    for kernel in ("numba", "numpy"):
        s = sf.signals.Signal1D(data)
        s.axes_manager[-1].scale = x[1] - x[0]
        m = s.create_model()
        m.append(C.Expression("h * exp(-(x - c) ** 2 / (2 * s ** 2))", name="peak", h=25.0, c=60.0, s=2.0))
        m.append(C.Expression("a * sqrt(x + 1)", name="bg", a=0.3))
        m.append(C.Expression("A / (1 + ((x - x0) / g) ** 2)", name="lor", A=1.2, x0=79.0, g=3.0))
        m.assign_current_values_to_all()
        m.multifit(kernel=kernel)
        out[kernel] = (_all_maps(m, "values"), _all_maps(m, "std"), m._status.copy())
    assert (out["numpy"][2] > 0).all() and (out["numba"][2] > 0).all()
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=1e-8)
    np.testing.assert_allclose(out["numba"][1], out["numpy"][1], rtol=1e-8)
    np.testing.assert_allclose(out["numba"][0][:, 0], 60.5, atol=0.05)  # c (parameters sort by name): the truth


def test_bounded_fit_runs_in_the_kernel_and_equals_numpy():
    """Bounds are kept in the kernel as by the NumPy reference: the same maps
    (1e-8) with a bound active at every pixel (the truth's sigma, 3, is outside
    [1, 2.8]) and one inactive (the Lorentzian's gamma, 2, inside [0.5, 5]).
    (With the exponential of ``_model`` as well, the pinned, misfitting
    Gaussian leaves a valley so flat that the two paths stop 1e-5 apart in
    the background parameters — 1e-6 of their standard errors — bounded or
    with sigma fixed alike.)
    """
    rng = np.random.default_rng(8)
    x = np.linspace(0.0, 100.0, 400)
    centre = 40 + rng.uniform(-1, 1, 6)
    truth = (300 * np.exp(-0.5 * ((x - centre[:, None]) / 3.0) ** 2) / (3.0 * np.sqrt(2 * np.pi))
             + 50 * 2.0 / (np.pi * ((x - 70) ** 2 + 4.0)) + 5 + 0.02 * x)
    data = truth + rng.normal(0, 0.3, truth.shape)
    out = {}
    for kernel in ("numba", "numpy"):
        m = sf.signals.Signal1D(data, axes=[{"size": 6}, {"axis": x}]).create_model()
        m.extend([C.Gaussian(A=250, sigma=2.5, centre=40.5), C.Lorentzian(A=45, gamma=2.2, centre=70.3),
                  C.Polynomial(order=1, a0=4, a1=0.01)])
        m[0].sigma.bmin, m[0].sigma.bmax = 1.0, 2.8
        m[1].gamma.bmin, m[1].gamma.bmax = 0.5, 5.0
        m.assign_current_values_to_all()
        assert _fused.lower(m._problem([(0,)]), bounded=True)["bounded"]
        assert not _fused.lower(m._problem([(0,)]), bounded=False)["bounded"]
        m.multifit(kernel=kernel, bounded=True)
        out[kernel] = (_all_maps(m, "values"), m._status.copy(), m.multifit_output.slow_path.data.sum())
    assert (out["numba"][1] > 0).all() and (out["numpy"][1] > 0).all()
    assert out["numba"][2] == 0
    np.testing.assert_array_equal(out["numba"][0][..., 1], 2.8)  # sigma at its upper bound
    assert (out["numba"][0][..., 4] > 1.5).all() and (out["numba"][0][..., 4] < 2.5).all()  # gamma inside
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=1e-8)


# every opcode, on a vector (x-dependent) and on a scalar (parameters only) operand
_VM_CASES = [
    "exp(a) * x + exp(x / 50)", "log(a + x) + log(b)", "sqrt(x) * sqrt(b)", "sin(x / 9) + sin(a)",
    "cos(x / 7) * cos(b)", "tan(x / 300) + tan(a)", "arcsin(x / 200) + arcsin(a)", "arccos(x / 200) * arccos(a)",
    "arctan(x) + arctan(b)", "arctan2(x, b) + arctan2(a, b)", "sinh(x / 60) + sinh(a)", "cosh(x / 60) * cosh(a)",
    "tanh(x / 30) + tanh(b)", "arcsinh(x) + arcsinh(b)", "arccosh(x + 1) + arccosh(b + 1)",
    "arctanh(x / 200) + arctanh(a)", "abs(x - 50) * abs(a - 1)", "sign(x - 50) + sign(a - 1)", "erf(x / 40) + erf(a)",
    "erfc(x / 40) * erfc(a)", "gamma(x / 30 + 1) * a", "loggamma(x / 10 + 1) * a",
    "heaviside(x - 50) + heaviside(a - 1)", "min(x, 60) + max(x, 40) + min(a, b)", "floor(x / 10) * a + ceiling(x) * b",
    "x ** a + b ** 2.5 + (x + 1) ** -2 + 1 / (x + b)",
]


@pytest.mark.parametrize("text", ["gamma(a * x)", "loggamma(x + b)", "floor(a * x)"])
def test_register_machine_refuses_what_it_cannot_run(text):
    """Digamma (the derivative of gamma) has no compiled form here, and sympy
    leaves floor's derivative unevaluated: such Expressions take the NumPy path."""
    x, data = _spectra(nav=(2,), seed=11)
    m = _model(data)
    m.append(C.Expression(text, name="odd"))
    assert _fused.lower(m._problem([(0,), (1,)])) is None


@pytest.mark.parametrize("text", _VM_CASES)
def test_register_machine_equals_sympy(text):
    import sympy

    from swiftfit import _expr
    from swiftfit.engines.numba import expression_vm as vm

    e = C.Expression(text, name="e")
    params = list(e._internal_symbols)
    ins, isvec, consts, outs = vm.lower(e._internal_expr, [g for g in e._grad_exprs], params)
    x = np.linspace(0.5, 99.5, 37)
    values = np.array([0.3, 1.7][:len(params)])  # a, b (names sort alphabetically)
    R = np.full((isvec.size, x.size), np.nan)
    vm.run(ins, isvec, np.array([r for r, _ in consts], dtype=np.int64), np.array([v for _, v in consts]),
           values, x, np.empty(0), 0, x.size, R)
    ref = _expr.lambdify([sympy.Symbol("x", real=True), *params], [e._internal_expr, *e._grad_exprs])(x, *values)
    for out, want in zip(outs, ref):
        got = R[out] if isvec[out] else np.full(x.size, R[out, 0])
        np.testing.assert_allclose(got, np.broadcast_to(want, x.shape), rtol=1e-13, atol=1e-300, equal_nan=True)


def test_powerlaw_demo_model_equals_numpy_reference():
    """The demo's EELS-like model: a power-law background (with a left cut-off
    inside the range) and Gaussian edges' peaks, on the fused path."""
    from swiftfit import demo

    s, _ = demo.make_data((3, 3), 1024)
    out = {}
    for kernel in ("numba", "numpy"):
        m = demo.build_model(s)
        bg = m.components.background
        bg.estimate_parameters(s, 150.0, 250.0, only_current=False)
        bg.left_cutoff.value = 120.0
        bg.left_cutoff.assign_current_value_to_all()
        problem = m._problem([(0, 0), (1, 2)])
        low = _fused.lower(problem)
        assert low is not None
        F, _, _, _, J = _fused.evaluate(problem, problem.p0, low)
        np.testing.assert_allclose(F, problem.evaluate(problem.p0), rtol=1e-12)
        ref_J = problem.jacobian(problem.p0) * problem.weights[:, :, None]  # the demo sets a variance
        np.testing.assert_allclose(J, ref_J, rtol=1e-10, atol=1e-12 * np.abs(J).max())
        m.multifit(kernel=kernel)
        out[kernel] = (_all_maps(m, "values"), _all_maps(m, "std"), m._status.copy())
    assert (out["numpy"][2] > 0).all() and (out["numba"][2] > 0).all()
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=1e-8)
    np.testing.assert_allclose(out["numba"][1], out["numpy"][1], rtol=1e-8)
    m.components.background.left_cutoff.free = True
    assert _fused.lower(m._problem([(0, 0)])) is None  # a free cut-off: the NumPy path


def test_kernel_option_with_other_losses():
    x, data = _spectra(nav=(2,), seed=12)
    m = _model(np.abs(data))
    m.multifit(loss_function="ML-poisson", kernel="numpy")  # the NumPy reference, when asked for
    assert (m._status > 0).all()
    m.append(_Line())  # a component without a compiled form
    m.assign_current_values_to_all()
    with pytest.raises(OptimizerError, match="kernel='numba' cannot run loss_function='huber'"):
        m.multifit(loss_function="huber", kernel="numba")