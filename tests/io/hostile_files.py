"""Builders of hostile files (HDF5 in swiftfit's layout, HyperSpy ``.hspy``, zarr)
from a grammar of features, shared by the regression and the fuzz tests.

Every builder writes a small valid file, then applies the requested hostile
features. A *sentinel* file outside the input holds the value ``SENTINEL``
(as float64) everywhere; a reader that followed external storage, a virtual
dataset or a link would put that value into the loaded signal, and would
update the sentinel's access time (checked by :func:`SentinelWatch`).
"""

from __future__ import annotations

import os
import pickle
import time

import h5py
import numpy as np

import swiftfit as sf
from swiftfit.signals import Signal1D

SENTINEL = 7777.25
H5_FEATURES = ("external", "virtual", "soft", "extlink", "diamond", "huge", "bad_dtype", "deep",
               "bad_attr", "meta_external", "pickle_attr", "complex_data")
ZARR_FEATURES = ("symlink", "string_data", "ragged", "neg_variance", "neg_variance_array", "many_nodes",
                 "deep_json", "bad_attrs", "bad_index")
# each of these replaces the signal's data: at most one per file
DATA_FEATURES = ("external", "virtual", "soft", "huge", "bad_dtype", "pickle_attr", "complex_data")
TREE_FEATURES = tuple(f for f in H5_FEATURES if f not in DATA_FEATURES)
HOSTILE_EXCEPTIONS = (sf.errors.FileFormatError, sf.errors.ExpressionError)


def write_sentinel(folder) -> tuple[str, str]:
    """A raw sentinel file and an HDF5 sentinel file (dataset ``/x``)."""
    raw = os.path.join(folder, "sentinel.bin")
    np.full(64, SENTINEL).tofile(raw)
    h5 = os.path.join(folder, "sentinel.h5")
    with h5py.File(h5, "w") as f:
        f["x"] = np.full(64, SENTINEL)
        f.create_group("g").attrs["v"] = SENTINEL
    return raw, h5


class SentinelWatch:
    """Whether the sentinel files were read (their access time moved)."""

    def __init__(self, *paths: str) -> None:
        self.paths = paths
        old = time.time() - 10 * 86400
        for p in paths:
            os.utime(p, (old, os.stat(p).st_mtime))
        self.before = {p: os.stat(p).st_atime for p in paths}

    def touched(self) -> list[str]:
        return [p for p in self.paths if os.stat(p).st_atime != self.before[p]]


def atime_works(folder) -> bool:
    p = os.path.join(folder, "atime_probe")
    with open(p, "w") as fh:
        fh.write("x")
    old = time.time() - 10 * 86400
    os.utime(p, (old, old))
    with open(p) as fh:
        fh.read()
    return os.stat(p).st_atime != old


def _data(n=16, nav=2):
    rng = np.random.default_rng(0)
    return rng.normal(10.0, 1.0, (nav, n))


def _diamond(group, levels: int) -> None:
    """``levels`` groups, each linked twice from the previous one (the walk doubles per level)."""
    nodes = [group.create_group(f"level{i}") for i in range(levels)]
    for a, b in zip(nodes, nodes[1:]):
        a["left"] = b
        a["right"] = b


def _deep(group, depth: int) -> None:
    for i in range(depth):
        group = group.create_group(f"d{i}")


def _replace_dataset(group, key, **kw):
    del group[key]
    group.create_dataset(key, **kw)


def _apply_h5(f, signal_path: str, meta_path: str, feature: str, raw: str, h5: str, hspy: bool) -> None:
    sig = f[signal_path]
    meta = f[meta_path]
    shape = sig["data"].shape
    n = int(np.prod(shape))
    if feature == "external":
        _replace_dataset(sig, "data", shape=shape, dtype="f8", external=[(raw, 0, 8 * n)])
    elif feature == "virtual":
        layout = h5py.VirtualLayout(shape=shape, dtype="f8")
        source = h5py.VirtualSource(h5, "x", shape=(64,))
        for i in range(shape[0]):
            layout[i, :] = source[i * shape[1]:(i + 1) * shape[1]]
        del sig["data"]
        sig.create_virtual_dataset("data", layout, fillvalue=SENTINEL)
    elif feature == "soft":
        f["elsewhere"] = np.asarray(sig["data"])
        del sig["data"]
        sig["data"] = h5py.SoftLink("/elsewhere")
    elif feature == "extlink":
        meta["linked"] = h5py.ExternalLink(h5, "/g")
    elif feature == "diamond":
        _diamond(meta, 30)
    elif feature == "huge":
        _replace_dataset(sig, "data", shape=(10**6, 10**6), dtype="f8", chunks=(1, 1024))
    elif feature == "bad_dtype":
        _replace_dataset(sig, "data", data=np.array([[b"ab", b"cd"]] * shape[0]))
    elif feature == "deep":
        _deep(meta, 60)
    elif feature == "bad_attr":
        meta.attrs["compound"] = np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
        if hspy:
            sig["axis-1"].attrs["size"] = np.int64(-5)
        else:
            sig["axes/0"].attrs["size"] = "many"
    elif feature == "meta_external":
        meta.create_dataset("leak", shape=(64,), dtype="f8", external=[(raw, 0, 512)])
    elif feature == "pickle_attr":
        meta.attrs["payload"] = np.void(pickle.dumps(("os.system", "touch PWNED")))
        sig["data"].attrs["payload"] = np.void(pickle.dumps(("os.system", "touch PWNED")))
        _replace_dataset(sig, "data", data=np.void(pickle.dumps(("os.system", "touch PWNED"))))
    elif feature == "complex_data":
        _replace_dataset(sig, "data", data=np.asarray(sig["data"]).astype(complex) + 1j)
    else:  # pragma: no cover
        raise ValueError(feature)


def swiftfit_h5(path, features=(), folder=None) -> str:
    """A swiftfit HDF5 signal file with ``features`` applied."""
    folder = folder or os.path.dirname(path)
    raw, h5 = write_sentinel(folder)
    s = Signal1D(_data())
    s.metadata.set_item("Sample.elements", ["C"])
    sf.io.save_signal(s, path)
    with h5py.File(path, "a") as f:
        for feature in features:
            _apply_h5(f, "signal", "signal/metadata", feature, raw, h5, hspy=False)
    return str(path)


def hspy_file(path, features=(), folder=None) -> str:
    """A minimal HyperSpy 3.x file (as RosettaSciIO writes) with ``features`` applied."""
    folder = folder or os.path.dirname(path)
    raw, h5 = write_sentinel(folder)
    data = _data()
    with h5py.File(path, "w") as f:
        f.attrs["file_format"] = "HyperSpy"
        f.attrs["file_format_version"] = "3.2"
        g = f.create_group("Experiments/spectra")
        g["data"] = data
        for i, (n, nav) in enumerate(zip(data.shape, (True, False))):
            ax = g.create_group(f"axis-{i}")
            ax.attrs.update({"size": n, "scale": 1.0, "offset": 0.0, "navigate": nav,
                             "name": f"a{i}", "units": "eV"})
        md = g.create_group("metadata")
        md.create_group("General").attrs["title"] = "spectra"
        g.create_group("original_metadata")
        for feature in features:
            _apply_h5(f, "Experiments/spectra", "Experiments/spectra/metadata", feature, raw, h5, hspy=True)
    return str(path)


def zarr_store(path, features=(), folder=None) -> str:
    """A swiftfit zarr store with ``features`` applied."""
    import json

    import zarr

    folder = folder or os.path.dirname(path)
    raw, _ = write_sentinel(folder)
    s = Signal1D(_data())
    s.set_noise_variance(np.ones_like(s.data))
    sf.io.lazy_io.save_zarr(s, path)
    root = zarr.open_group(path, mode="a")
    for feature in features:
        if feature == "symlink":
            chunk = next(os.path.join(d, n) for d, _, names in os.walk(os.path.join(path, "data"))
                         for n in names if n != "zarr.json")
            os.unlink(chunk)
            os.symlink(raw, chunk)
        elif feature == "string_data":
            del root["data"]
            a = root.create_array("data", shape=s.data.shape, dtype=str)
            a[...] = np.full(s.data.shape, "x")
        elif feature == "ragged":
            md = dict(root.attrs["metadata"])
            md["Sample"] = {"ragged": {"_sf_array": [[1, 2], [3]], "dtype": "<f8"}}
            root.attrs["metadata"] = md
        elif feature == "neg_variance":
            if "variance" in root:
                del root["variance"]
            root.attrs["variance_scalar"] = -1
        elif feature == "neg_variance_array":
            if "variance" in root:
                root["variance"][...] = -np.ones(s.data.shape)
        elif feature == "many_nodes":
            md = dict(root.attrs["metadata"])
            md["Sample"] = {"many": [0] * (2 * 10**5)}
            root.attrs["metadata"] = md
        elif feature == "deep_json":
            deep: dict = {}
            node = deep
            for _ in range(60):
                node["d"] = {}
                node = node["d"]
            md = dict(root.attrs["metadata"])
            md["Deep"] = deep
            root.attrs["metadata"] = md
        elif feature == "bad_attrs":
            root.attrs["axes"] = [{"size": "many"}, {"size": None}]
        elif feature == "bad_index":
            axes = list(root.attrs["axes"])
            axes[0] = dict(axes[0], index="0; rm -rf /")
            root.attrs["axes"] = axes
        else:  # pragma: no cover
            raise ValueError(feature)
    json.dumps(dict(root.attrs))  # still valid JSON
    return str(path)
