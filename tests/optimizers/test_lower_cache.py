"""The kernel tables kept per model structure between multifit calls
(swiftfit.engines.numba.lower_cache): a change of structure between two calls
is lowered afresh, and the maps are the same with and without the cache.

Truth: the same fit with the cache off (every call lowered from scratch), to
the bit — the cache only skips recomputing arrays that are equal.
"""

import numpy as np
import pytest

import swiftfit as sf

pytest.importorskip("numba")
from swiftfit.engines.numba import lower_cache  # noqa: E402

FORMULA = "A1*exp(-x/t1) + A2*exp(-x/t2) + c"


def _data(B=6, N=120):
    rng = np.random.default_rng(7)
    x = np.linspace(0.0, 200.0, N)
    t1 = rng.uniform(8, 12, (B, 1))
    t2 = rng.uniform(50, 70, (B, 1))
    return rng.poisson(2000 * np.exp(-x / t1) + 500 * np.exp(-x / t2) + 20.0).astype(float), x[1] - x[0]


def _model(data, scale):
    s = sf.signals.Signal1D(data)
    s.axes_manager[-1].scale = scale
    m = s.create_model()
    e = sf.model.components1D.Expression(FORMULA, name="decay", A1=1500.0, t1=13.0, A2=700.0, t2=45.0, c=10.0)
    e.c.free = False  # so that freeing it while fixing t2 keeps P (see _fix)
    m.append(e)
    m.assign_current_values_to_all()
    return m, e


def _maps(m):
    return np.concatenate([p.map["values"].ravel() for c in m for p in c.parameters])


def _restart(m):
    for c in m:
        for p in c.parameters:
            p.map["values"][:] = {"A1": 1500.0, "t1": 13.0, "A2": 700.0, "t2": 45.0, "c": 10.0,
                                  "offset": 0.0}.get(p.name, p.value)


# each change: (what it does to the expression component / model, its multifit options)
def _fix(m, e):
    e.t2.free = False  # and c freed: the same number of free parameters, other columns
    e.c.free = True
    return {}


def _twin(m, e):
    e.A2.twin = e.A1
    return {}


def _twin_scaled(m, e):
    e.A2.twin = e.A1
    e.A2.twin_function_expr = "0.5*x"  # not the identity: a register program
    return {}


def _twin_of_fixed(m, e):
    e.t1.free = False  # the identity twin of a fixed parameter reads its values (lower copies them)
    e.t2.twin = e.t1
    return {}


def _expr_tie(m, e):
    e.t2.expr = "4*t1 + 3"
    return {}


def _new_component(m, e):
    m.append(sf.model.components1D.Offset())
    return {}


def _bounds(m, e):
    e.t1.bmin, e.t1.bmax = 12.5, 14.0
    return {"bounded": True}


@pytest.mark.parametrize("change", [_fix, _twin, _twin_scaled, _twin_of_fixed, _expr_tie, _new_component, _bounds])
def test_a_change_of_structure_between_two_calls_is_not_served_stale(change):
    data, scale = _data()
    lower_cache.ENABLED = True
    try:
        lower_cache.clear()
        m, e = _model(data, scale)
        m.multifit()
        m.multifit()
        assert lower_cache.stats()["hits"] >= 1  # the second call was served from the cache
        _restart(m)
        options = change(m, e)
        m.assign_current_values_to_all()
        m.multifit(**options)
        got = _maps(m)
        t1 = e.t1.map["values"].copy()
        t2 = e.t2.map["values"].copy()
        a1, a2 = e.A1.map["values"].copy(), e.A2.map["values"].copy()

        lower_cache.ENABLED = False
        m2, e2 = _model(data, scale)
        change(m2, e2)
        m2.assign_current_values_to_all()
        m2.multifit(**options)
        np.testing.assert_array_equal(got, _maps(m2))
    finally:
        lower_cache.ENABLED = True
    # and the change took effect
    if change is _fix:
        np.testing.assert_array_equal(t2, 45.0)
    elif change is _twin:
        np.testing.assert_array_equal(a1, a2)
    elif change is _twin_scaled:
        np.testing.assert_allclose(a2, 0.5 * a1, rtol=1e-15)
    elif change is _twin_of_fixed:
        np.testing.assert_array_equal(t1, 13.0)
        np.testing.assert_array_equal(t2, 13.0)
    elif change is _expr_tie:
        np.testing.assert_allclose(t2, 4 * t1 + 3, rtol=1e-15)
    elif change is _bounds:
        assert ((t1 >= 12.5) & (t1 <= 14.0)).all()
        assert (np.abs(t1 - 10) > 2).all()  # the truths (8-12) lie outside: the bound holds the fit
    else:
        assert len(m) == 2 and np.isfinite(_maps(m)).all()


def test_equal_maps_with_and_without_the_cache():
    data, scale = _data()
    out = {}
    try:
        for on in (True, False):
            lower_cache.ENABLED = on
            lower_cache.clear()
            m, _ = _model(data, scale)
            for _ in range(3):  # the second and third call from the cache when on
                _restart(m)
                m.assign_current_values_to_all()
                m.multifit()
            out[on] = (_maps(m), np.asarray(m.multifit_output.nfev.data).copy())
            assert lower_cache.stats()["hits"] == (2 if on else 0)
    finally:
        lower_cache.ENABLED = True
    np.testing.assert_array_equal(out[True][0], out[False][0])
    np.testing.assert_array_equal(out[True][1], out[False][1])


def test_another_signal_axis_is_another_structure():
    data, scale = _data()
    lower_cache.clear()
    m, e = _model(data, scale)
    m.multifit()
    m2, e2 = _model(data, scale * 2)  # the same model on another axis: other coordinates
    m2.multifit()
    assert lower_cache.stats() == {"hits": 0, "misses": 2, "size": 2}
    # twice the axis scale: twice the lifetimes, to the fit's precision
    np.testing.assert_allclose(e2.t1.map["values"], 2 * e.t1.map["values"], rtol=1e-6)


@pytest.mark.parametrize("tie", [_twin, _twin_scaled, _twin_of_fixed, _expr_tie])
def test_tied_structures_are_kept_and_give_the_maps_of_no_cache(tie):
    """Ties are part of the key: the second and third calls are served from the
    cache, with the same maps and evaluation counts as lowering every call."""
    data, scale = _data()
    out = {}
    try:
        for on in (True, False):
            lower_cache.ENABLED = on
            lower_cache.clear()
            m, e = _model(data, scale)
            tie(m, e)
            for _ in range(3):
                _restart(m)
                m.assign_current_values_to_all()
                m.multifit()
            out[on] = (_maps(m), np.asarray(m.multifit_output.nfev.data).copy(),
                       np.concatenate([p.map["std"].ravel() for c in m for p in c.parameters]))
            assert lower_cache.stats()["hits"] == (2 if on else 0)
    finally:
        lower_cache.ENABLED = True
    for a, b in zip(out[True], out[False]):
        np.testing.assert_array_equal(a, b)
