"""m.save_parameters2file / m.load_parameters_from_file: .npz without pickle."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from test_hdf5_roundtrip import build_model

from swiftfit.components import components1d as c1
from swiftfit.parameters import MAP_DTYPE

SPEC = {"nav": (3, 4), "kinds": ["Gaussian", "Polynomial", "Expression", "Lorentzian"],
        "orders": [0, 2, 0, 0, 0], "uniform": True, "inverse": True, "seed": 5}


def _state(m):
    out = {}
    for c in m:
        for p in c.parameters:
            out[(c.name, p.name)] = (
                p.map.copy(), p._free, p.bmin, p.bmax,
                None if p.twin is None else (p.twin.component.name, p.twin.name),
                p.twin_function_expr, p._inverse_is_automatic, p.twin_inverse_function_expr, p.expr,
            )
    return out


def assert_states_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        (map1, *rest1), (map2, *rest2) = a[key], b[key]
        assert map2.dtype == MAP_DTYPE
        for field in MAP_DTYPE.names:
            assert np.array_equal(map1[field], map2[field], equal_nan=True), (key, field)
        assert rest1 == rest2, key


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_round_trip_is_exact(tmp_path, seed):
    src = build_model(dict(SPEC, seed=seed))
    dst = build_model(dict(SPEC, seed=seed + 100))  # same components, other values and ties
    assert not np.array_equal(src[0].A.map["values"], dst[0].A.map["values"])
    src.save_parameters2file(tmp_path / "p.npz")
    dst.load_parameters_from_file(tmp_path / "p.npz")
    assert_states_equal(_state(src), _state(dst))


def test_extension_is_added_like_numpy(tmp_path):
    src = build_model(SPEC)
    src.save_parameters2file(str(tmp_path / "params"))
    assert (tmp_path / "params.npz").exists()
    dst = build_model(dict(SPEC, seed=99))
    dst.load_parameters_from_file(str(tmp_path / "params"))
    assert_states_equal(_state(src), _state(dst))


def test_keys_are_hyperspys(tmp_path):
    src = build_model(SPEC)
    src.save_parameters2file(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as data:
        assert "0_gaussian.a" in data.files and "1_polynomial.a2" in data.files
        stored = data["3_lorentzian.gamma"]
        for field in MAP_DTYPE.names:
            assert np.array_equal(stored[field], src[3].gamma.map[field], equal_nan=True)


def test_hyperspy_file_sets_maps_only(tmp_path):
    """A file as HyperSpy writes it (maps under index_name.param, no metadata)."""
    rng = np.random.default_rng(1)
    m = build_model(SPEC)
    maps = {}
    for i, c in enumerate(m):
        for p in c.parameters:
            a = np.zeros(p.map.shape, MAP_DTYPE)
            a["values"] = rng.normal(size=a.shape)
            maps[f"{i}_{c.name.lower()}.{p.name.lower()}"] = a
    np.savez(tmp_path / "hs.npz", **maps)
    free_before = [p._free for p in m._all_parameters()]
    m.load_parameters_from_file(tmp_path / "hs.npz")
    for i, c in enumerate(m):
        for p in c.parameters:
            assert np.array_equal(p.map, maps[f"{i}_{c.name.lower()}.{p.name.lower()}"])
    assert [p._free for p in m._all_parameters()] == free_before


def test_different_components_are_named(tmp_path):
    src = build_model(SPEC)
    src.save_parameters2file(tmp_path / "p.npz")
    other = build_model(dict(SPEC, kinds=["Gaussian", "Polynomial", "Expression", "Offset"]))
    before = _state(other)
    with pytest.raises(ValueError, match=r"only in the file: \['Lorentzian'\].*only in the model: \['Offset'\]"):
        other.load_parameters_from_file(tmp_path / "p.npz")
    assert_states_equal(before, _state(other))
    cubic = build_model(dict(SPEC, orders=[0, 3, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"Polynomial: file parameters \['a0', 'a1', 'a2'\], model parameters "
                                         r"\['a0', 'a1', 'a2', 'a3'\]"):
        cubic.load_parameters_from_file(tmp_path / "p.npz")
    wrong_nav = build_model(dict(SPEC, nav=()))
    with pytest.raises(ValueError, match="shape"):
        wrong_nav.load_parameters_from_file(tmp_path / "p.npz")


def _rewrite(src, dst, change):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    np.savez(dst, **arrays)


def _meta_change(edit):
    def change(arrays):
        meta = json.loads(str(arrays["swiftfit_parameters"][()]))
        edit(meta)
        arrays["swiftfit_parameters"] = np.array(json.dumps(meta))
    return change


CRAFTED = {
    "object_array": (lambda a: a.__setitem__("0_gaussian.a", np.array([{"x": 1}], dtype=object)), "pickle"),
    "object_meta": (lambda a: a.__setitem__("swiftfit_parameters", np.array([print], dtype=object)), "pickle"),
    "bad_json": (lambda a: a.__setitem__("swiftfit_parameters", np.array("{not json")), "JSON"),
    "free_as_str": (_meta_change(lambda m: m["components"][0]["parameters"][0].__setitem__("free", "yes")),
                    "free"),
    "bmin_above_bmax": (_meta_change(lambda m: m["components"][1]["parameters"][0].update(bmin=5.0, bmax=1.0)),
                        "bmin"),
    "unknown_twin": (_meta_change(lambda m: m["components"][0]["parameters"][0].__setitem__("twin", "Nope.a")),
                     "Nope.a"),
    "bad_expr": (_meta_change(lambda m: m["components"][0]["parameters"][1].__setitem__("expr", "__import__('os')")),
                 "__import__"),
    "map_dtype": (lambda a: a.__setitem__("0_gaussian.a", np.zeros((4, 3))), "dtype"),
    "map_shape": (lambda a: a.__setitem__("0_gaussian.a", np.zeros((2, 2), MAP_DTYPE)), "shape"),
    "missing_map": (lambda a: a.pop("0_gaussian.a"), "no map"),
    "future_version": (_meta_change(lambda m: m.__setitem__("version", 99)), "version 99"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_files_are_refused_and_change_nothing(tmp_path, case):
    change, message = CRAFTED[case]
    src = build_model(SPEC)
    src.save_parameters2file(tmp_path / "p.npz")
    _rewrite(tmp_path / "p.npz", tmp_path / "bad.npz", change)
    dst = build_model(dict(SPEC, seed=77))
    before = _state(dst)
    with pytest.raises(ValueError, match=message):
        dst.load_parameters_from_file(tmp_path / "bad.npz")
    assert_states_equal(before, _state(dst))


def test_non_npz_files_are_refused(tmp_path):
    m = build_model(SPEC)
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps({"a": 1}))
    np.save(tmp_path / "one.npy", np.zeros(3))
    (tmp_path / "text.npz").write_text("hello")
    for name in ("pickle.npz", "one.npy", "text.npz"):
        with pytest.raises(ValueError, match="`filename`"):
            m.load_parameters_from_file(tmp_path / name)
    with pytest.raises(ValueError, match="`filename`"):
        m.load_parameters_from_file(tmp_path / "missing.npz")


def test_scalar_model(tmp_path):
    import swiftfit as hs

    s = hs.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(c1.Gaussian(A=3.0, centre=4.0, sigma=1.5))
    m[0].centre.bmin, m[0].centre.bmax = 2.0, 8.0
    m.save_parameters2file(tmp_path / "s.npz")
    m2 = s.create_model()
    m2.append(c1.Gaussian())
    m2.load_parameters_from_file(tmp_path / "s.npz")
    assert_states_equal(_state(m), _state(m2))
