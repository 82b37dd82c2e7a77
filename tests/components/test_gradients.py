"""Analytic gradients of every built-in 1-D component against finite differences.

What is checked (property test, hypothesis, derandomised, 50 draws per
component): for parameter values drawn from the ranges below and an x grid
that stays away from the component's singular points (steps, cut-offs, the
kink of SplitVoigt's second derivative at its centre), every analytic
gradient ``a(x)`` returned by ``Component.gradients`` satisfies

    |a(x) - fd(x)| <= 1e-6 * max(|fd(x)|, scale)

where ``fd`` is a central difference with step ``h = 2e-4 * max(1, |p|)``
improved by one Richardson extrapolation ``(4 D(h/2) - D(h)) / 3`` (error
O(h^4), about 1e-10 relative here), and ``scale`` is the largest ``|fd|``
over the grid (so zero crossings of the gradient do not fail spuriously),
plus the rounding floor of the difference itself, ``16 eps max|f| / h``
(which only matters when a gradient is far below ``f / p``, e.g. a
logistic growth rate of 1e-263).
The finite differences are themselves computed through the batched
``function`` (one call with the four shifted values as a (4, 1) batch).

Gradients that are None (no closed form) are skipped here, and a separate
test pins exactly which they are: HeavisideStep.n and PowerLaw.left_cutoff.
A last test evaluates every component at its special points (x equal to a
centre, origin, step or cut-off, x = 0, a + b x = 0) and checks that its
gradients are finite wherever its value is.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swiftfit.components import components1d as c1d

_PATTERN_X = np.linspace(-20.0, 20.0, 401)
_PATTERN_Y = (
    np.exp(-0.5 * ((_PATTERN_X - 1.0) / 1.5) ** 2)
    + 0.4 * np.exp(-0.5 * ((_PATTERN_X + 3.0) / 2.5) ** 2)
    + 0.05
)


def _pattern():
    return c1d.ScalableFixedPattern((_PATTERN_X, _PATTERN_Y))


def _grid(lo, hi, n=241):
    return np.linspace(lo, hi, n)


# name -> (factory, {parameter: (low, high)}, x grid, points to avoid(values) -> [(point, margin)])
CASES = {
    "Arctan": (c1d.Arctan, {"A": (-5, 5), "k": (-3, 3), "x0": (-2, 2)}, _grid(-10, 10), None),
    "Bleasdale": (c1d.Bleasdale, {"a": (0.5, 3), "b": (0.1, 2), "c": (0.5, 3)}, _grid(0, 10), None),
    "Doniach": (
        c1d.Doniach,
        {"A": (0.1, 10), "alpha": (0.05, 0.6), "centre": (-2, 2), "sigma": (0.5, 3)},
        _grid(-15, 15),
        None,
    ),
    "Erf": (c1d.Erf, {"A": (-5, 5), "origin": (-2, 2), "sigma": (0.3, 3)}, _grid(-10, 10), None),
    "Exponential": (c1d.Exponential, {"A": (0.1, 10), "tau": (0.5, 5)}, _grid(0, 10), None),
    "Gaussian": (c1d.Gaussian, {"A": (0.1, 100), "centre": (-2, 2), "sigma": (0.3, 3)}, _grid(-10, 10), None),
    "GaussianHF": (
        c1d.GaussianHF,
        {"centre": (-2, 2), "fwhm": (0.5, 5), "height": (0.1, 100)},
        _grid(-10, 10),
        None,
    ),
    "HeavisideStep": (
        c1d.HeavisideStep,
        {"A": (-5, 5), "n": (-2, 2)},
        _grid(-10, 10),
        lambda v: [(v["n"], 0.05)],
    ),
    "Logistic": (
        c1d.Logistic,
        {"a": (-5, 5), "b": (0.1, 5), "c": (-3, 3), "origin": (-2, 2)},
        _grid(-10, 10),
        None,
    ),
    "Lorentzian": (c1d.Lorentzian, {"A": (0.1, 100), "centre": (-2, 2), "gamma": (0.3, 3)}, _grid(-10, 10), None),
    "Offset": (c1d.Offset, {"offset": (-10, 10)}, _grid(-10, 10), None),
    "Polynomial": (
        lambda: c1d.Polynomial(order=3),
        {"a0": (-3, 3), "a1": (-3, 3), "a2": (-3, 3), "a3": (-3, 3)},
        _grid(-3, 3),
        None,
    ),
    "PowerLaw": (
        c1d.PowerLaw,
        {"A": (0.1, 100), "left_cutoff": (-1, 0.5), "origin": (-0.5, 0.5), "r": (1, 5)},
        _grid(1, 20),
        None,
    ),
    "RC": (c1d.RC, {"V0": (-5, 5), "Vmax": (-5, 5), "tau": (0.5, 5)}, _grid(0, 10), None),
    "ScalableFixedPattern": (
        _pattern,
        {"yscale": (0.1, 10), "xscale": (0.8, 1.2), "shift": (-2, 2)},
        _grid(-5, 5),
        None,
    ),
    "SEE": (
        c1d.SEE,
        {"A": (0.1, 100), "B": (0, 3), "Phi": (0, 2)},
        _grid(0, 10),
        lambda v: [(v["Phi"], 0.3)],
    ),
    "SkewNormal": (
        c1d.SkewNormal,
        {"A": (0.1, 10), "scale": (0.3, 3), "shape": (-5, 5), "x0": (-2, 2)},
        _grid(-10, 10),
        None,
    ),
    "SplitVoigt": (
        c1d.SplitVoigt,
        {"A": (0.1, 10), "sigma1": (0.3, 3), "sigma2": (0.3, 3), "centre": (-2, 2), "fraction": (0, 1)},
        _grid(-10, 10),
        lambda v: [(v["centre"], 0.01)],
    ),
    "Voigt": (
        c1d.Voigt,
        {"area": (0.1, 10), "centre": (-2, 2), "gamma": (0, 2), "sigma": (0.3, 2)},
        _grid(-10, 10),
        None,
    ),
    "VolumePlasmonDrude": (
        c1d.VolumePlasmonDrude,
        {"intensity": (0.1, 100), "plasmon_energy": (5, 25), "fwhm": (0.5, 5)},
        _grid(0.5, 40, 400),
        None,
    ),
}

EXPECTED_NONE = {("HeavisideStep", "n"), ("PowerLaw", "left_cutoff")}


def _batched_function(comp, x, values):
    """Evaluate ``comp`` for a batch: ``values`` one (B, 1) array per parameter."""
    return np.asarray(comp._function_nd((x,), values), dtype=float)


def _analytic(comp, x, values):
    return comp._gradients_nd((x,), values)


def _richardson(comp, x, values, k):
    """Central difference in parameter ``k`` with one Richardson step."""
    p = float(values[k][0, 0])
    h = 2e-4 * max(1.0, abs(p))
    offsets = np.array([h, -h, h / 2, -h / 2])
    shifted = [np.repeat(v, 4, axis=0) for v in values]
    shifted[k] = p + offsets[:, None]
    f = _batched_function(comp, x, shifted)
    d1 = (f[0] - f[1]) / (2 * h)
    d2 = (f[2] - f[3]) / h
    return (4.0 * d2 - d1) / 3.0


def _fd_noise(comp, x, values, k):
    """Rounding floor of the extrapolated difference: ~3 eps max|f| / h (x 5)."""
    h = 2e-4 * max(1.0, abs(float(values[k][0, 0])))
    return 16 * np.finfo(float).eps * np.max(np.abs(_batched_function(comp, x, values))) / h


def _grid_for(case, values):
    _, _, x, avoid = case
    if avoid is None:
        return x
    keep = np.ones(x.shape, bool)
    for point, margin in avoid(values):
        keep &= np.abs(x - point) > margin
    return x[keep]


@pytest.mark.parametrize("name", sorted(CASES))
@settings(derandomize=True, max_examples=50, deadline=None, database=None)
@given(data=st.data())
def test_analytic_gradients_match_finite_differences(name, data):
    case = CASES[name]
    factory, ranges, _, _ = case
    comp = factory()
    drawn = {
        p: data.draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False), label=p)
        for p, (lo, hi) in ranges.items()
    }
    names = [p.name for p in comp.parameters]
    assert set(names) == set(ranges), f"{name}: test ranges do not cover {names}"
    values = [np.array([[drawn[p]]]) for p in names]
    x = _grid_for(case, drawn)
    grads = _analytic(comp, x, values)
    assert len(grads) == len(names)
    for k, pname in enumerate(names):
        if grads[k] is None:
            continue
        a = np.asarray(grads[k], dtype=float)[0]
        fd = _richardson(comp, x, values, k)
        assert np.all(np.isfinite(a)), f"{name}.{pname}: non-finite gradient"
        scale = np.max(np.abs(fd))
        err = np.abs(a - fd)
        # 1e-300: an absolute floor so subnormal draws (k = 5e-324) do not count as errors
        bound = 1e-6 * np.maximum(np.abs(fd), scale) + _fd_noise(comp, x, values, k) + 1e-300
        worst = int(np.argmax(err - bound))
        assert np.all(err <= bound), (
            f"{name}.{pname} at {drawn}: analytic {a[worst]!r} vs FD {fd[worst]!r} "
            f"at x={x[worst]!r} (scale {scale:.3g})"
        )


def test_exactly_the_step_positions_have_no_closed_form_gradient():
    found = set()
    for name, (factory, ranges, x, _) in CASES.items():
        comp = factory()
        values = [np.array([[0.5 * (ranges[p.name][0] + ranges[p.name][1])]]) for p in comp.parameters]
        for p, g in zip(comp.parameters, _analytic(comp, x, values)):
            if g is None:
                found.add((name, p.name))
            else:
                assert np.asarray(g).dtype.kind == "f", f"{name}.{p.name}: gradient dtype {np.asarray(g).dtype}"
    assert found == EXPECTED_NONE
    # the static gradients say the same thing
    assert c1d.HeavisideStep.gradients(np.zeros(3), 1.0, 0.0)[1] is None
    assert c1d.PowerLaw.gradients(np.ones(3), A=1.0, r=3.0, origin=0.0, left_cutoff=0.0)[3] is None


def test_every_component_is_covered():
    public = {n for n in c1d.__all__ if n != "Expression"}
    assert public == set(CASES)


_SPECIAL = {
    "Arctan": dict(A=2.0, k=1.5, x0=0.5),
    "Bleasdale": dict(a=1.0, b=2.0, c=1.5),
    "Doniach": dict(A=1.0, alpha=0.3, centre=0.5, sigma=1.0),
    "Erf": dict(A=1.0, origin=0.5, sigma=1.0),
    "Exponential": dict(A=1.0, tau=2.0),
    "Gaussian": dict(A=1.0, centre=0.5, sigma=1.0),
    "GaussianHF": dict(centre=0.5, fwhm=1.0, height=1.0),
    "HeavisideStep": dict(A=1.0, n=0.5),
    "Logistic": dict(a=1.0, b=2.0, c=1.0, origin=0.5),
    "Lorentzian": dict(A=1.0, centre=0.5, gamma=1.0),
    "Offset": dict(offset=1.0),
    "Polynomial": dict(a0=1.0, a1=-1.0, a2=0.5, a3=0.1),
    "PowerLaw": dict(A=10.0, left_cutoff=0.25, origin=0.5, r=3.0),
    "RC": dict(V0=0.0, Vmax=1.0, tau=1.0),
    "ScalableFixedPattern": dict(yscale=1.0, xscale=1.0, shift=0.5),
    "SEE": dict(A=1.0, B=0.0, Phi=0.5),
    "SkewNormal": dict(A=1.0, scale=1.0, shape=2.0, x0=0.5),
    "SplitVoigt": dict(A=1.0, sigma1=0.5, sigma2=2.0, centre=0.5, fraction=0.3),
    "Voigt": dict(area=1.0, centre=0.5, gamma=0.0, sigma=1.0),
    "VolumePlasmonDrude": dict(intensity=1.0, plasmon_energy=0.5, fwhm=1.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_finite_where_function_is_finite_at_special_points(name):
    factory = CASES[name][0]
    comp = factory()
    vals = _SPECIAL[name]
    special = [0.0, 0.5, 0.25, -0.5, -1.0]  # centres/origins/steps are at 0.5; -a/b = -0.5 for Bleasdale
    x = np.unique(np.concatenate([np.linspace(-3, 3, 61), special]))
    values = [np.array([[vals[p.name]]]) for p in comp.parameters]
    with np.errstate(divide="raise", over="raise", invalid="raise"):
        f = _batched_function(comp, x, values)[0]
        grads = _analytic(comp, x, values)
    finite = np.isfinite(f)
    assert finite.all(), f"{name}: non-finite value at x={x[~finite]}"
    for p, g in zip(comp.parameters, grads):
        if g is not None:
            g = np.asarray(g, dtype=float)[0]
            assert np.all(np.isfinite(g[finite])), f"{name}.{p.name}: non-finite gradient at {x[~np.isfinite(g)]}"
