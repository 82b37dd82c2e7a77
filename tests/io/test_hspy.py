"""Reading files written by HyperSpy (``.hspy``), and crafted files that must be refused."""

from __future__ import annotations

import pickle
import warnings

import h5py
import numpy as np
import pytest

hs = pytest.importorskip("hyperspy.api")

import swiftfit
from swiftfit.errors import ExpressionError, InvalidInputError
from swiftfit.io import save_signal

COMPS = "Analysis/models/{}/_dict/_list_5_components"


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _spectra():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 100, 120)
    data = np.empty((3, 4, x.size))
    for i in range(3):
        for j in range(4):
            data[i, j] = (10 * np.exp(-(x - 40 - i) ** 2 / 50) + 5 / (1 + ((x - 70 - j) / 3) ** 2)
                          + 2 + 0.01 * x + rng.normal(0, 0.1, x.size))
    s = hs.signals.Signal1D(data)
    ax = s.axes_manager.signal_axes[0]
    ax.scale, ax.units, ax.name = x[1] - x[0], "eV", "Energy"
    nav = s.axes_manager.navigation_axes[0]
    nav.scale, nav.offset, nav.units, nav.name = 2.0, -1.0, "nm", "X"
    s.metadata.General.title = "spectra"
    s.metadata.set_item("Signal.Noise_properties.variance", 0.01)
    s.metadata.set_item("Sample.elements", ["C", "O"])
    s.metadata.set_item("Sample.pair", (1.5, 2.5))
    s.metadata.set_item("Sample.none", None)
    s.metadata.set_item("Sample.empty", [])
    s.metadata.set_item("Sample.array", np.arange(4.0))
    s.original_metadata.set_item("Vendor.gain", 3)
    return s


@pytest.fixture(scope="module")
def spectra_file(tmp_path_factory):
    """Signal1D (navigation 3 x 4), a model with every kind of parameter state,
    stored twice (full range, then a signal range) and once with a pixel switched off."""
    s = _spectra()
    m = s.create_model()
    g = hs.model.components1D.Gaussian(A=300, sigma=5, centre=40)
    o = hs.model.components1D.Offset(offset=2)
    p = hs.model.components1D.Polynomial(order=1)
    lor = hs.model.components1D.Lorentzian(A=50, gamma=3, centre=70)
    e = hs.model.components1D.Expression("a * x ** 2", name="quad", a=0.0)
    m.extend([g, o, p, lor, e])
    p.a0.value, p.a0.free = 0.0, False
    g.centre.bmin, g.centre.bmax = 30.0, 50.0
    lor.gamma.twin = g.sigma
    lor.gamma.twin_function_expr = "x / 2"
    lor.active_is_multidimensional = True
    _quiet(m.multifit, bounded=True, show_progressbar=False)
    m.store("full")
    m.set_signal_range(10.0, 90.0)
    m.store("ranged")
    m.reset_signal_range()
    lor._active_array[1, 1] = False
    m.store("masked")
    fn = tmp_path_factory.mktemp("hspy") / "spectra.hspy"
    _quiet(s.save, fn, overwrite=True)
    return fn


def _check_signal(sf_signal, hs_signal):
    assert type(sf_signal).__name__ == type(hs_signal).__name__
    assert np.array_equal(sf_signal.data, hs_signal.data)
    assert len(sf_signal.axes_manager._axes) == len(hs_signal.axes_manager._axes)
    for a, b in zip(sf_signal.axes_manager._axes, hs_signal.axes_manager._axes):
        assert (a.size, a.navigate, a.is_binned) == (b.size, b.navigate, b.is_binned)
        assert str(a.name) == str(b.name) and str(a.units) == str(b.units)
        assert np.array_equal(a.axis, b.axis)
    v1 = sf_signal.metadata.get_item("Signal.Noise_properties.variance")
    v2 = hs_signal.metadata.get_item("Signal.Noise_properties.variance")
    if v2 is None or isinstance(v2, float):
        assert v1 == v2
    else:
        assert np.array_equal(v1.data, v2.data)


def _check_model(m, hm, compare_signal=True):
    assert [c.name for c in m] == [c.name for c in hm]
    for c, hc in zip(m, hm):
        assert type(c).__name__ == hc._id_name
        assert c.active_is_multidimensional == hc.active_is_multidimensional
        if hc.active_is_multidimensional:
            assert np.array_equal(c._active_array, hc._active_array.reshape(c._active_array.shape))
        for p in c.parameters:
            hp = getattr(hc, p.name)
            for field in ("values", "std", "is_set"):  # bit-exact
                assert np.array_equal(p.map[field], hp.map[field].reshape(p.map.shape),
                                      equal_nan=True), (c.name, p.name, field)
            assert (p.free, p.bmin, p.bmax) == (hp.free, hp.bmin, hp.bmax), (c.name, p.name)
            assert (p.twin is None) == (hp.twin is None)
            if hp.twin is not None:
                assert (p.twin.component.name, p.twin.name) == (hp.twin.component.name, hp.twin.name)
    assert np.array_equal(m._channel_switches, hm._channel_switches.reshape(m._channel_switches.shape))
    assert np.array_equal(m._chisq, np.asarray(hm.chisq.data).reshape(m._chisq.shape), equal_nan=True)
    if compare_signal:
        a = m.as_signal().data
        b = _quiet(hm.as_signal, show_progressbar=False).data
        assert np.array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.nanmax(np.abs(b)))


def test_signal_axes_metadata(spectra_file):
    s = swiftfit.load(spectra_file)
    h = hs.load(spectra_file)
    _check_signal(s, h)
    assert s.metadata.General.title == "spectra"
    sample = s.metadata.as_dictionary()["Sample"]
    assert sample["elements"] == ["C", "O"] and sample["pair"] == (1.5, 2.5)
    assert sample["none"] is None and sample["empty"] == []
    assert np.array_equal(sample["array"], np.arange(4.0))
    assert s.original_metadata.Vendor.gain == 3
    assert sorted(s.models_stored) == ["full", "masked", "ranged"]
    info = s.models_stored["full"].info()
    assert info["components"] == ["Gaussian", "Offset", "1st order Polynomial", "Lorentzian", "quad"]
    assert info["dimensions"] == "(4, 3|120)"


@pytest.mark.parametrize("name", ["full", "ranged"])
def test_models_equal_hyperspy(spectra_file, name):
    s = swiftfit.load(spectra_file)
    hm = hs.load(spectra_file).models.restore(name)
    m = s.models_stored[name].restore()
    _check_model(m, hm)
    assert m["Lorentzian"].gamma.twin_function_expr == "x / 2"
    assert not m["1st order Polynomial"].a0.free
    assert (m["Gaussian"].centre.bmin, m["Gaussian"].centre.bmax) == (30.0, 50.0)


def test_twin_follows_its_source(spectra_file):
    m = swiftfit.load(spectra_file).models_stored["full"]()
    sigma, gamma = m["Gaussian"].sigma, m["Lorentzian"].gamma
    assert gamma.twin is sigma and not gamma.free
    sigma.value = 7.0
    assert gamma.value == pytest.approx(3.5, rel=1e-15)


def test_inactive_pixel(spectra_file):
    """A component switched off at one pixel: swiftfit leaves it out there. (HyperSpy
    2.5's vectorised ``as_signal`` ignores per-pixel activity, so compare with the
    sum of the other components at that pixel and with the full model elsewhere.)"""
    m = swiftfit.load(spectra_file).models_stored["masked"]()
    hm = hs.load(spectra_file).models.restore("masked")
    _check_model(m, hm, compare_signal=False)  # parameters and active array
    a = m.as_signal().data
    full = _quiet(hm.as_signal, show_progressbar=False).data
    others = _quiet(hm.as_signal, component_list=[c for c in hm if c.name != "Lorentzian"],
                    show_progressbar=False).data
    mask = np.ones(a.shape[:2], bool)
    mask[1, 1] = False
    np.testing.assert_allclose(a[mask], full[mask], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a[1, 1], others[1, 1], rtol=1e-12, atol=1e-12)


def test_nonuniform_axis_variance_signal_no_navigation(tmp_path):
    x = np.linspace(1, 10, 60) ** 1.5
    s = hs.signals.Signal1D(3 * np.exp(-(x - 10) ** 2 / 8) + 0.1)
    s.axes_manager[0].convert_to_non_uniform_axis()
    s.axes_manager[0].axis = x
    s.metadata.set_item("Signal.Noise_properties.variance", hs.signals.Signal1D(np.full(60, 0.5)))
    m = s.create_model()
    m.extend([hs.model.components1D.Gaussian(A=10, sigma=2, centre=9),
              hs.model.components1D.Offset()])
    _quiet(m.fit)
    m.store("a")
    fn = tmp_path / "nu.hspy"
    _quiet(s.save, fn)
    loaded = swiftfit.load(fn)
    h = hs.load(fn)
    _check_signal(loaded, h)
    assert not loaded.axes_manager[0].is_uniform
    _check_model(loaded.models_stored["a"](), h.models.restore("a"))


def test_signal2d_model(tmp_path):
    yy, xx = np.mgrid[0:16, 0:20]
    img = np.stack([5 * np.exp(-((xx - 9 - i) ** 2 + (yy - 7) ** 2) / 8) + 1 for i in range(2)])
    s = hs.signals.Signal2D(img)
    s.axes_manager.signal_axes[0].scale = 0.5
    s.axes_manager.signal_axes[1].offset = -3.0
    m = s.create_model()
    m.extend([hs.model.components2D.Gaussian2D(A=60, sigma_x=2, sigma_y=2, centre_x=5, centre_y=4),
              hs.model.components2D.Expression("a * x + b * y + c", name="plane", a=0, b=0, c=1)])
    _quiet(m.multifit, show_progressbar=False)
    m.store("img")
    fn = tmp_path / "img.hspy"
    _quiet(s.save, fn)
    loaded = swiftfit.load(fn)
    h = hs.load(fn)
    _check_signal(loaded, h)
    _check_model(loaded.models_stored["img"](), h.models.restore("img"))


def test_functional_axis(tmp_path):
    s = hs.signals.Signal1D(np.arange(10.0))
    s.axes_manager[0].convert_to_functional_data_axis(expression="a * x ** 2", a=2.0)
    fn = tmp_path / "fa.hspy"
    _quiet(s.save, fn)
    _check_signal(swiftfit.load(fn), hs.load(fn))


def test_swiftfit_file_named_hspy_still_loads(tmp_path):
    fn = tmp_path / "own.hspy"
    save_signal(swiftfit.signals.Signal1D(np.arange(5.0)), fn)
    assert np.array_equal(swiftfit.load(fn).data, np.arange(5.0))


def test_not_a_hyperspy_file(tmp_path):
    fn = tmp_path / "other.hspy"
    with h5py.File(fn, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(InvalidInputError, match="not a HyperSpy file"):
        swiftfit.load(fn)


# ------------------------------------------------------------------ crafted files
class _CreatesFile:
    """Unpickling this opens (creates) a file: the proof that something ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def crafted(spectra_file, tmp_path):
    fn = tmp_path / "crafted.hspy"
    fn.write_bytes(spectra_file.read_bytes())
    return fn, tmp_path / "pwned"


def _payload(marker) -> str:
    return f"__import__('os').system('touch {marker}')"


def test_malicious_expression_is_refused(crafted):
    fn, marker = crafted
    with h5py.File(fn, "a") as f:
        f[COMPS.format("full") + "/4"].attrs["expression"] = _payload(marker)
    s = swiftfit.load(fn)  # the signal itself is plain data
    with pytest.raises(ExpressionError, match=r"components\.4"):
        s.models_stored["full"]()
    assert not marker.exists()


def test_malicious_twin_function_is_refused(crafted):
    fn, marker = crafted
    with h5py.File(fn, "a") as f:
        f[COMPS.format("full") + "/3/_list_3_parameters/2"].attrs["twin_function_expr"] = _payload(marker)
    with pytest.raises(ExpressionError, match="twin_function_expr"):
        swiftfit.load(fn).models_stored["full"]()
    assert not marker.exists()


def test_pickled_custom_component_is_refused(crafted):
    fn, marker = crafted
    with h5py.File(fn, "a") as f:
        comp = f[COMPS.format("full") + "/0"]
        comp.attrs["_id_name"] = "MyPeak"
        comp.attrs["_bs__class_dump"] = np.void(pickle.dumps(_CreatesFile(marker)))
        # a built-in whose stored class dump is replaced must still never be unpickled
        f[COMPS.format("full") + "/1"].attrs["_bs__class_dump"] = np.void(pickle.dumps(_CreatesFile(marker)))
    s = swiftfit.load(fn)
    with pytest.raises(InvalidInputError, match="MyPeak.*execute code"):
        s.models_stored["full"]()
    m = s.models_stored["ranged"]()  # the other models still load
    assert type(m["Offset"]).__name__ == "Offset"
    assert not marker.exists()


def test_pickled_function_is_refused(crafted):
    fn, marker = crafted
    with h5py.File(fn, "a") as f:
        comp = f[COMPS.format("full") + "/0"]
        comp["_whitelist"].attrs["function"] = "fn"
        comp.attrs["function"] = np.void(pickle.dumps(_CreatesFile(marker)))
    with pytest.raises(InvalidInputError, match="pickled function"):
        swiftfit.load(fn).models_stored["full"]()
    assert not marker.exists()


def test_malicious_functional_axis_is_refused(crafted):
    fn, marker = crafted
    with h5py.File(fn, "a") as f:
        ax = f["Experiments/spectra/axis-2"]
        f.copy(ax, "Experiments/spectra/axis-2/x")
        ax.attrs["_type"] = "FunctionalDataAxis"
        ax.attrs["expression"] = _payload(marker)
    with pytest.raises(ExpressionError):
        swiftfit.load(fn)
    assert not marker.exists()


def test_external_link_is_refused(crafted, tmp_path):
    fn, _ = crafted
    with h5py.File(fn, "a") as f:
        del f["Experiments/spectra/original_metadata"]
        f["Experiments/spectra/original_metadata"] = h5py.ExternalLink(str(tmp_path / "x.h5"), "/")
    with pytest.raises(ValueError, match="links are not allowed"):
        swiftfit.load(fn)


def test_opaque_metadata_is_skipped_with_a_warning(crafted):
    fn, _ = crafted
    with h5py.File(fn, "a") as f:
        f["Experiments/spectra/metadata/Sample"].attrs["_bs_blob"] = np.void(b"\x00\x01")
    with pytest.warns(UserWarning, match=r"skipped 1 item.*Sample\._bs_blob"):
        s = swiftfit.load(fn)
    assert "blob" not in s.metadata.as_dictionary()["Sample"]


def test_old_binned_metadata_moves_to_the_axis(tmp_path):
    # HyperSpy < 1.7 files keep metadata.Signal.binned; HyperSpy warns (VisibleDeprecationWarning)
    # and sets the signal axis' is_binned from it: so does swiftfit
    from swiftfit.errors import VisibleDeprecationWarning

    path = tmp_path / "old.hspy"
    _quiet(hs.signals.Signal1D(np.arange(5.0)).save, path)
    with h5py.File(path, "r+") as f:
        (group,) = f["Experiments"].values()
        group["metadata"].require_group("Signal").attrs["binned"] = True
        for key in [k for k in group if k.startswith("axis-")]:
            del group[key].attrs["is_binned"]
    with pytest.warns(VisibleDeprecationWarning, match="binned"):
        s = swiftfit.load(path)
    assert s.axes_manager[-1].is_binned is True
    assert "binned" not in s.metadata.Signal.as_dictionary()
