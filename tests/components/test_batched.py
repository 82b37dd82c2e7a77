"""Batched evaluation equals pixel-by-pixel evaluation, for every 1-D component.

For each built-in component, parameter values are drawn (seeded) for a 5 x 7
navigation grid and passed as (35, 1) arrays. ``_function_nd`` and
``_gradients_nd`` on the whole batch must equal, row by row, the same calls
made with one pixel at a time (B = 1) -- to 1e-14 relative to the row's
largest magnitude (in practice the results are bit-identical). Outputs must be
(B, N) float arrays, gradients with None kept as None, and the input arrays
must not be modified.
"""

from __future__ import annotations

import numpy as np
import pytest

from swiftfit.components import components1d as c1d

_PX = np.linspace(-20.0, 20.0, 401)
_PY = np.exp(-0.5 * ((_PX - 1.0) / 1.5) ** 2) + 0.3 * np.exp(-0.5 * ((_PX + 4.0) / 3.0) ** 2)

# name -> (factory, {parameter: (low, high)}, x)
CASES = {
    "Arctan": (c1d.Arctan, {"A": (-5, 5), "k": (-3, 3), "x0": (-2, 2)}, np.linspace(-10, 10, 101)),
    "Bleasdale": (c1d.Bleasdale, {"a": (-1, 3), "b": (-2, 2), "c": (0.5, 3)}, np.linspace(0, 10, 101)),
    "Doniach": (
        c1d.Doniach,
        {"A": (0.1, 10), "alpha": (0.05, 0.6), "centre": (-2, 2), "sigma": (0.5, 3)},
        np.linspace(-15, 15, 101),
    ),
    "Erf": (c1d.Erf, {"A": (-5, 5), "origin": (-2, 2), "sigma": (0.3, 3)}, np.linspace(-10, 10, 101)),
    "Exponential": (c1d.Exponential, {"A": (0.1, 10), "tau": (0.5, 5)}, np.linspace(0, 10, 101)),
    "Gaussian": (c1d.Gaussian, {"A": (0.1, 100), "centre": (-2, 2), "sigma": (0.3, 3)}, np.linspace(-10, 10, 101)),
    "GaussianHF": (
        c1d.GaussianHF,
        {"centre": (-2, 2), "fwhm": (0.5, 5), "height": (0.1, 100)},
        np.linspace(-10, 10, 101),
    ),
    "HeavisideStep": (c1d.HeavisideStep, {"A": (-5, 5), "n": (-2, 2)}, np.linspace(-10, 10, 101)),
    "Logistic": (
        c1d.Logistic,
        {"a": (-5, 5), "b": (0.1, 5), "c": (-3, 3), "origin": (-2, 2)},
        np.linspace(-10, 10, 101),
    ),
    "Lorentzian": (c1d.Lorentzian, {"A": (0.1, 100), "centre": (-2, 2), "gamma": (0.3, 3)}, np.linspace(-10, 10, 101)),
    "Offset": (c1d.Offset, {"offset": (-10, 10)}, np.linspace(-10, 10, 101)),
    "Polynomial": (
        lambda: c1d.Polynomial(order=3),
        {"a0": (-3, 3), "a1": (-3, 3), "a2": (-3, 3), "a3": (-3, 3)},
        np.linspace(-3, 3, 101),
    ),
    "PowerLaw": (
        c1d.PowerLaw,
        {"A": (0.1, 100), "left_cutoff": (0, 3), "origin": (-0.5, 0.5), "r": (1, 5)},
        np.linspace(-1, 20, 101),
    ),
    "RC": (c1d.RC, {"V0": (-5, 5), "Vmax": (-5, 5), "tau": (0.5, 5)}, np.linspace(0, 10, 101)),
    "ScalableFixedPattern": (
        lambda: c1d.ScalableFixedPattern((_PX, _PY)),
        {"yscale": (0.1, 10), "xscale": (0.8, 1.2), "shift": (-2, 2)},
        np.linspace(-30, 30, 121),
    ),
    "SEE": (c1d.SEE, {"A": (0.1, 100), "B": (0.1, 3), "Phi": (0, 2)}, np.linspace(0, 10, 101)),
    "SkewNormal": (
        c1d.SkewNormal,
        {"A": (0.1, 10), "scale": (0.3, 3), "shape": (-5, 5), "x0": (-2, 2)},
        np.linspace(-10, 10, 101),
    ),
    "SplitVoigt": (
        c1d.SplitVoigt,
        {"A": (0.1, 10), "sigma1": (0.3, 3), "sigma2": (0.3, 3), "centre": (-2, 2), "fraction": (0, 1)},
        np.linspace(-10, 10, 101),
    ),
    "Voigt": (
        c1d.Voigt,
        {"area": (0.1, 10), "centre": (-2, 2), "gamma": (0, 2), "sigma": (0.3, 2)},
        np.linspace(-10, 10, 101),
    ),
    "VolumePlasmonDrude": (
        c1d.VolumePlasmonDrude,
        {"intensity": (0.1, 100), "plasmon_energy": (5, 25), "fwhm": (0.5, 5)},
        np.linspace(-1, 40, 101),
    ),
}

NAV_SHAPE = (5, 7)
B = 35


def _draw(comp, ranges, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(*ranges[p.name], size=NAV_SHAPE).reshape(B, 1) for p in comp.parameters]


def _close(batched_row, single_row):
    batched_row = np.asarray(batched_row, dtype=float)
    single_row = np.asarray(single_row, dtype=float)
    scale = max(np.max(np.abs(single_row)), np.finfo(float).tiny)
    return np.all(np.abs(batched_row - single_row) <= 1e-14 * scale)


def test_every_component_is_covered():
    assert {n for n in c1d.__all__ if n != "Expression"} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_function_nd_matches_pixel_by_pixel(name):
    factory, ranges, x = CASES[name]
    comp = factory()
    values = _draw(comp, ranges, seed=sorted(CASES).index(name))
    saved = [v.copy() for v in values]
    x_saved = x.copy()
    out = comp._function_nd((x,), values)
    assert out.shape == (B, x.size)
    assert np.asarray(out).dtype.kind == "f"
    assert np.all(np.isfinite(out))
    for b in range(B):
        single = comp._function_nd((x,), [v[b : b + 1] for v in values])
        assert single.shape == (1, x.size)
        assert _close(out[b], single[0]), f"{name}: pixel {b} differs"
    assert all(np.array_equal(v, s) for v, s in zip(values, saved)), "inputs were modified"
    assert np.array_equal(x, x_saved)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_nd_matches_pixel_by_pixel(name):
    factory, ranges, x = CASES[name]
    comp = factory()
    values = _draw(comp, ranges, seed=100 + sorted(CASES).index(name))
    saved = [v.copy() for v in values]
    grads = comp._gradients_nd((x,), values)
    assert len(grads) == len(comp.parameters)
    singles = [comp._gradients_nd((x,), [v[b : b + 1] for v in values]) for b in range(B)]
    for k, p in enumerate(comp.parameters):
        if grads[k] is None:
            assert all(s[k] is None for s in singles)
            continue
        g = np.asarray(grads[k])
        assert g.shape == (B, x.size), f"{name}.{p.name}: shape {g.shape}"
        assert g.dtype.kind == "f"
        assert np.all(np.isfinite(g)), f"{name}.{p.name}: non-finite gradient"
        for b in range(B):
            assert _close(g[b], np.asarray(singles[b][k])[0]), f"{name}.{p.name}: pixel {b} differs"
    assert all(np.array_equal(v, s) for v, s in zip(values, saved)), "inputs were modified"


@pytest.mark.parametrize("name", sorted(CASES))
def test_instance_function_uses_current_values(name):
    """``comp.function(x)`` at the current values is row 0 of ``_function_nd``."""
    factory, ranges, x = CASES[name]
    comp = factory()
    values = _draw(comp, ranges, seed=200)
    for p, v in zip(comp.parameters, values):
        p.value = float(v[0, 0])
    expected = comp._function_nd((x,), [v[:1] for v in values])[0]
    np.testing.assert_array_equal(np.broadcast_to(comp.function(x), x.shape), expected)
