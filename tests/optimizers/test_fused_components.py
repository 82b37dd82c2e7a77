"""Every built-in 1-D component in the compiled (numba) kernel, as each declares it.

Truths: ``scipy.special.wofz`` for the kernel's Faddeeva function; the NumPy
components (``function``/``gradients``, themselves tested against closed
forms and finite differences) for the kernel's values and Jacobians, to
1e-12 of each column's largest entry; the NumPy Levenberg–Marquardt
(``kernel="numpy"``) for fitted maps, to 1e-8 relative, on seeded simulations.
"""

from __future__ import annotations

import numpy as np
import pytest
from check_problems import assert_kernel_equals_numpy
from scipy import special

import swiftfit as sf
from swiftfit.engines.numba import lower as _fused
from swiftfit.errors import OptimizerError

pytest.importorskip("numba")
C = sf.model.components1D
X = np.linspace(-10.0, 30.0, 300)

# each built-in 1-D component at values where every part of it shows
_COMPONENTS = {
    "Gaussian": lambda: C.Gaussian(A=50, sigma=1.5, centre=10.2),
    "GaussianHF": lambda: C.GaussianHF(height=5, fwhm=3.0, centre=9.5),
    "Lorentzian": lambda: C.Lorentzian(A=20, gamma=1.2, centre=11.0),
    "Offset": lambda: C.Offset(offset=2.5),
    "Polynomial": lambda: C.Polynomial(order=2, a0=1.0, a1=0.2, a2=-0.01),
    "Exponential": lambda: C.Exponential(A=3.0, tau=15.0),
    "PowerLaw": lambda: C.PowerLaw(A=300.0, r=2.5, origin=-12.0, left_cutoff=-11.0),
    "Voigt": lambda: C.Voigt(centre=10, area=50, gamma=0.8, sigma=1.2),
    "SplitVoigt": lambda: C.SplitVoigt(A=40, sigma1=1.5, sigma2=2.5, centre=9.7, fraction=0.3),
    "SkewNormal": lambda: C.SkewNormal(x0=10, A=30, scale=2, shape=3),
    "Doniach": lambda: C.Doniach(centre=10, A=20, sigma=1.3, alpha=0.2),
    "Erf": lambda: C.Erf(A=5, sigma=2, origin=10.3),
    "Arctan": lambda: C.Arctan(A=3, k=0.7, x0=9.8),
    "Logistic": lambda: C.Logistic(a=4, b=1.2, c=0.9, origin=10),
    "HeavisideStep": lambda: C.HeavisideStep(A=2, n=10.05),
    "RC": lambda: C.RC(Vmax=3, V0=1, tau=12),
    "Bleasdale": lambda: C.Bleasdale(a=12, b=1.0, c=1.5),
    "SEE": lambda: C.SEE(A=100, Phi=2.3, B=1.5),
    "VolumePlasmonDrude": lambda: C.VolumePlasmonDrude(intensity=5, plasmon_energy=12, fwhm=4),
    "ScalableFixedPattern": lambda: C.ScalableFixedPattern(
        (np.linspace(-8, 8, 81), np.exp(-np.linspace(-8, 8, 81) ** 2 / 4) * (1 + 0.3 * np.linspace(-8, 8, 81))),
        yscale=3.0, xscale=1.1, shift=-11.0),
    "ScalableFixedPattern (raw)": lambda: C.ScalableFixedPattern(
        (X, np.exp(-(X - 10) ** 2 / 8)), yscale=2.0, interpolate=False),
    "Expression": lambda: C.Expression("h * exp(-(x - c) ** 2 / (2 * s ** 2))", "peak", h=3.0, c=8.0, s=2.0),
}


def _one(comp, nav=2, x=X):
    s = sf.signals.Signal1D(np.ones((nav, x.size)), axes=[{"size": nav}, {"axis": x}])
    m = s.create_model()
    m.append(comp)
    for name in ("n", "left_cutoff"):  # step positions: their derivative is a delta
        if hasattr(comp, name):
            getattr(comp, name).free = False
    m.assign_current_values_to_all()
    return m, m._problem(list(np.ndindex(nav)))


def test_every_builtin_1d_component_declares_a_compiled_form():
    for name in C.__all__:
        form = _fused.declared_form(getattr(C, name))
        assert form[0] in ("kind", "expression"), (name, form)
        assert name in _COMPONENTS


def test_faddeeva_equals_wofz():
    from swiftfit.engines.numba import voigt

    x = np.concatenate([-np.logspace(-3, 3, 200)[::-1], [0.0], np.logspace(-3, 3, 200)])
    y = np.concatenate([[0.0], np.logspace(-6, 3, 100)])
    z = (x[None, :] + 1j * y[:, None]).ravel()
    below = np.conj(z[x.size:])
    below = below[(below.imag > -5) & (np.abs(below.real) < 20)]  # where e^{-z²} stays finite
    z = np.concatenate([z, below])
    ours = np.array([voigt.faddeeva(v) for v in z])
    ref = special.wofz(z)
    rel = np.abs(ours - ref) / np.abs(ref)
    upper = z.imag >= 0
    assert rel[upper].max() < 2e-14
    assert rel[~upper].max() < 1e-12
    shows = (np.abs(ref.real) > 1e-3 * np.abs(ref)) & upper
    assert (np.abs(ours.real - ref.real)[shows] / np.abs(ref.real[shows])).max() < 1e-12


@pytest.mark.parametrize("name", sorted(_COMPONENTS))
def test_compiled_value_and_jacobian_equal_numpy(name):
    m, problem = _one(_COMPONENTS[name]())
    low = _fused.lower(problem)
    assert low is not None, _fused.why_not(problem)
    theta = problem.p0 * np.array([[1.0], [1.03]])
    assert_kernel_equals_numpy(problem, theta, low, label=f"{name} ")


def _simulate(truth_components, starts, nav=6, seed=0, noise=0.05):
    """Data from ``truth_components`` (NumPy evaluation) plus seeded noise; a
    model of ``starts`` (fresh components) on it, values jittered per pixel.
    """
    rng = np.random.default_rng(seed)
    clean = sum(c.function(X) for c in truth_components)
    data = clean[None, :] * rng.uniform(0.9, 1.1, (nav, 1)) + rng.normal(0, noise, (nav, X.size))
    s = sf.signals.Signal1D(data, axes=[{"size": nav}, {"axis": X}])
    m = s.create_model()
    for c in starts():
        if isinstance(c, C.Logistic):
            c.b.free = False  # b and origin are one degree of freedom (b·e^{c·origin})
        m.append(c)
    m.assign_current_values_to_all()
    return m


_PX = np.linspace(-8, 8, 81)
_PATTERN = (_PX, np.exp(-_PX ** 2 / 4) * (1 + 0.3 * _PX) + 0.5 * np.exp(-(_PX - 3) ** 2))
_FITS = {
    "pattern": ([C.ScalableFixedPattern(_PATTERN, yscale=3.0, xscale=1.0, shift=-10.0), C.Offset(offset=1.0)],
                lambda: [C.ScalableFixedPattern(_PATTERN, yscale=2.5, xscale=1.02, shift=-10.3), C.Offset(offset=0.8)]),
    "voigts": ([C.Voigt(centre=6, area=40, gamma=0.6, sigma=0.9), C.Voigt(centre=14, area=25, gamma=1.1, sigma=0.7),
                C.Polynomial(order=1, a0=2.0, a1=0.03)],
               lambda: [C.Voigt(centre=6.3, area=35, gamma=0.5, sigma=1.0),
                        C.Voigt(centre=13.8, area=30, gamma=1.0, sigma=0.8), C.Polynomial(order=1, a0=1.5, a1=0.0)]),
    "steps": ([C.Erf(A=4, sigma=1.5, origin=5.0), C.Arctan(A=1.5, k=0.8, x0=18.0), C.SkewNormal(x0=10, A=20, scale=2, shape=2)],
              lambda: [C.Erf(A=3.5, sigma=1.2, origin=5.3), C.Arctan(A=1.2, k=0.6, x0=17.5),
                       C.SkewNormal(x0=10.3, A=18, scale=2.2, shape=1.5)]),
    "lineshapes": ([C.SplitVoigt(A=30, sigma1=1.2, sigma2=2.0, centre=4.0, fraction=0.3),
                    C.Doniach(centre=16, A=10, sigma=1.0, alpha=0.15), C.Logistic(a=2.0, b=1.0, c=0.7, origin=24)],
                   lambda: [C.SplitVoigt(A=28, sigma1=1.3, sigma2=1.8, centre=4.2, fraction=0.25),
                            C.Doniach(centre=15.8, A=11, sigma=1.1, alpha=0.12),
                            C.Logistic(a=1.8, b=1.0, c=0.6, origin=23.5)]),
}


def _maps(m, field):
    return np.stack([p.map[field] for c in m for p in c.parameters if p.free], -1)


@pytest.mark.parametrize("case", sorted(_FITS))
def test_compiled_fits_equal_numpy(case):
    truth, starts = _FITS[case]
    out = {}
    for kernel in ("numba", "numpy"):
        m = _simulate(truth, starts, seed=len(case))
        m.multifit(kernel=kernel)
        out[kernel] = (_maps(m, "values"), _maps(m, "std"), m._status.copy(), m.multifit_output)
    assert (out["numpy"][2] > 0).all() and (out["numba"][2] > 0).all()
    assert int(out["numba"][3].slow_path.data.sum()) == 0
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=1e-8)
    np.testing.assert_allclose(out["numba"][1], out["numpy"][1], rtol=1e-6)


def test_a_subclass_that_changes_the_maths_is_refused_not_misevaluated():
    class Shifted(C.Gaussian):  # overrides function without re-declaring
        @staticmethod
        def function(x, A, sigma, centre):
            return C.Gaussian.function(x, A, sigma, centre) + 1.0

    class Renamed(C.Gaussian):  # keeps the maths: keeps the compiled form
        pass

    class Declared(Shifted):  # re-declares: its author says how it compiles
        compiled_expression = "A * exp(-(x - centre) ** 2 / (2 * sigma ** 2)) / (sigma * sqrt(2 * pi)) + 1"

    for cls, compiled in ((Shifted, False), (Renamed, True), (Declared, True)):
        m, problem = _one(cls(A=5, sigma=2, centre=10))
        why = _fused.why_not(problem)
        assert (why is None) == compiled, (cls, why)
        if not compiled:
            assert "Shifted defines function without declaring its compiled form" in why
            with pytest.raises(OptimizerError, match="Shifted defines function"):
                m.multifit(kernel="numba")
        else:
            low = _fused.lower(problem)
            theta = problem.p0
            np.testing.assert_allclose(_fused.evaluate(problem, theta, low)[0], problem.evaluate(theta),
                                       rtol=0, atol=1e-12 * np.abs(problem.evaluate(theta)).max())


def test_free_step_position_is_refused_with_its_reason():
    comp = C.HeavisideStep(A=2, n=10.05)
    s = sf.signals.Signal1D(np.ones((2, X.size)), axes=[{"size": 2}, {"axis": X}])
    m = s.create_model()
    m.append(comp)
    m.assign_current_values_to_all()
    why = _fused.why_not(m._problem([(0,), (1,)]))
    assert why is not None and "step position" in why


def _tied_model(data, x):
    m = sf.signals.Signal1D(data, axes=[{"size": data.shape[0]}, {"axis": x}]).create_model()
    g1 = C.Gaussian(A=250, sigma=2.5, centre=40.5)
    g1.name = "one"
    g2 = C.Gaussian(A=120, sigma=3.0, centre=52.0)
    g2.name = "two"
    g3 = C.Gaussian(A=50, sigma=2.2, centre=74.0)
    m.extend([g1, g2, g3, C.Polynomial(order=1, a0=4, a1=0.01)])
    g2.sigma.twin_function_expr = "1.5 * x"  # a twin through a function
    g2.sigma.twin = g1.sigma
    g2.centre.expr = "one.centre + 12"  # expr ties
    g2.A.expr = "one.A / 2"
    g3.sigma.expr = "sqrt(two.sigma * one.sigma) / 2.45"  # a tie of a tie (and of a twin)
    m.assign_current_values_to_all()
    return m


def test_ties_run_in_the_kernel_and_equal_numpy():
    """Twins through a function and ``expr`` ties (one through another) in the
    kernel: model and Jacobian = NumPy's to 1e-12, fitted maps to 1e-8, no
    pixel on the slow path. Truth: the ties hold exactly in the simulation.
    """
    rng = np.random.default_rng(3)
    x = np.linspace(0, 100, 400)
    c = 40 + rng.uniform(-1, 1, 6)
    s3 = np.sqrt(4.5 * 3.0) / 2.45

    def g(A, s, mu):
        return A * np.exp(-0.5 * ((x - mu) / s) ** 2) / (s * np.sqrt(2 * np.pi))

    truth = g(300, 3.0, c[:, None]) + g(150, 4.5, c[:, None] + 12) + g(60, s3, 75.0) + 5 + 0.02 * x
    data = truth + rng.normal(0, 0.3, truth.shape)
    m = _tied_model(data, x)
    problem = m._problem(list(np.ndindex(6)))
    low = _fused.lower(problem)
    assert low is not None, _fused.why_not(problem)
    assert low["ex"][7].shape[0] == 4  # four tied parameters, each with its own row
    theta = problem.p0 * rng.uniform(0.95, 1.05, problem.p0.shape)
    F, _, _, _, J = _fused.evaluate(problem, theta, low)
    ref_f, ref_J = problem.evaluate(theta), problem.jacobian(theta)
    np.testing.assert_allclose(F, ref_f, rtol=0, atol=1e-12 * np.abs(ref_f).max())
    for j in range(ref_J.shape[-1]):
        np.testing.assert_allclose(J[..., j], ref_J[..., j], rtol=0, atol=1e-12 * np.abs(ref_J[..., j]).max())
    out = {}
    for kernel in ("numba", "numpy"):
        m = _tied_model(data, x)
        m.multifit(kernel=kernel)
        values = np.stack([p.map["values"] for comp in m for p in comp.parameters], -1)
        out[kernel] = values, m._status.copy(), int(m.multifit_output.slow_path.data.sum())
    assert (out["numba"][1] > 0).all() and (out["numpy"][1] > 0).all()
    assert out["numba"][2] == 0
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=1e-8)
    np.testing.assert_allclose(out["numba"][0][:, 1], 3.0, rtol=0.05)  # one.sigma, near the truth


def test_a_tie_the_machine_cannot_run_is_refused_with_its_reason():
    x = np.linspace(0, 100, 50)
    m = sf.signals.Signal1D(np.ones((2, 50)), axes=[{"size": 2}, {"axis": x}]).create_model()
    g1, g2 = C.Gaussian(), C.Gaussian()
    g1.name, g2.name = "one", "two"
    m.extend([g1, g2])
    g2.A.expr = "loggamma(one.A)"  # its derivative, polygamma, is not run by the register machine
    m.assign_current_values_to_all()
    why = _fused.why_not(m._problem([(0,), (1,)]))
    assert why is not None and "tie" in why


@pytest.mark.parametrize("loss", ["ML-poisson", "huber"])
def test_poisson_and_huber_losses_run_in_the_kernel_and_equal_numpy(loss):
    """The compiled damped Gauss–Newton on the loss = the NumPy reference
    (``damped_newton``): maps to 1e-8 on Poisson counts (with outliers for
    Huber), no slow-path pixel; and the truth is recovered.
    """
    rng = np.random.default_rng(21)
    c = 10 + rng.uniform(-0.5, 0.5, 6)
    lam = 40 * np.exp(-0.5 * ((X - c[:, None]) / 1.5) ** 2) + 5.0
    data = rng.poisson(lam).astype(float)
    if loss == "huber":
        data[:, ::37] += 60.0  # outliers the loss is robust to
    out = {}
    for kernel in ("numba", "numpy"):
        m = sf.signals.Signal1D(data, axes=[{"size": 6}, {"axis": X}]).create_model()
        m.extend([C.GaussianHF(height=30, fwhm=4.0, centre=10.5), C.Offset(offset=4.0)])
        m.assign_current_values_to_all()
        m.multifit(loss_function=loss, kernel=kernel, **({"huber_delta": 3.0} if loss == "huber" else {}))
        values = np.stack([p.map["values"] for comp in m for p in comp.parameters], -1)
        out[kernel] = values, m._status.copy(), int(m.multifit_output.slow_path.data.sum())
    assert (out["numba"][1] > 0).all() and (out["numpy"][1] > 0).all()
    assert out["numba"][2] == 0 and out["numpy"][2] == 6  # the control: the reference counts as slow
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=1e-8)
    np.testing.assert_allclose(out["numba"][0][:, 2], c, atol=0.3)  # the centres
