"""Stop 28 (pyc5)'s shortcuts around the kernel, each against the code it
replaces (kept here verbatim as the truth), bit for bit: ``PixelChunk.every``
against ``np.nonzero`` of an all-True mask, the lowering cache's array keys
against ``np.asarray``'s bytes, ``_relevant``/``_reach_counts`` with the
caller's ``active.all()`` and the kept union row, ``log_likelihood_from_chisq``
as its formula, the verification's compiled verdict tried first; and a
model changed between two multifits (frozen, twinned, bounds, a component
added or removed, the axis rescaled) against a fresh model built that way,
so every per-structure memo is shown to follow the change.
"""

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import lower as lower_mod
from swiftfit.engines.numba.lower_cache import _array_key
from swiftfit.losses import LeastSquares
from swiftfit.problem.pixels import PixelChunk
from swiftfit.problem.solution import Status
from swiftfit.problem.verify import verify


@pytest.mark.parametrize("nav", [(1,), (7,), (3, 4), (2, 3, 2), (0,), (4, 0)])
def test_pixel_chunk_every_is_the_nonzero_chunk(nav):
    old = PixelChunk(np.nonzero(np.ones(nav, dtype=bool)), nav)
    new = PixelChunk.every(nav)
    assert new.nav == old.nav and new.run == old.run and len(new) == len(old)
    assert new.flat.dtype == old.flat.dtype and new.flat.tobytes() == old.flat.tobytes()
    for a, b in zip(new.index, old.index):
        assert a.dtype == b.dtype == np.intp and a.tobytes() == b.tobytes()
        assert a.flags.c_contiguous and not a.flags.writeable
    assert list(new) == list(old) and new == old
    if len(old) > 1:
        assert list(new[1:3]) == list(old[1:3]) and new[1:3].run == old[1:3].run


def _old_array_key(a):
    a = np.asarray(a)
    return a.dtype.str, np.shape(a), np.ascontiguousarray(a).tobytes()


@pytest.mark.parametrize("value", [1.0, -0.0, np.nan, 0.25, np.float64(2.5), np.array(1.0), np.arange(5.0),
                                   np.arange(12.0).reshape(3, 4)[:, ::2], np.arange(4, dtype=np.float32),
                                   np.arange(3), [1.0, 2.0]])
def test_array_key_is_the_old_key(value):
    assert _array_key(value) == _old_array_key(value)


def _old_relevant(low, B, P):
    """stop 27's engines.numba.lower._relevant (before the union row was kept)."""
    active = low["active"]
    per_comp = lower_mod._component_columns(low, P)
    if active.all():
        row = np.zeros(P, dtype=bool)
        for cols in per_comp:
            row[cols] = True
        rel = np.empty((B, P), dtype=bool)
        rel[:] = row
        return rel
    rel = np.zeros((B, P), dtype=bool)
    for c, cols in enumerate(per_comp):
        if cols:
            rel[:, cols] |= active[:, c, None]
    return rel


def _two_peaks(n=6, inactive=()):
    x = np.linspace(0, 10, 60)
    rng = np.random.default_rng(3)
    data = np.stack([3 * np.exp(-0.5 * (x - 4) ** 2) + np.exp(-0.5 * ((x - 7) / 0.5) ** 2) + 0.1
                     + 0.01 * rng.standard_normal(x.size) for _ in range(n)])
    s = sf.signals.Signal1D(data)
    s.axes_manager[-1].scale = x[1] - x[0]
    m = s.create_model()
    g1, g2 = sf.model.components1D.Gaussian(), sf.model.components1D.Gaussian()
    g1.A.value, g1.centre.value, g1.sigma.value = 3 * np.sqrt(2 * np.pi), 4.1, 1.1
    g2.A.value, g2.centre.value, g2.sigma.value = 0.5 * np.sqrt(2 * np.pi), 6.9, 0.6
    off = sf.model.components1D.Offset()
    off.offset.value = 0.1
    m.extend([g1, g2, off])
    if inactive:
        g2.active_is_multidimensional = True
        g2._active_array[list(inactive)] = False
    m.assign_current_values_to_all()
    return m


@pytest.mark.parametrize("inactive", [(), (1, 4)])
def test_relevant_and_counts_with_the_kept_union_row(inactive):
    m = _two_peaks(inactive=inactive)
    problem = m._problem(PixelChunk.every(m._nav_shape))
    low = lower_mod.lower(problem)
    B, P = problem.B, problem.P
    truth = _old_relevant(low, B, P)
    for everywhere in (None, bool(low["active"].all())):
        for _ in range(2):  # the second call reads the kept row
            rel = lower_mod._relevant(low, B, P, everywhere)
            assert rel.dtype == bool and rel.flags.writeable and rel.tobytes() == truth.tobytes()
            counts = lower_mod._reach_counts(rel, low["active"], everywhere)
            assert counts.dtype == truth.sum(axis=1).dtype and counts.tobytes() == truth.sum(axis=1).tobytes()
    assert bool(low["active"].all()) == (not inactive)


class _N:
    N = 400
    weights = None


@pytest.mark.parametrize("chi2", [np.array([0.0, 1e-320, 3.5, 400.0, 1e30, np.nan, np.inf, -2.0, 2e308]),
                                  np.random.default_rng(1).exponential(400.0, 300), 123.0, np.float64(7.0)])
def test_log_likelihood_from_chisq_is_the_formula(chi2):
    with np.errstate(all="ignore"):
        truth = -0.5 * _N.N * (np.log(2 * np.pi * np.maximum(chi2, 1e-300) / _N.N) + 1)
        got = LeastSquares().log_likelihood_from_chisq(_N, chi2)
    assert np.asarray(got).dtype == np.asarray(truth).dtype and np.shape(got) == np.shape(truth)
    assert np.asarray(got).tobytes() == np.asarray(truth).tobytes()
    if isinstance(chi2, np.ndarray):
        assert got is not chi2


def test_verify_with_every_pixel_kept_answers_the_early_return():
    # every status one verify leaves as it is: the compiled verdict (tried first now) and
    # the NumPy code (checks=None) give the statuses unchanged and NaN gaps
    m = _two_peaks()
    m.multifit()
    problem = m._problem(PixelChunk.every(m._nav_shape))
    low = lower_mod.lower(problem)
    theta = problem.p0.copy()
    checks = lower_mod.checks(problem, theta, low)
    status = np.array([int(Status.BAD_DATA), int(Status.NO_SIGNAL), int(Status.NOT_FITTED)] * 2)
    kept = status.copy()
    for c in (checks, None):
        out, gap = verify(problem, LeastSquares(), theta, status, checks=c)
        assert out.tobytes() == kept.tobytes() and np.isnan(gap).all() and out is not status
    assert status.tobytes() == kept.tobytes()  # the caller's array is not written
    # and a real verdict: the same statuses and gaps both ways, the caller's array untouched
    status = np.ones(problem.B, dtype=int)
    a, ga = verify(problem, LeastSquares(), theta, status, checks=checks)
    b, gb = verify(problem, LeastSquares(), theta, status, checks=None)
    assert (status == 1).all() and a.tobytes() == b.tobytes()
    np.testing.assert_allclose(ga, gb, rtol=1e-4)  # the kernel's gap and NumPy's, to rounding


# ---------------------------------------------- a model changed between two multifits

def _maps(m):
    out = {}
    for c in m:
        for p in c.parameters:
            out[f"{c.name}.{p.name}"] = (p.map["values"].copy(), p.map["std"].copy())
    out["status"] = m.multifit_output.status.data.copy() if hasattr(m.multifit_output.status, "data") \
        else np.asarray(m.multifit_output.status).copy()
    out["chisq"] = np.asarray(m.chisq.data).copy()
    return out


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], tuple):
            for u, v in zip(a[k], b[k]):
                assert u.tobytes() == v.tobytes(), k
        else:
            assert a[k].tobytes() == b[k].tobytes(), k


def _fix_sigma(m):
    m[1].sigma.free = False


def _twin(m):
    m[1].sigma.twin = m[0].sigma


def _bounds(m):
    m[0].centre.bmin, m[0].centre.bmax = 3.9, 4.05


def _add(m):
    g3 = sf.model.components1D.Gaussian()
    g3.A.value, g3.centre.value, g3.sigma.value = 0.1, 8.5, 0.5
    m.append(g3)


def _remove(m):
    m.remove(m[2])


def _axis(m):
    m.signal.axes_manager[-1].scale = 0.2


def _forget():
    from swiftfit.engines.numba import lower_cache

    lower_cache.clear()
    for memo in (lower_mod._COMPONENT_COLUMNS, lower_mod._LINEAR_COLUMNS):
        memo.clear()


@pytest.mark.parametrize("change", [_fix_sigma, _twin, _bounds, _add, _remove, _axis])
def test_a_changed_model_fits_as_a_fresh_one(change):
    bounded = change is _bounds
    m = _two_peaks()
    m.multifit(bounded=bounded)  # fills every per-structure memo with the first structure
    change(m)
    m2 = _two_peaks()
    change(m2)
    m2.assign_current_values_to_all()
    for c, c2 in zip(m, m2):  # the same starts (and errors, is_set) in both: the fresh model's
        for p, p2 in zip(c.parameters, c2.parameters):
            p.map[...] = p2.map
    m.multifit(bounded=bounded)  # after the change, with the memos of the first structure
    _forget()  # the fresh model's fit from no memo at all
    m2.multifit(bounded=bounded)
    _same(_maps(m), _maps(m2))
    assert m.multifit_output.success.data.sum() >= 4
