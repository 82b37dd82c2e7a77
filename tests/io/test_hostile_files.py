"""Issue 19, "Leaked", "Hung" and "Unclear errors" (file cases): crafted files
are refused with a documented swiftfit error, quickly, without reading any
other file. Each case failed (read the other file, hung, or raised a raw
error) before the fix."""

from __future__ import annotations

import os
import time

import h5py
import numpy as np
import pytest
from hostile_files import SENTINEL, SentinelWatch, atime_works, hspy_file, swiftfit_h5, write_sentinel, zarr_store

import swiftfit as sf
from swiftfit.components import components1d as C1
from swiftfit.errors import FileFormatError, FileLimitError, InvalidInputError, InvalidTypeError, UnsafeFileError
from swiftfit.io.safety import read_npy
from swiftfit.signals import Signal1D

pytest.importorskip("dask")

BUILDERS = {"h5": swiftfit_h5, "hspy": hspy_file}


def _load(path, lazy):
    s = sf.load(path, lazy=lazy)
    if lazy:
        s = s.compute()
    return s


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("fmt", ["h5", "hspy"])
@pytest.mark.parametrize("feature", ["external", "virtual", "meta_external", "extlink", "soft"])
def test_files_that_point_outside_themselves_are_refused(tmp_path, fmt, lazy, feature):
    path = BUILDERS[fmt](tmp_path / f"x.{fmt}", [feature])
    watch = SentinelWatch(*write_sentinel(tmp_path)) if atime_works(tmp_path) else None
    with pytest.raises(UnsafeFileError, match="external|virtual|links are not allowed"):
        _load(path, lazy)
    if watch is not None:
        assert watch.touched() == []


def test_a_leaked_file_is_never_copied_into_results(tmp_path):
    """m.save / s.save of a signal whose stored model group carries external storage."""
    path = swiftfit_h5(tmp_path / "x.h5")
    s = sf.load(path)
    m = s.create_model()
    m.append(C1.Offset())
    m.save(path, name="a")
    raw, _ = write_sentinel(tmp_path)
    with h5py.File(path, "a") as f:
        f["models/a"].create_dataset("leak", shape=(64,), dtype="f8", external=[(raw, 0, 512)])
    s = sf.load(path)
    with pytest.raises(UnsafeFileError, match="external raw storage"):
        s.save(tmp_path / "copy.h5")
    assert not (tmp_path / "copy.h5").exists()


def test_cli_refuses_external_storage_with_exit_2(tmp_path, capsys):
    from swiftfit.cli import main

    path = swiftfit_h5(tmp_path / "x.h5", ["external"])
    spec = tmp_path / "m.json"
    spec.write_text('{"components": [{"type": "Offset"}]}')
    code = main(["fit", path, "-m", str(spec), "--out", str(tmp_path / "out.h5")])
    err = capsys.readouterr().err
    assert code == 2 and "external raw storage" in err and "Traceback" not in err
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("fmt", ["h5", "hspy"])
def test_hard_link_diamond_fails_fast(tmp_path, fmt, lazy):
    """30 levels, each group linked twice from the previous: 2**30 paths in a small file."""
    path = BUILDERS[fmt](tmp_path / f"x.{fmt}", ["diamond"])
    assert os.path.getsize(path) < 200_000
    start = time.perf_counter()
    with pytest.raises(FileLimitError, match="reached twice through hard links"):
        _load(path, lazy)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("fmt", ["h5", "hspy"])
def test_wide_tree_hits_the_node_budget_fast(tmp_path, fmt, monkeypatch):
    from swiftfit.io import safety

    monkeypatch.setattr(safety.limits, "max_tree_nodes", 500)
    path = BUILDERS[fmt](tmp_path / f"x.{fmt}")
    meta = "signal/metadata" if fmt == "h5" else "Experiments/spectra/metadata"
    with h5py.File(path, "a") as f:
        for i in range(600):
            f[meta].create_group(f"g{i}")
    start = time.perf_counter()
    with pytest.raises(FileLimitError, match="more than 500 nodes"):
        sf.load(path)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("fmt", ["h5", "hspy"])
def test_declared_size_is_checked_before_allocation(tmp_path, fmt):
    path = BUILDERS[fmt](tmp_path / f"x.{fmt}", ["huge"])
    assert os.path.getsize(path) < 1_000_000
    with pytest.raises(FileLimitError, match="declares an array of shape"):
        sf.load(path)


def test_npy_header_declaring_1e10_elements(tmp_path, capsys):
    path = tmp_path / "big.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header["shape"] = (10**10,)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 80)
    with pytest.raises(FileFormatError, match=r"declares|holds 80 bytes"):
        read_npy(path)
    from swiftfit.cli import main

    spec = tmp_path / "m.json"
    spec.write_text('{"components": [{"type": "Offset"}]}')
    start = time.perf_counter()
    code = main(["fit", str(path), "-m", str(spec)])
    err = capsys.readouterr().err
    assert code == 2 and "big.npy" in err and "Traceback" not in err
    assert time.perf_counter() - start < 2.0


def test_truncated_npy_is_refused_before_allocation(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.arange(1000.0))
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(FileFormatError, match="holds .* bytes of data"):
        read_npy(path)


@pytest.mark.parametrize("feature, match", [
    ("string_data", "numeric"),
    ("ragged", "rectangular"),
    ("neg_variance", "variance_scalar"),
    ("neg_variance_array", "negative"),
    ("symlink", "symbolic link"),
    ("deep_json", "nested"),
    ("many_nodes", "nodes"),
    ("bad_attrs", "size"),
    ("bad_index", "integers"),
])
def test_crafted_zarr_stores_are_refused(tmp_path, feature, match):
    pytest.importorskip("zarr")
    path = zarr_store(tmp_path / "x.zarr", [feature])
    with pytest.raises(FileFormatError, match=match):
        s = sf.load(path, lazy=True)
        s.compute()
        s.metadata.Signal.Noise_properties.variance.data.compute()


def test_stored_variance_is_validated_as_the_setter(tmp_path):
    s = Signal1D(np.ones((2, 8)))
    s.set_noise_variance(np.ones((2, 8)))
    sf.io.save_signal(s, tmp_path / "v.h5")
    with h5py.File(tmp_path / "v.h5", "a") as f:
        f["signal/metadata/Signal/Noise_properties/variance/data"][0, 0] = -1.0
    with pytest.raises(FileFormatError, match="non-negative"):
        sf.load(tmp_path / "v.h5")


def test_stored_base_component_is_refused_on_load(tmp_path):
    s = Signal1D(np.ones((2, 8)))
    m = s.create_model()
    m.append(C1.Offset())
    m.save(tmp_path / "m.h5", name="a")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        g = f["models/a/components/000"]
        g.attrs["module"], g.attrs["qualname"] = "swiftfit.component", "Component"
        del g["init"]
        init = g.create_group("init")
        init.attrs["parameter_name_list"] = "offset"
        del init.attrs["parameter_name_list"]
        lst = init.create_group("parameter_name_list")
        lst.attrs["_sf_kind"] = "list"
        lst.attrs["0"] = "offset"
    with pytest.raises(FileFormatError, match="defines no `function`"):
        sf.load(tmp_path / "m.h5").models_stored["a"]()


@pytest.mark.parametrize("where", ["constructor", "h5", "hspy"])
def test_polynomial_order_is_capped(tmp_path, where):
    start = time.perf_counter()
    if where == "constructor":
        with pytest.raises(InvalidInputError, match="between 0 and 100"):
            C1.Polynomial(order=10**7)
    elif where == "h5":
        s = Signal1D(np.ones((2, 8)))
        m = s.create_model()
        m.append(C1.Polynomial(order=1))
        m.save(tmp_path / "p.h5", name="a")
        with h5py.File(tmp_path / "p.h5", "a") as f:
            f["models/a/components/000/init"].attrs["order"] = np.int64(10**7)
        with pytest.raises(FileFormatError, match="between 0 and 100"):
            sf.load(tmp_path / "p.h5").models_stored["a"]()
    else:
        path = hspy_file(tmp_path / "p.hspy")
        with h5py.File(path, "a") as f:
            f["Experiments/spectra"].attrs  # the model points at this group
            d = f.create_group("Analysis/models/a/_dict")
            f["Analysis/models/a"].attrs["_signal"] = "/Experiments/spectra"
            c = d.create_group("_list_1_components/0")
            c.attrs.update({"_id_name": "Polynomial", "name": "p", "order": 10**7})
            c.create_group("_whitelist").attrs["order"] = "init"
        with pytest.raises(InvalidInputError, match="between 0 and 100"):
            sf.load(path).models_stored["a"]()
    assert time.perf_counter() - start < 1.0


def test_pattern_length_is_capped():
    from swiftfit.components.pattern import MAX_PATTERN_POINTS

    x = np.zeros(MAX_PATTERN_POINTS + 1, dtype=np.float32)
    with pytest.raises(InvalidInputError, match="at most"):
        C1.ScalableFixedPattern((x, x))


@pytest.mark.parametrize("bad", [np.ones(8) + 1j, np.array(["a", "b"]), np.array([object(), 1], dtype=object)])
def test_complex_string_and_object_data_are_refused_at_the_signal(bad):
    with pytest.raises(InvalidTypeError, match="must be real numbers"):
        Signal1D(bad)
    s = Signal1D(np.ones(bad.shape))
    with pytest.raises(InvalidTypeError, match="must be real numbers"):
        s.data = bad
    with pytest.raises(InvalidTypeError, match="must be real numbers"):
        s.as_lazy().data = bad


def test_loaded_values_never_hold_the_sentinel(tmp_path):
    """The clean file loads, and nothing of the sentinel is in it (the fixture is sound)."""
    s = sf.load(swiftfit_h5(tmp_path / "x.h5"))
    assert not np.any(s.data == SENTINEL)
    assert s.data.shape == (2, 16)
