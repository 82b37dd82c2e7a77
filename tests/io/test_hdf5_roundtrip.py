"""Round trips of signals and models through swiftfit HDF5 files, and crafted files."""

from __future__ import annotations

import pickle
import sys

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import swiftfit as hs
from swiftfit.component import Component
from swiftfit.components import components1d as c1
from swiftfit.components import components2d as c2
from swiftfit.errors import ExpressionError
from swiftfit.io import (
    hdf5_model,
    load,
    register_component,
    restore_model,
    save_model,
    save_signal,
)
from swiftfit.parameters import MAP_DTYPE


class Line(Component):
    """A user component defined outside swiftfit (its module is imported)."""

    parameters = ("a", "b")
    linear = ("a", "b")

    @staticmethod
    def function(x, a, b):
        return a * x + b

    @staticmethod
    def gradients(x, a, b):
        return (x, np.ones_like(x))


# ------------------------------------------------------------------ helpers
def assert_signals_equal(s1, s2):
    assert type(s1) is type(s2)
    assert s1.data.dtype == s2.data.dtype
    assert np.array_equal(s1.data, s2.data, equal_nan=True)
    for a1, a2 in zip(s1.axes_manager._axes, s2.axes_manager._axes, strict=True):
        d1, d2 = a1.get_axis_dictionary(), a2.get_axis_dictionary()
        assert d1.keys() == d2.keys()
        for key in d1:
            if key == "axis":
                assert np.array_equal(d1[key], d2[key])
            else:
                assert d1[key] == d2[key] and type(d1[key]) is type(d2[key]), key
        assert a1.index == a2.index
    v1, v2 = s1.get_noise_variance(), s2.get_noise_variance()
    if isinstance(v1, hs.BaseSignal):
        assert_signals_equal(v1, v2)
    else:
        assert v1 == v2 and type(v1) is type(v2)
    md1, md2 = s1.metadata.as_dictionary(), s2.metadata.as_dictionary()
    for md in (md1, md2):
        md.get("Signal", {}).get("Noise_properties", {}).pop("variance", None)
    assert_trees_equal(md1, md2)
    assert_trees_equal(s1.original_metadata.as_dictionary(), s2.original_metadata.as_dictionary())


def assert_trees_equal(t1, t2):
    assert type(t1) is type(t2), (t1, t2)
    if isinstance(t1, dict):
        assert t1.keys() == t2.keys()
        for k in t1:
            assert_trees_equal(t1[k], t2[k])
    elif isinstance(t1, (list, tuple)):
        assert len(t1) == len(t2)
        for a, b in zip(t1, t2):
            assert_trees_equal(a, b)
    elif isinstance(t1, np.ndarray):
        assert t1.dtype == t2.dtype and np.array_equal(t1, t2, equal_nan=True)
    else:
        assert t1 == t2


def _twin_path(p):
    return None if p.twin is None else (p.twin.component.name, p.twin.name)


def assert_models_equal(m1, m2):
    assert type(m1) is type(m2)
    assert np.array_equal(m1._channel_switches, m2._channel_switches)
    for attr in ("_chisq", "_dof", "_nfev", "_status", "_lnl", "_nfree"):
        a, b = getattr(m1, attr), getattr(m2, attr)
        assert a.dtype.kind == b.dtype.kind and np.array_equal(a, b, equal_nan=True), attr
    if hasattr(m1, "_psf"):
        assert m1._oversampling == m2._oversampling
        assert (m1._psf is None) == (m2._psf is None)
        if m1._psf is not None:
            assert np.array_equal(m1._psf, m2._psf)
    assert len(m1) == len(m2)
    for c1_, c2_ in zip(m1, m2):
        assert type(c1_) is type(c2_)
        assert c1_.name == c2_.name
        assert c1_._active == c2_._active
        assert (c1_._active_array is None) == (c2_._active_array is None)
        if c1_._active_array is not None:
            assert np.array_equal(c1_._active_array, c2_._active_array)
        assert getattr(c1_, "_init_kwargs", None) == getattr(c2_, "_init_kwargs", None)
        assert getattr(c1_, "_order", None) == getattr(c2_, "_order", None)
        assert getattr(c1_, "_add_rotation", None) == getattr(c2_, "_add_rotation", None)
        assert [p.name for p in c1_.parameters] == [p.name for p in c2_.parameters]
        for p1, p2 in zip(c1_.parameters, c2_.parameters):
            assert p2.map.dtype == MAP_DTYPE and p1.map.shape == p2.map.shape
            for field in MAP_DTYPE.names:
                assert np.array_equal(p1.map[field], p2.map[field], equal_nan=True), (p1, field)
            for attr in ("_free", "free", "bmin", "bmax", "units", "ext_bounded", "ext_force_positive",
                         "twin_function_expr", "twin_inverse_function_expr", "_inverse_is_automatic",
                         "expr", "_linear"):
                assert getattr(p1, attr) == getattr(p2, attr), (p1, attr)
            assert _twin_path(p1) == _twin_path(p2)
            assert p1.value == p2.value
    assert np.array_equal(m1.as_signal().data, m2.as_signal().data, equal_nan=True)


def roundtrip(model, tmp_path, name="m"):
    fn = tmp_path / "model.hspy"
    save_model(model, fn, name)
    s = load(fn)
    assert_signals_equal(model.signal, s)
    m2 = s.models_stored[name]()
    assert_models_equal(model, m2)
    return m2


# ------------------------------------------------------------ random models
KINDS = ["Gaussian", "Lorentzian", "Polynomial", "Offset", "PowerLaw", "Expression"]


def _make_component(kind, order):
    if kind == "Polynomial":
        return c1.Polynomial(order=order)
    if kind == "Expression":
        return c1.Expression("a*x**2 + b", "quad", position="b", linear_parameter_list=["b"])
    return getattr(c1, kind)()


@st.composite
def model_specs(draw):
    return {
        "nav": draw(st.sampled_from([(), (3, 4)])),
        "kinds": draw(st.lists(st.sampled_from(KINDS), min_size=3, max_size=5)),
        "orders": draw(st.lists(st.integers(0, 3), min_size=5, max_size=5)),
        "uniform": draw(st.booleans()),
        "inverse": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def build_model(spec):
    rng = np.random.default_rng(spec["seed"])
    nav = spec["nav"]
    n = 40
    sig_axis = {"scale": 0.25, "offset": 1.0, "units": "eV", "name": "Energy", "is_binned": bool(rng.integers(2))}
    if not spec["uniform"]:
        sig_axis = {"axis": 1.0 + np.cumsum(rng.uniform(0.1, 0.4, n)), "units": "eV"}
    axes = [{"scale": 2.0, "offset": -1.0, "units": "nm", "navigate": True} for _ in nav] + [sig_axis]
    s = hs.signals.Signal1D(rng.normal(size=nav + (n,)), axes=axes,
                            metadata={"General": {"title": "random"}, "Extra": {"k": 3, "f": 2.5, "b": True,
                                                                                  "arr": np.arange(3.0)}})
    s.set_noise_variance(np.abs(rng.normal(size=s.data.shape)) if rng.integers(2) else 0.5)
    m = s.create_model()
    for i, kind in enumerate(spec["kinds"]):
        m.append(_make_component(kind, spec["orders"][i]))
    for comp in m:
        for p in comp.parameters:
            p.map["values"] = rng.uniform(0.5, 2.0, nav)
            std = rng.uniform(0.0, 1.0, nav)
            std[rng.random(nav) < 0.3] = np.nan
            p.map["std"] = std
            p.map["is_set"] = rng.random(nav) < 0.5
            p.free = bool(rng.integers(2))
            lo = None if rng.integers(2) else float(rng.uniform(-1, 0))
            p.bmin = lo
            p.bmax = None if rng.integers(2) else float(rng.uniform(2, 3))
            p.units = [None, "eV", "counts"][rng.integers(3)]
            p.ext_bounded = bool(rng.integers(2))
            p.ext_force_positive = bool(rng.integers(2))
    params = m._all_parameters()
    i, j, k = rng.choice(len(params), 3, replace=False)
    twin, target, tied = params[i], params[j], params[k]
    twin.twin = target
    twin.twin_function_expr = "2*x + 1"
    if spec["inverse"]:
        twin.twin_inverse_function_expr = "(x - 1)/2"
    tied.expr = f"3*{target.component.name}.{target.name} + 1"
    comp = m[int(rng.integers(len(m)))]
    comp.active_is_multidimensional = True
    comp._active_array[...] = rng.random(comp._active_array.shape) < 0.5
    if not comp._active_array.any():
        comp._active_array.flat[0] = True
    m[int(rng.integers(len(m)))]._active = bool(rng.integers(2))
    ax = m.axis.axis
    m.set_signal_range(float(ax[rng.integers(0, 10)]), float(ax[rng.integers(20, n)]))
    m.remove_signal_range(float(ax[12]), float(ax[14]))
    m._chisq = rng.normal(size=nav)
    m._nfev = rng.integers(0, 100, nav)
    return m


@settings(max_examples=20, derandomize=True, database=None, deadline=None)
@given(model_specs())
def test_random_1d_models_round_trip(tmp_path_factory, spec):
    m = build_model(spec)
    roundtrip(m, tmp_path_factory.mktemp("rt"))


def make_2d_model():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:12, 0:10]
    img = 5 * np.exp(-((xx - 4.5) ** 2 / 4 + (yy - 6.0) ** 2 / 2)) + 1 + rng.normal(0, 0.05, (12, 10))
    s = hs.signals.Signal2D(img, axes=[{"scale": 1.0}, {"scale": 1.0}])
    m = s.create_model()
    g = c2.Gaussian2D(A=40.0, sigma_x=1.5, sigma_y=1.2, centre_x=4.0, centre_y=5.5, add_rotation=True)
    g.rotation_angle.value = 0.1
    m.append(g)
    m.append(c2.Offset(offset=0.5))
    mask = np.ones((12, 10), bool)
    mask[:2, :3] = False
    m.set_signal_range_from_mask(mask)
    psf = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0])
    m.set_psf(psf / psf.sum(), oversampling=2)
    return m


KINDS_2D = ["Gaussian2D", "Lorentzian2D", "Moffat2D", "Sersic2D", "Polynomial2D", "Offset", "Expression"]


def _make_component_2d(kind, order, rotation):
    if kind == "Polynomial2D":
        return c2.Polynomial2D(order=order)
    if kind == "Expression":
        return c2.Expression("h * exp(-((x - cx)**2 + (y - cy)**2) / w)", "blob", position=("cx", "cy"),
                             add_rotation=rotation)
    if kind in ("Gaussian2D", "Lorentzian2D"):
        return getattr(c2, kind)(add_rotation=rotation)
    return getattr(c2, kind)()


@st.composite
def model_specs_2d(draw):
    return {
        "nav": draw(st.sampled_from([(), (2, 3)])),
        "kinds": draw(st.lists(st.sampled_from(KINDS_2D), min_size=3, max_size=4)),
        "orders": draw(st.lists(st.integers(0, 2), min_size=4, max_size=4)),
        "rotation": draw(st.lists(st.booleans(), min_size=4, max_size=4)),
        "psf": draw(st.sampled_from([None, 1, 2])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def build_model_2d(spec):
    """A random Model2D: maps, free flags, bounds, a twin, an expr tie, an
    active array, a mask and (sometimes) a PSF with oversampling."""
    rng = np.random.default_rng(spec["seed"])
    nav = spec["nav"]
    axes = [{"scale": 2.0, "navigate": True} for _ in nav] + [{"scale": 0.5, "units": "px"}, {"scale": 0.5}]
    s = hs.signals.Signal2D(rng.normal(size=nav + (9, 8)), axes=axes)
    m = s.create_model()
    for i, kind in enumerate(spec["kinds"]):
        m.append(_make_component_2d(kind, spec["orders"][i], spec["rotation"][i]))
    for comp in m:
        for p in comp.parameters:
            p.map["values"] = rng.uniform(0.5, 2.0, nav)
            p.map["std"] = rng.uniform(0.0, 1.0, nav)
            p.map["is_set"] = rng.random(nav) < 0.5
            p.free = bool(rng.integers(2))
            p.bmin = None if rng.integers(2) else float(rng.uniform(-1, 0))
            p.bmax = None if rng.integers(2) else float(rng.uniform(2, 3))
    params = m._all_parameters()
    i, j, k = rng.choice(len(params), 3, replace=False)
    params[i].twin = params[j]
    params[i].twin_function_expr = "x / 2"
    params[k].expr = f"{params[j].component.name}.{params[j].name} - 1"
    comp = m[int(rng.integers(len(m)))]
    comp.active_is_multidimensional = True
    comp._active_array[...] = rng.random(comp._active_array.shape) < 0.5
    mask = rng.random((9, 8)) < 0.8
    mask[0, 0] = True
    m.set_signal_range_from_mask(mask)
    if spec["psf"] is not None:
        psf = rng.uniform(0.1, 1.0, (3, 3))
        m.set_psf(psf / psf.sum(), oversampling=spec["psf"])
    m._chisq = rng.normal(size=nav)
    m._status = rng.integers(-3, 4, nav)
    return m


@settings(max_examples=15, derandomize=True, database=None, deadline=None)
@given(model_specs_2d())
def test_random_2d_models_round_trip(tmp_path_factory, spec):
    m = build_model_2d(spec)
    roundtrip(m, tmp_path_factory.mktemp("rt2"))


def test_2d_model_round_trip(tmp_path):
    m = make_2d_model()
    m2 = roundtrip(m, tmp_path)
    assert m2[0]._add_rotation and m2.oversampling == 2


def test_fit_after_loading_matches_1d(tmp_path):
    rng = np.random.default_rng(7)
    x = np.linspace(0, 10, 80)
    centres = rng.uniform(4, 6, (3, 4))
    data = 10 * np.exp(-((x - centres[..., None]) ** 2) / 2) + 2 + rng.normal(0, 0.1, (3, 4, 80))
    s = hs.signals.Signal1D(data, axes=[{}, {}, {"scale": x[1] - x[0]}])
    m = s.create_model()
    m.append(c1.Gaussian(A=20.0, sigma=1.2, centre=5.0))
    m.append(c1.Offset(offset=1.0))
    m.set_signal_range(1.0, 9.0)
    fn = tmp_path / "fit.hspy"
    save_model(m, fn, "start")
    m.multifit()
    m2 = restore_model(fn, "start")
    m2.multifit()
    assert np.allclose(m2[0].centre.map["values"], centres, atol=0.1)
    assert_models_equal(m, m2)


def test_fit_after_loading_matches_2d(tmp_path):
    m = make_2d_model()
    fn = tmp_path / "fit2d.hspy"
    save_model(m, fn)
    m.fit()
    m2 = load(fn).models_stored["a"]()
    m2.fit()
    assert abs(m2[0].centre_x.value - 4.0) > 1e-3  # the fit moved the start values
    assert_models_equal(m, m2)


# ----------------------------------------------------------- file handling
def test_several_models_in_one_file(tmp_path):
    s = hs.signals.Signal1D(np.arange(20.0))
    m1 = s.create_model()
    m1.append(c1.Offset(offset=3.0))
    m2 = s.create_model()
    m2.append(Line(a=2.0, b=1.0))
    fn = tmp_path / "multi.hspy"
    assert save_model(m1, fn) == "a"
    assert save_model(m2, fn) == "b"
    save_model(m2, fn, "line")
    with pytest.raises(ValueError, match="already holds"):
        save_model(m1, fn, "line", overwrite=False)
    loaded = load(fn)
    assert sorted(loaded.models_stored) == ["a", "b", "line"]
    assert_models_equal(m1, loaded.models_stored["a"]())
    assert_models_equal(m2, restore_model(loaded, "line"))
    other = hs.signals.Signal1D(np.arange(5.0)).create_model()
    with pytest.raises(ValueError, match="shape"):
        save_model(other, fn, "x")


def test_signal_round_trip(tmp_path):
    s = hs.BaseSignal(np.arange(24, dtype=np.int16).reshape(2, 3, 4),
                      axes=[{"navigate": True, "name": "t", "units": "s"},
                            {"axis": np.array([0.0, 1.0, 3.0])}, {"scale": 0.5, "offset": 2.0}],
                      metadata={"General": {"title": "raw"}, "L": {"lst": [1, "two", 3.0, None, (1, 2)]}},
                      original_metadata={"c": 1 + 2j, "e": {}})
    s.set_noise_variance(2.0)
    s.axes_manager._axes[0].index = 1
    fn = tmp_path / "sig.hspy"
    save_signal(s, fn)
    s2 = load(fn)
    assert_signals_equal(s, s2)
    assert s2.models_stored == {}
    assert s2.metadata.General.title == "raw"


def test_unstorable_values_are_refused(tmp_path):
    s = hs.signals.Signal1D(np.zeros(4), metadata={"bad": {"obj": object()}})
    with pytest.raises(ValueError, match="bad.obj"):
        save_signal(s, tmp_path / "bad.hspy")


# ---------------------------------------------------------- crafted files
def _expression_file(tmp_path):
    s = hs.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(c1.Expression("a*x + b", "lin"))
    m.append(c1.Gaussian())
    m[1].sigma.twin = m[0].a
    fn = tmp_path / "crafted.hspy"
    save_model(m, fn, "m")
    return fn


def test_malicious_expression_is_not_executed(tmp_path):
    fn = _expression_file(tmp_path)
    marker = tmp_path / "pwned"
    with h5py.File(fn, "a") as f:
        f["models/m/components/000/init"].attrs["expression"] = f"__import__('os').system('touch {marker}')"
    with pytest.raises(ExpressionError):
        restore_model(fn, "m")
    with h5py.File(fn, "a") as f:
        f["models/m/components/000/init"].attrs["expression"] = "__import__('os').system('touch /tmp/x')"
    with pytest.raises(ExpressionError):
        load(fn).models_stored["m"]()
    assert not marker.exists()


@pytest.mark.parametrize("module, qualname", [
    ("os", "system"),
    ("builtins", "eval"),
    ("swiftfit.components.peaks", "np"),
    ("swiftfit.components.nonexistent", "Gaussian"),
    ("antigravity", "Anything"),
    ("swiftfit.component", "Component.__init__"),
])
def test_disallowed_class_paths(tmp_path, module, qualname):
    fn = _expression_file(tmp_path)
    with h5py.File(fn, "a") as f:
        g = f["models/m/components/001"]
        g.attrs["module"] = module
        g.attrs["qualname"] = qualname
    with pytest.raises(ValueError, match="components.001.module"):
        restore_model(fn, "m")
    assert "antigravity" not in sys.modules


def test_pickled_bytes_are_refused(tmp_path):
    fn = _expression_file(tmp_path)
    payload = pickle.dumps({"x": 1})
    with h5py.File(fn, "a") as f:
        g = f["models/m/components/001/parameters/A"]
        del g["values"]
        g.create_dataset("values", data=np.void(payload))
    with pytest.raises(ValueError, match="parameters.A.values"):
        restore_model(fn, "m")
    fn = _expression_file(tmp_path)
    with h5py.File(fn, "a") as f:
        f["models/m/components/001/parameters/sigma"].attrs["twin"] = np.void(payload)
    with pytest.raises(ValueError, match="parameters.sigma.twin"):
        restore_model(fn, "m")
    fn = _expression_file(tmp_path)
    with h5py.File(fn, "a") as f:
        f["models/m/components/000/init"].attrs["expression"] = np.bytes_(payload)
    with pytest.raises(ValueError, match="init.expression"):
        restore_model(fn, "m")
    fn = _expression_file(tmp_path)
    with h5py.File(fn, "a") as f:
        f["signal/metadata/General"].attrs["title"] = np.void(payload)
    with pytest.raises(ValueError, match="General.title"):
        load(fn)


def test_bad_signal_class_and_non_swiftfit_file(tmp_path):
    fn = _expression_file(tmp_path)
    with h5py.File(fn, "a") as f:
        f["signal"].attrs["class"] = "swiftfit.io.hdf5_model.StoredModel"
    with pytest.raises(ValueError, match="signal.class"):
        load(fn)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a swiftfit"):
        load(other)


def test_unknown_class_needs_import_or_registration(tmp_path):
    class Hidden(Line):
        pass

    Hidden.__module__ = "swiftfit_tests_not_a_module"
    Hidden.__qualname__ = "Hidden"
    s = hs.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(Hidden(a=1.0, b=2.0))
    fn = tmp_path / "hidden.hspy"
    save_model(m, fn, "m")
    with pytest.raises(ValueError, match="not allowed"):
        restore_model(fn, "m")
    with pytest.raises(ValueError, match="not allowed"):
        restore_model(fn, "m", allow_import=True)  # not importable either
    register_component(Hidden)
    try:
        assert_models_equal(m, restore_model(fn, "m"))
    finally:
        hdf5_model._REGISTRY.pop(("swiftfit_tests_not_a_module", "Hidden"))


def test_scalable_fixed_pattern_round_trip(tmp_path):
    x = np.linspace(0, 10, 50)
    pattern = hs.signals.Signal1D(np.exp(-(x - 5) ** 2), axes=[{"scale": x[1], "offset": 0.0}])
    s = hs.signals.Signal1D(np.exp(-(x - 5.5) ** 2), axes=[{"scale": x[1], "offset": 0.0}])
    m = s.create_model()
    m.append(c1.ScalableFixedPattern(pattern, yscale=1.5, shift=0.3))
    m2 = roundtrip(m, tmp_path)
    assert m2[0].interpolate


def test_public_save_and_load(tmp_path):
    """m.save / swiftfit.load: the restored model evaluates identically."""
    import numpy as np

    import swiftfit as hs

    s = hs.signals.Signal1D(np.arange(50.0) ** 0.5)
    m = s.create_model()
    m.append(hs.model.components1D.Polynomial(order=2))
    m.fit()
    name = m.save(tmp_path / "fit.h5", "quad")
    assert name == "quad"
    loaded = hs.load(tmp_path / "fit.h5")
    m2 = loaded.models_stored["quad"]()
    np.testing.assert_array_equal(m2.as_signal().data, m.as_signal().data)
