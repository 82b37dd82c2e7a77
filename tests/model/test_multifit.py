"""multifit: batched vs sequential, failed pixels, refit from neighbours,
autosave/resume, iterpath/mask, fetch_only_fixed and multifit_output.

Every dataset is a 6 × 5 map (array shape (5, 6)) of 200-channel spectra, a
Gaussian (area A in [50, 100], centre in [8, 12], sigma 1.5) on an offset of 2
with seeded normal noise (sd 0.2); the truth of each test is stated in it.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components import components1d as C1
from swiftfit.errors import FitWarning
from swiftfit.model.autosave import Autosave
from swiftfit.problem.solution import STATUS_MESSAGES

NAV = (5, 6)  # array order: 5 rows (y) of 6 pixels (x)
X = np.linspace(0, 20, 200)


def gaussian(x, A, sigma, centre):
    return A / (sigma * np.sqrt(2 * np.pi)) * np.exp(-((x - centre) ** 2) / (2 * sigma**2))


def truth(seed: int = 5):
    rng = np.random.default_rng(seed)
    A = rng.uniform(50, 100, NAV)
    centre = rng.uniform(8, 12, NAV)
    data = gaussian(X, A[..., None], 1.5, centre[..., None]) + 2 + rng.normal(0, 0.2, NAV + (200,))
    return data, A, centre


def build(data, component=C1.Gaussian, all_set: bool = False):
    """A model Gaussian(A=70, sigma=2, centre=10) + Offset(1) on a copy of ``data``."""
    s = hs.signals.Signal1D(data.copy())
    s.axes_manager[-1].scale = 20 / 199
    m = s.create_model()
    g = component(A=70, sigma=2, centre=10) if component is C1.Gaussian else component(A=70, centre=10)
    m.extend([g, C1.Offset(offset=1)])
    m.assign_current_values_to_all()
    if all_set:
        # every pixel's start is its own map (HyperSpy's is_set), so a
        # sequential fit does not carry the previous pixel's result into it
        for p in m._all_parameters():
            p.map["is_set"] = True
    return m, g


def state(m):
    """Everything a multifit writes: every map field and the per-pixel arrays."""
    out = {}
    for p in m._all_parameters():
        for field in ("values", "std", "is_set"):
            out[f"{p.component.name}.{p.name}.{field}"] = p.map[field].copy()
    for name in ("_status", "_nfev", "_chisq", "_dof", "_lnl", "_nfree"):
        out[name] = getattr(m, name).copy()
    return out


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        yield


# ------------------------------------------------------- batched vs sequential
def test_batched_equals_sequential_from_the_same_start():
    """One batched LM solve equals pixel-by-pixel fits ("flyback") when every
    pixel starts from the same values (all maps set): 1e-6 relative; every
    centre within 4 σ of the generating one."""
    data, _, centre = truth()
    results = []
    for iterpath in (None, "flyback"):
        m, g = build(data, all_set=True)
        m.multifit(iterpath=iterpath)
        assert (m._status > 0).all()
        results.append(np.stack([p.map["values"] for p in m._all_parameters()]))
        assert (np.abs(g.centre.map["values"] - centre) < 4 * g.centre.map["std"]).all()
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_batched_results_do_not_depend_on_the_chunks():
    """Each pixel's solve is independent: chunks of 30, 4 and 7 pixels give
    bit-identical maps and statistics."""
    data, _, _ = truth()
    states = []
    for chunk_size in (None, 4, 7):
        m, _ = build(data)
        m.multifit(chunk_size=chunk_size)
        states.append(state(m))
    assert_identical(states[0], states[1])
    assert_identical(states[0], states[2])


# ------------------------------------------------------------- failed pixels
def test_nan_pixel_fails_and_the_others_are_fitted():
    """A pixel of NaN is status -4 (success False, std NaN, is_set False);
    every other centre is within 4 σ of the generating one."""
    data, _, centre = truth()
    data[1, 2] = np.nan
    m, g = build(data)
    m.multifit()
    out = m.multifit_output
    assert m._status[1, 2] == -4 and not out.success.data[1, 2]
    assert not g.centre.map["is_set"][1, 2] and np.isnan(out.chisq.data[1, 2])
    ok = np.ones(NAV, bool)
    ok[1, 2] = False
    assert out.success.data[ok].all()
    assert (np.abs(g.centre.map["values"] - centre)[ok] < 4 * g.centre.map["std"][ok]).all()


def test_zero_pixel_is_marked_failed_and_the_others_are_fitted():
    """A pixel of zeros has no signal: its centre and sigma are not determined
    (the exact fit is A = 0), so multifit marks it -8 ("no signal") instead of
    reporting a convergence; every other centre is within 4 σ of the truth."""
    data, _, centre = truth()
    data[3, 4] = 0.0
    m, g = build(data)
    m.multifit()
    out = m.multifit_output
    assert m._status[3, 4] == -8 and not out.success.data[3, 4]
    assert not g.centre.map["is_set"][3, 4] and np.isnan(out.chisq.data[3, 4])
    ok = np.ones(NAV, bool)
    ok[3, 4] = False
    assert (m._status[ok] > 0).all()
    assert (np.abs(g.centre.map["values"] - centre)[ok] < 4 * g.centre.map["std"][ok]).all()


# ------------------------------------------------------- refit from neighbours
def _far_start():
    """Pixel (2, 3) starts with its centre at 200, far outside x in [0, 20]:
    the Gaussian is 0 there, its Jacobian columns vanish and LM fails (-3)."""
    data, _, centre = truth()
    m, g = build(data)
    g.centre.map["values"][2, 3] = 200.0
    return m, g, centre


def test_refit_failed_recovers_a_pixel_from_its_neighbours():
    """With refit_failed=True the pixel restarts from the median of its 8
    converged neighbours and converges (centre within 4 σ of the truth);
    with refit_failed=False it stays failed. No other pixel changes."""
    m0, g0, centre = _far_start()
    m0.multifit(refit_failed=False)
    assert m0._status[2, 3] < 0 and abs(g0.centre.map["values"][2, 3] - centre[2, 3]) > 1
    assert not m0.multifit_output.refitted.data.any()

    m1, g1, _ = _far_start()
    m1.multifit(refit_failed=True)
    assert m1._status[2, 3] > 0
    assert abs(g1.centre.map["values"][2, 3] - centre[2, 3]) < 4 * g1.centre.map["std"][2, 3]
    refitted = m1.multifit_output.refitted.data
    assert refitted[2, 3] and refitted.sum() == 1
    others = np.ones(NAV, bool)
    others[2, 3] = False
    np.testing.assert_array_equal(g1.centre.map["values"][others], g0.centre.map["values"][others])


def test_refit_that_is_worse_is_undone(monkeypatch):
    """A refit that fails with a higher χ² is dropped: the pixel ends exactly as
    without the refit (values, std, status, χ²)."""
    m0, _, _ = _far_start()
    m0.multifit(refit_failed=False)
    m1, _, _ = _far_start()
    real = type(m1)._solve_pixels
    calls = []

    def solve_then_spoil(self, pixels, **kw):
        real(self, pixels, **kw)
        calls.append(list(pixels))
        if len(calls) > 1:  # the refit: pretend it failed, worse than before
            for p in pixels:
                self._status[p], self._chisq[p] = -5, np.inf

    monkeypatch.setattr(type(m1), "_solve_pixels", solve_then_spoil)
    m1.multifit(refit_failed=True)
    assert calls[-1] == [(2, 3)]
    assert_identical(state(m0), state(m1))
    assert not m1.multifit_output.refitted.data.any()


# ------------------------------------------------------------ autosave/resume
def _resume_data():
    """A NaN pixel (-4) and a far start (refitted) make the resume cover both."""
    data, _, _ = truth(seed=11)
    data[4, 0] = np.nan
    return data


@pytest.mark.parametrize("fetch_only_fixed", [False, True])
def test_batched_interrupted_multifit_resumes_identically(tmp_path, monkeypatch, fetch_only_fixed):
    """Chunks of 4 pixels; the third write-back raises once it has written the
    maps. The file then holds the two finished chunks (8 pixels, saved after
    each chunk) and the others' starting values; a fresh model resumed from it
    fits only the 22 others, ends bit-identical to an uninterrupted run, and
    the file is deleted."""
    data = _resume_data()
    path = tmp_path / "auto.npz"

    def model():
        m, g = build(data)
        g.centre.map["values"][2, 3] = 200.0
        return m

    ref = model()
    ref.multifit(chunk_size=4, fetch_only_fixed=fetch_only_fixed)

    m = model()
    starts = m[0].centre.map["values"].copy()
    real = type(m)._write_back
    calls = []

    def write_back(self, *args, **kw):
        out = real(self, *args, **kw)
        calls.append(1)
        if len(calls) == 3:
            with np.load(path, allow_pickle=False) as f:
                assert f["done"].sum() == 8  # saved after each of the two chunks
            # interrupted after the third chunk's maps were written, before
            # it was recorded as done: the file must keep that chunk's starts
            raise KeyboardInterrupt("simulated interruption")
        return out

    monkeypatch.setattr(type(m), "_write_back", write_back)
    with pytest.raises(KeyboardInterrupt):
        m.multifit(chunk_size=4, autosave=True, autosave_file=path, fetch_only_fixed=fetch_only_fixed)
    monkeypatch.undo()
    with np.load(path, allow_pickle=False) as f:
        done = f["done"]
        assert done.sum() == 8 and done.ravel()[:8].all()
        params = [c[1] for c in json.loads(str(f["fingerprint"]))["components"]]
        assert params == [["A", "sigma", "centre"], ["offset"]]
        np.testing.assert_array_equal(f["p2_values"][~done], starts[~done])  # not-done: their starts

    resumed = model()
    solved = []
    real_solve = type(resumed)._solve_pixels
    monkeypatch.setattr(type(resumed), "_solve_pixels",
                        lambda self, pixels, **kw: (solved.extend(pixels), real_solve(self, pixels, **kw))[1])
    resumed.multifit(autosave_file=path, resume=True, fetch_only_fixed=fetch_only_fixed)
    assert solved[:22] == list(np.ndindex(*NAV))[8:]  # then the refit of (2, 3), if it failed
    assert_identical(state(ref), state(resumed))
    assert not path.exists()


def test_sequential_interrupted_multifit_resumes_identically(tmp_path, monkeypatch):
    """Serpentine path, nothing set (each pixel starts from the previous
    result); the path raises after 10 pixels. With autosave_every=4 the file is
    written at 4, 8 and at the interruption (10 done); a fresh model resumed
    along the full path ends bit-identical to an uninterrupted run."""
    from swiftfit.model.multifit import serpentine

    data = _resume_data()
    path = tmp_path / "seq.npz"
    ref, _ = build(data)
    ref.multifit(iterpath="serpentine")

    def broken_path():
        for k, idx in enumerate(serpentine((6, 5))):
            if k == 10:
                raise RuntimeError("simulated crash")
            yield idx

    writes = []
    real_write = Autosave.write
    monkeypatch.setattr(Autosave, "write", lambda self, done: (writes.append(int(done.sum())), real_write(self, done)))
    m, _ = build(data)
    with pytest.raises(RuntimeError, match="simulated crash"):
        m.multifit(iterpath=broken_path(), autosave=True, autosave_every=4, autosave_file=path)
    assert writes == [4, 8, 10]
    monkeypatch.undo()

    resumed, _ = build(data)
    resumed.multifit(iterpath="serpentine", autosave_file=path, resume=True)
    assert_identical(state(ref), state(resumed))
    assert not path.exists()


def test_resume_without_a_file_fits_everything_and_autosave_overwrites_with_a_warning(tmp_path):
    """resume=True and no file: every pixel is fitted (as without resume). An
    existing file with resume=False is overwritten, with a warning."""
    data, _, _ = truth()
    path = tmp_path / "none.npz"
    ref, _ = build(data)
    ref.multifit()
    m, _ = build(data)
    m.multifit(resume=True, autosave_file=path)
    assert_identical(state(ref), state(m))
    path.write_bytes(b"old")
    with pytest.warns(UserWarning, match="overwriting"):
        m.multifit(autosave=True, autosave_file=path)
    assert not path.exists()


def test_autosave_from_a_different_model_is_refused(tmp_path):
    """Other components, or another navigation shape, or not an autosave
    file at all: ValueError naming autosave_file, and no pixel is fitted."""
    data, _, _ = truth()
    path = tmp_path / "other.npz"
    m, _ = build(data)
    saver = Autosave(m, path)
    saver.begin()
    saver.write(np.zeros(NAV, bool))

    lorentz, _ = build(data, component=C1.Lorentzian)
    with pytest.raises(ValueError, match=r"autosave_file.*different model.*components"):
        lorentz.multifit(autosave_file=path, resume=True)
    assert (lorentz._status == 0).all()
    smaller, _ = build(data[:, :4])
    with pytest.raises(ValueError, match=r"different model.*navigation_shape"):
        smaller.multifit(autosave_file=path, resume=True)
    path.write_bytes(b"not an npz file")
    with pytest.raises(ValueError, match="not a swiftfit multifit autosave file"):
        m.multifit(autosave_file=path, resume=True)


@pytest.mark.parametrize("bad", [0, -1, "x", 2.5, True])
def test_bad_autosave_every_is_refused(bad):
    m, _ = build(truth()[0])
    with pytest.raises(ValueError, match=rf"`autosave_every` must be a positive integer.*got {bad!r}"):
        m.multifit(autosave=True, autosave_every=bad)


@pytest.mark.parametrize("kw, name", [({"chunk_size": 0}, "chunk_size"), ({"refit_failed": "yes"}, "refit_failed"),
                                      ({"fetch_only_fixed": 1}, "fetch_only_fixed"), ({"resume": None}, "resume")])
def test_bad_options_are_refused(kw, name):
    m, _ = build(truth()[0])
    with pytest.raises(ValueError, match=f"`{name}`"):
        m.multifit(**kw)


# ------------------------------------------------------------ iterpath & mask
def test_custom_iterpath_visits_exactly_its_pixels_in_order_and_mask_skips(monkeypatch):
    """fit is called at each index of the path (natural order), in order,
    except where the mask is True; the other pixels stay unfitted."""
    data, _, _ = truth()
    m, g = build(data)
    visited = []
    real_fit = type(m).fit

    def spy(self, *args, **kw):
        visited.append(tuple(self.axes_manager.indices))
        return real_fit(self, *args, **kw)

    monkeypatch.setattr(type(m), "fit", spy)
    path = [(0, 0), (3, 2), (1, 1), (5, 4), (2, 0)]
    mask = np.zeros(NAV, bool)
    mask[1, 1] = True  # natural (1, 1)
    m.multifit(iterpath=path, mask=mask)
    assert visited == [(0, 0), (3, 2), (5, 4), (2, 0)]
    expected = np.zeros(NAV, bool)
    for ix, iy in visited:
        expected[iy, ix] = True
    np.testing.assert_array_equal(g.centre.map["is_set"], expected)
    np.testing.assert_array_equal(m._status != 0, expected)
    assert m.axes_manager.indices == (0, 0)


def test_batched_mask_skips_pixels():
    """Masked pixels keep status 0, is_set False and their values."""
    data, _, _ = truth()
    m, g = build(data)
    mask = np.zeros(NAV, bool)
    mask[0, :3] = mask[4, 5] = True
    m.multifit(mask=mask)
    assert (m._status[mask] == 0).all() and (m._status[~mask] > 0).all()
    assert not g.centre.map["is_set"][mask].any()
    np.testing.assert_array_equal(g.centre.map["values"][mask], 10.0)


# ----------------------------------------------------------- fetch_only_fixed
def test_fetch_only_fixed_batched_starts_free_parameters_at_the_current_position():
    """Every centre map is 200 except at the current position (10): with
    fetch_only_fixed=True every pixel starts from 10 and converges (centre
    within 4 σ); with False they start from 200 and fail."""
    data, _, centre = truth()
    for only_fixed in (False, True):
        m, g = build(data)
        g.centre.map["values"] = 200.0
        g.centre.map["values"][0, 0] = 10.0
        m.multifit(fetch_only_fixed=only_fixed, refit_failed=False)
        if only_fixed:
            assert (m._status > 0).all()
            assert (np.abs(g.centre.map["values"] - centre) < 4 * g.centre.map["std"]).all()
        else:
            assert (m._status < 0).sum() == 29


def test_fetch_only_fixed_sequential_carries_free_and_fetches_fixed():
    """Maps all set; centre 200 everywhere but the first pixel; sigma fixed at
    each pixel's true value (1.4 to 1.6 here). fetch_only_fixed=True: the free
    parameters come from the previous pixel, every fit converges near the truth,
    and each pixel keeps its own fixed sigma. False: pixels start at 200 and fail."""
    rng = np.random.default_rng(8)
    sigma = rng.uniform(1.4, 1.6, NAV)
    centre = rng.uniform(9, 11, NAV)
    data = gaussian(X, 80, sigma[..., None], centre[..., None]) + 2 + rng.normal(0, 0.2, NAV + (200,))
    for only_fixed in (False, True):
        m, g = build(data, all_set=True)
        g.sigma.free = False
        g.sigma.map["values"] = sigma
        g.centre.map["values"] = 200.0
        g.centre.map["values"][0, 0] = 10.0
        m.multifit(iterpath="serpentine", fetch_only_fixed=only_fixed)
        np.testing.assert_array_equal(g.sigma.map["values"], sigma)
        if only_fixed:
            assert (m._status > 0).all()
            assert (np.abs(g.centre.map["values"] - centre) < 4 * g.centre.map["std"]).all()
        else:
            assert (m._status < 0).sum() == 29


# ------------------------------------------------------------ multifit_output
def test_multifit_output_signals():
    """Before a fit: status 0 everywhere. After a fit at one pixel: that pixel
    only. After multifit: success == (status > 0), red_chisq == chisq/dof,
    dof == 200 - 4, all navigation-shaped; the object is read-only."""
    data, _, _ = truth()
    data[1, 2] = np.nan
    m, _ = build(data)
    out = m.multifit_output
    assert out.status.data.shape == NAV and (out.status.data == 0).all() and not out.success.data.any()
    m.axes_manager.indices = (4, 3)
    m.fit()
    status = m.multifit_output.status.data
    assert status[3, 4] > 0 and np.count_nonzero(status) == 1

    m.multifit()
    out = m.multifit_output
    for name in ("success", "status", "nfev", "chisq", "red_chisq", "dof", "refitted"):
        sig = getattr(out, name)
        assert sig.data.shape == NAV
    assert out.success.data.dtype == bool and out.status.data.dtype.kind == "i"
    np.testing.assert_array_equal(out.success.data, out.status.data > 0)
    np.testing.assert_array_equal(out.status.data, m._status)
    np.testing.assert_array_equal(out.nfev.data, m._nfev)
    assert out.status.data[1, 2] == -4 and out.success.data.sum() == 29
    np.testing.assert_array_equal(out.red_chisq.data, out.chisq.data / out.dof.data)
    np.testing.assert_array_equal(out.dof.data[out.success.data], 196.0)
    assert out.message(-4) == STATUS_MESSAGES[-4] and out.messages[1] == STATUS_MESSAGES[1]
    assert out.time is not None and out.time > 0
    text = repr(out)
    assert "29 converged" in text and "red_chisq" in text and "status -4" in text
    with pytest.raises(AttributeError, match="read-only"):
        out.status = None
    with pytest.raises(AttributeError):
        _ = out.nonexistent


def test_navigation_slice_keeps_information_criteria():
    """``m.inav[...]`` keeps the per-pixel ln L and free-parameter counts, so
    AIC/BIC of the slice equal those of the same pixels of the whole model."""
    data, _, _ = truth()
    m, _ = build(data)
    m.multifit()
    sub = m.inav[1:3, 2]
    np.testing.assert_array_equal(sub.aic.data, m.aic.data[2, 1:3])
    np.testing.assert_array_equal(sub.bic.data, m.bic.data[2, 1:3])
