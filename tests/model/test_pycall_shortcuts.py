"""Stop 27's shortcuts around the kernel, each against the code it replaces
(kept here verbatim as the truth), bit for bit on seeded inputs that reach
every branch: ``status_in``'s look-up table against ``np.isin``, the kernel's
bound vectors (same values, same flags: the same compiled signature), an
identity twin's error against ``sqrt(nan_to_num(c) + 0.0)`` with the NaN mask,
and the block runner's merged blocks on a real multifit.
"""

import numpy as np
import pytest

from swiftfit.engines.numba.lower import _vector
from swiftfit.model.write_back import _UNDETERMINED, _unit_std
from swiftfit.problem.solution import Status
from swiftfit.problem.verify import _KEEP, status_in

_I64 = np.iinfo(np.int64)


def _old_status_in(status, codes):
    out = np.zeros(np.shape(status), dtype=bool)
    for code in codes:
        out |= status == int(code)
    return out


@pytest.mark.parametrize("codes", [_UNDETERMINED, _KEEP, (), (Status.FTOL,), (-13, 6, 0), [np.int64(3)], (7, 9)])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, float])
def test_status_in_equals_isin(codes, dtype):
    rng = np.random.default_rng(11)
    s = rng.integers(-25, 25, 2000)
    if dtype is np.int64:  # the table's clipped ends: values far outside it (and wrapping ones)
        s[:6] = [_I64.max, _I64.min, _I64.max - 5, _I64.min + 3, 10**12, -10**12]
    elif dtype is np.uint8:
        s = np.abs(s)
    s = s.astype(dtype)
    truth = np.isin(s, np.array([int(c) for c in codes], dtype=np.int64)) if len(codes) else np.zeros(s.shape, bool)
    with np.errstate(all="ignore"):
        got = status_in(s, codes)
    assert got.dtype == bool and got.shape == s.shape
    np.testing.assert_array_equal(got, truth)
    np.testing.assert_array_equal(got, _old_status_in(s, codes))


def test_status_in_scalars_and_empty():
    assert status_in(np.array(-3), _UNDETERMINED)[()]
    assert not status_in(np.int64(1), _UNDETERMINED)
    assert status_in(np.zeros(0, dtype=np.int64), _UNDETERMINED).shape == (0,)


def _old_bound(v, P):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=float), (P,)))


@pytest.mark.parametrize("v, P", [
    (np.array([1.0, -np.inf, 2.5]), 3),      # compile's bounds: a read-only view, as before
    (np.array(-np.inf), 4),                  # broadcast: a fresh writeable copy, as before
    (np.array([1, 2]), 2),                   # ints: converted
    ([0.5, np.inf], 2),                      # a list
    (np.arange(6.0)[::2], 3),                # not contiguous
    (np.zeros(0), 0),
])
def test_bound_vectors_keep_values_and_flags(v, P):
    a, b = _old_bound(v, P), _vector(v, P)
    assert b.dtype == a.dtype and b.shape == a.shape
    # numba types an array by dtype, layout and read-only flag: the same signature
    assert b.flags.writeable == a.flags.writeable and b.flags.c_contiguous == a.flags.c_contiguous
    np.testing.assert_array_equal(b, a)


def _old_unit_std(c):
    with np.errstate(invalid="ignore"):
        std = np.sqrt(np.nan_to_num(c, nan=0.0) + 0.0)
    return np.where(np.isnan(c), np.nan, std)


@pytest.mark.parametrize("special", [False, True])
def test_unit_std_bit_for_bit(special):
    rng = np.random.default_rng(5)
    c = rng.normal(size=500) ** 3
    c[:4] = [-0.0, 0.0, -1.0, 1e-320]
    if special:
        c[10:14] = [np.nan, np.inf, -np.inf, np.nan]
    got, truth = _unit_std(c), _old_unit_std(c)
    assert got.tobytes() == truth.tobytes()  # bits: −0 → +0, NaN, inf → sqrt(max float)
    assert np.signbit(got[0]) == np.signbit(truth[0]) == False  # noqa: E712


def test_merged_blocks_give_the_one_thread_maps_bit_for_bit():
    # truth: each pixel is fitted on its own: 128 pixels in 8 merged blocks on two
    # threads against one block on one thread
    numba = pytest.importorskip("numba")
    import swiftfit as sf

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba allows one thread here: nothing to compare the one-thread maps with")
    rng = np.random.default_rng(8)
    x = np.arange(120.0)
    tau = rng.uniform(10, 30, 128)
    data = rng.normal(0, 1.0, (128, 120)) + 80 * np.exp(-x / tau[:, None]) + 5
    maps = []
    n0 = numba.get_num_threads()
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            m = sf.signals.Signal1D(data).create_model()
            e = sf.model.components1D.Exponential()
            e.A.value, e.tau.value = 50.0, 15.0
            m.extend([e, sf.model.components1D.Offset()])
            m.multifit()
        finally:
            numba.set_num_threads(n0)
        maps.append(np.stack([p.map["values"] for comp in m for p in comp.parameters] +
                             [p.map["std"] for comp in m for p in comp.parameters]))
        found = e.tau.map["values"]
    assert maps[0].tobytes() == maps[1].tobytes()
    assert np.median(np.abs(found - tau) / tau) < 0.05  # the fits are real
