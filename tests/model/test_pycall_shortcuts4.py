"""Stop 27 (pycall4)'s shortcuts around the kernel, each against the code it
replaces (kept here verbatim as the truth), bit for bit on seeded inputs:
``status_in``'s table found by the identity of a codes tuple (tuples made and
freed in a loop, so their ids are reused), ``dof_and_reduced``'s one-pass
quotient, the navigation shapes read from the axes' attributes, and a
multifit of every pixel (no mask: the chunk built without ``np.nonzero``)
against the same fit with an all-False mask (the old path), on a 2-D map.
"""

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.problem.goodness import dof_and_reduced
from swiftfit.problem.verify import status_in


def _old_dof_and_reduced(chisq, ndata, nfree):
    dof = np.asarray(ndata) - np.asarray(nfree)
    with np.errstate(all="ignore"):
        red = np.where(dof > 0, np.asarray(chisq, dtype=float) / np.where(dof > 0, dof, 1), np.nan)
    return dof, red


def test_status_in_memo_by_identity_follows_each_new_tuple():
    # truth: np.isin; 300 fresh tuples of random codes, each freed after use (CPython
    # reuses their ids): a memo keyed by id alone would answer with an old table
    rng = np.random.default_rng(4)
    s = rng.integers(-12, 12, 500).astype(np.int64)
    for _ in range(300):
        codes = tuple(int(c) for c in rng.choice(np.arange(-12, 12), rng.integers(1, 5), replace=False))
        assert status_in(s, codes).tobytes() == np.isin(s, codes).tobytes()
        again = status_in(s, codes)  # the same tuple again: the memo's table
        assert again.tobytes() == np.isin(s, codes).tobytes()


@pytest.mark.parametrize("case", ["positive", "some_zero", "scalar_dof", "nan_inf"])
def test_dof_and_reduced_bit_for_bit(case):
    rng = np.random.default_rng(5)
    chisq = rng.exponential(300.0, 257)
    ndata, nfree = 400, rng.integers(1, 8, 257)
    if case == "some_zero":
        nfree[[3, 9]] = 400
        nfree[11] = 402
    elif case == "scalar_dof":
        nfree = 7
    elif case == "nan_inf":
        chisq[[0, 5]] = [np.nan, np.inf]
    dof, red = dof_and_reduced(chisq, ndata, nfree)
    dof0, red0 = _old_dof_and_reduced(chisq, ndata, nfree)
    assert dof.tobytes() == dof0.tobytes() and red.dtype == red0.dtype and red.shape == red0.shape
    assert red.tobytes() == red0.tobytes()
    assert float(dof_and_reduced(12.0, 10, 2)[1]) == 1.5


def test_navigation_shapes_from_the_axes_attributes():
    # truth: the definitions through navigation_axes (natural order) and its reverse
    s = sf.signals.Signal1D(np.zeros((3, 4, 5, 6)))
    am = s.axes_manager
    assert am.navigation_shape == tuple(ax.size for ax in am.navigation_axes) == (5, 4, 3)
    assert am._navigation_shape_in_array == tuple(ax.size for ax in am.navigation_axes)[::-1] == (3, 4, 5)
    am2 = s.transpose(signal_axes=2).axes_manager  # axes moved: navigation and signal axes reordered
    assert am2._navigation_shape_in_array == tuple(ax.size for ax in am2.navigation_axes)[::-1]
    assert am2.navigation_shape == tuple(ax.size for ax in am2.navigation_axes)


def test_every_pixel_chunk_equals_the_masked_path_bit_for_bit():
    # truth: the same fit with an all-False mask (np.nonzero's chunk), on a 2-D map
    rng = np.random.default_rng(6)
    x = np.arange(150.0)
    tau = rng.uniform(10, 30, (5, 7))
    data = rng.normal(0, 1.0, (5, 7, 150)) + 60 * np.exp(-x / tau[..., None]) + 4
    data[2, 3] = 0.0  # a pixel without signal: marked, not fitted, on both paths
    out = []
    for mask in (None, np.zeros((5, 7), bool)):
        m = sf.signals.Signal1D(data).create_model()
        e = sf.model.components1D.Exponential()
        e.A.value, e.tau.value = 50.0, 15.0
        m.extend([e, sf.model.components1D.Offset()])
        m.multifit(mask=mask)
        out.append(np.concatenate([np.stack([p.map["values"], p.map["std"]]).ravel()
                                   for comp in m for p in comp.parameters] +
                                  [m._status.astype(float).ravel(), m._chisq.ravel()]))
        found = e.tau.map["values"]
    assert out[0].tobytes() == out[1].tobytes()
    ok = np.ones((5, 7), bool)
    ok[2, 3] = False
    assert np.median(np.abs(found[ok] - tau[ok]) / tau[ok]) < 0.05  # the fits are real
