"""Property tests: files built from a grammar of hostile features (external
storage, virtual datasets, soft/external links, hard-link diamonds, huge
declared shapes, bad dtypes, deep nesting, bad attributes, pickled payloads;
for zarr: symbolic links, string data, ragged arrays, negative variances...)
are refused, by every read path, with a documented swiftfit error, within a
time budget, without reading any file outside the input and without running
code.

The default suite runs a few examples per property (``SWIFTFIT_FUZZ`` unset);
``make fuzz`` sets ``SWIFTFIT_FUZZ=long`` for many more.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings

import numpy as np
import pytest
from hostile_files import (
    DATA_FEATURES,
    HOSTILE_EXCEPTIONS,
    SENTINEL,
    TREE_FEATURES,
    ZARR_FEATURES,
    SentinelWatch,
    atime_works,
    hspy_file,
    swiftfit_h5,
    write_sentinel,
    zarr_store,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import swiftfit as sf

pytest.importorskip("dask")

settings.register_profile("default", max_examples=12, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=400, deadline=None, derandomize=False, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("SWIFTFIT_FUZZ", "default")
TIME_BUDGET = 2.0  # seconds per read, on a loaded CI machine

@pytest.fixture(scope="module", autouse=True)
def _warm():
    """Import what the lazy and zarr paths import once, outside the time budget."""
    folder = tempfile.mkdtemp()
    try:
        _read(swiftfit_h5(os.path.join(folder, "w.h5")), True)
        if zarr_ok():
            _read(zarr_store(os.path.join(folder, "w.zarr")), True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def zarr_ok() -> bool:
    try:
        import zarr  # noqa: F401
    except ImportError:
        return False
    return True


features_h5 = st.tuples(st.lists(st.sampled_from(DATA_FEATURES), max_size=1),
                        st.lists(st.sampled_from(TREE_FEATURES), max_size=3, unique=True)).map(
    lambda t: t[0] + t[1]).filter(bool)
features_zarr = st.lists(st.sampled_from(ZARR_FEATURES), min_size=1, max_size=3, unique=True)


def _read(path, lazy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = sf.load(path, lazy=lazy)
        if lazy:
            s = s.compute()
        var = s.metadata.get_item("Signal.Noise_properties.variance")
        for model in getattr(s, "models_stored", {}).values():
            model()
    return s, var


def _check_refused(folder, path, lazy):
    watch = SentinelWatch(*write_sentinel(folder)) if atime_works(folder) else None
    cwd = os.getcwd()
    os.chdir(folder)  # a payload that ran would leave ./PWNED here
    start = time.perf_counter()
    try:
        with pytest.raises(HOSTILE_EXCEPTIONS) as info:
            s, var = _read(path, lazy)
            # reaching here is a failure; say what leaked
            values = [np.asarray(s.data)] + ([np.asarray(getattr(var, "data", var))] if var is not None else [])
            pytest.fail(f"loaded; sentinel in the values: {any(np.any(v == SENTINEL) for v in values)}")
    finally:
        os.chdir(cwd)
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_BUDGET, (elapsed, info.value)
    assert str(path) in str(info.value), info.value  # the error names the input
    assert not os.path.exists(os.path.join(folder, "PWNED"))
    if watch is not None:
        assert watch.touched() == [], f"read a file outside the input: {info.value}"


@settings(settings.get_profile(PROFILE))
@given(features=features_h5, fmt=st.sampled_from(["h5", "hspy"]), lazy=st.booleans())
def test_hostile_hdf5_files_are_refused(features, fmt, lazy):
    folder = tempfile.mkdtemp()
    try:
        build = swiftfit_h5 if fmt == "h5" else hspy_file
        path = build(os.path.join(folder, f"x.{fmt}"), features)
        _check_refused(folder, path, lazy)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(settings.get_profile(PROFILE), max_examples=5 if PROFILE == "default" else 200)
@given(features=features_zarr)
def test_hostile_zarr_stores_are_refused(features):
    pytest.importorskip("zarr")
    folder = tempfile.mkdtemp()
    try:
        path = zarr_store(os.path.join(folder, "x.zarr"), features)
        _check_refused(folder, path, True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(settings.get_profile(PROFILE))
@given(data=st.binary(min_size=0, max_size=300), header_shape=st.lists(st.integers(0, 10**6), max_size=4))
def test_random_npy_headers_never_allocate_or_crash(data, header_shape):
    folder = tempfile.mkdtemp()
    try:
        path = os.path.join(folder, "x.npy")
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
        header["shape"] = tuple(header_shape)
        with open(path, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            fh.write(data)
        from swiftfit.io.safety import read_npy

        start = time.perf_counter()
        try:
            arr = read_npy(path)
        except sf.errors.FileFormatError:
            pass
        else:
            assert arr.shape == tuple(header_shape) and arr.nbytes <= len(data)
        assert time.perf_counter() - start < TIME_BUDGET
    finally:
        shutil.rmtree(folder, ignore_errors=True)
