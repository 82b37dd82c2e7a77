"""Lazy reading and block-wise writing of signals: swiftfit HDF5 files and zarr stores.

* :func:`load_lazy` — ``swiftfit.load(path, lazy=True)``: a lazy signal whose
  data are read chunk by chunk (``dask.array``) from a swiftfit HDF5 file
  (layout of :mod:`.hdf5`) or a zarr store (``*.zarr``, layout below).
* :func:`save_zarr` / :func:`save_hdf5_lazy` — write a signal, lazy or eager,
  one chunk at a time (``da.store``), never the whole array in memory.

A swiftfit zarr store is a group::

    attrs  swiftfit_format = "swiftfit-zarr", swiftfit_version = 1,
           class, axes (list of dicts), metadata, original_metadata (JSON trees),
           variance_scalar (optional number)
    data       the data array, chunked in navigation blocks with whole spectra
    variance   optional: the noise variance, shaped and chunked like ``data``

Everything read back is plain JSON and numbers: nothing is executed or
unpickled. NumPy arrays inside metadata are kept as ``{"_sf_array": [...],
"dtype": "<f8"}``.

Examples
--------
>>> s.save("cube.zarr")                                   # doctest: +SKIP
>>> lazy = swiftfit.load("cube.zarr", lazy=True)          # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._optional import require
from ..errors import FileFormatError, FileLimitError, InvalidInputError
from ..signals import BaseSignal
from ..signals.base import _VARIANCE
from ..signals.lazy import (
    LazySignal,
    as_lazy,
    is_dask_array,
    lazy_class,
    navigation_chunks,
)
from .hdf5 import _SIGNAL_CLASSES, _signal_class_name
from .safety import Budget, atomic_target, check_dataset, check_zarr_store, clean_stale, reading

__all__ = ["H5Source", "is_zarr_path", "load_lazy", "save_hdf5_lazy", "save_zarr"]

ZARR_FORMAT = "swiftfit-zarr"
ZARR_VERSION = 1
_MAX_DEPTH = 32


def is_zarr_path(path: Any) -> bool:
    """True for a path ending in ``.zarr`` (a zarr directory store)."""
    return str(os.fspath(path)).rstrip("/\\").endswith(".zarr")


class H5Source:
    """An HDF5 dataset as an array-like that dask can read chunk by chunk.

    Only the file name and the dataset path are kept (so the source pickles
    to dask.distributed workers); each read opens the file read-only.

    Examples
    --------
    >>> src = H5Source("cube.h5", "signal/data")                  # doctest: +SKIP
    >>> dask.array.from_array(src, chunks=(8, 256, 1024))         # doctest: +SKIP
    """

    def __init__(self, filename: str | os.PathLike, path: str) -> None:
        import h5py

        self.filename = os.path.abspath(os.fspath(filename))
        self.path = path
        from .hdf5 import child

        with h5py.File(self.filename, "r") as f:
            ds = f
            for i, part in enumerate(p for p in path.split("/") if p):  # no soft or external links
                ds = child(ds, part, "/".join(path.split("/")[:i + 1]) or "/")
            if not isinstance(ds, h5py.Dataset):
                raise FileFormatError(f"{self.filename}: {path} is not a dataset")
            check_dataset(ds, f"{self.filename}: {path}", limit=float("inf"))  # lazy: no size limit
            self.shape = tuple(ds.shape)
            self.dtype = ds.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        import h5py

        with h5py.File(self.filename, "r") as f:
            return np.asarray(f[self.path][key])

    def __len__(self) -> int:
        return self.shape[0]


# ------------------------------------------------------------------ JSON trees
def _to_json(value: Any, path: str, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        raise InvalidInputError(f"{path}: nested too deeply to store")
    if isinstance(value, dict):
        return {str(k): _to_json(v, f"{path}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"_sf_array": value.tolist(), "dtype": value.dtype.str}
    raise InvalidInputError(f"{path}: cannot store an object of type {type(value).__name__} in a zarr store")


def _from_json(value: Any, path: str, depth: int = 0, budget: Budget | None = None) -> Any:
    budget = Budget() if budget is None else budget
    budget.node(path, depth)
    if depth > _MAX_DEPTH:
        raise FileLimitError(f"{path}: nested too deeply")
    if isinstance(value, dict):
        if set(value) == {"_sf_array", "dtype"}:
            try:
                dtype = np.dtype(str(value["dtype"]))
            except TypeError:
                raise FileFormatError(f"{path}: unknown array dtype {value['dtype']!r}") from None
            if dtype.kind not in "biuf":
                raise FileFormatError(f"{path}: unexpected array dtype {dtype}")
            items = value["_sf_array"]
            budget.take(8 * len(items) if isinstance(items, list) else 8, path)
            try:
                arr = np.asarray(items, dtype=dtype)
            except (ValueError, TypeError, OverflowError) as exc:
                raise FileFormatError(f"{path}: not a rectangular numeric array ({exc})") from None
            budget.take(arr.nbytes, path)
            return arr
        return {str(k): _from_json(v, f"{path}.{k}", depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v, f"{path}[{i}]", depth + 1, budget) for i, v in enumerate(value)]
    if isinstance(value, str):
        budget.take(len(value), path)
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise ValueError(f"{path}: unexpected stored value of type {type(value).__name__}")


def _axes_json(signal: BaseSignal) -> list:
    out = []
    for ax in signal.axes_manager._axes:
        d = ax.get_axis_dictionary()
        if "axis" in d:
            d["axis"] = np.asarray(d["axis"], dtype=float)
        out.append(_to_json(d, "axes"))
    return out


def _dask_data(signal: BaseSignal, chunks: Any):
    da = require("dask.array", "dask")
    n_sig = signal.axes_manager.signal_dimension
    if is_dask_array(signal.data):
        data = signal.data
        if chunks is None:  # the signal's own navigation blocks, with whole spectra
            chunks = {k: -1 for k in range(data.ndim - n_sig, data.ndim)}
    else:
        data = np.asarray(signal.data)
        if chunks is None:
            chunks = navigation_chunks(data.shape, n_sig, data.dtype.itemsize)
        return da.from_array(data, chunks=chunks)
    return data.rechunk(chunks)


# ------------------------------------------------------------------------- zarr
def save_zarr(signal: BaseSignal, path: str | os.PathLike, chunks: Any = None, overwrite: bool = True) -> None:
    """Write ``signal`` (lazy or eager) to the zarr store ``path``, one chunk at a time.

    Parameters
    ----------
    signal : BaseSignal
    path : str or os.PathLike
        A directory, conventionally ``*.zarr``.
    chunks : optional
        Chunks of the stored data (default: navigation blocks of about
        16 MiB with whole spectra, what a lazy ``multifit`` reads).
    overwrite : bool
        Replace an existing store.

    Examples
    --------
    >>> save_zarr(s, "cube.zarr")                      # doctest: +SKIP
    """
    zarr = require("zarr", "dask")
    if not isinstance(signal, BaseSignal):
        raise InvalidInputError(f"`signal` must be a signal, got {type(signal).__name__}")
    if not overwrite and os.path.lexists(os.fspath(path)):
        raise InvalidInputError(f"`path` {os.fspath(path)!r} exists and `overwrite` is False")
    # written whole to a temporary sibling, then swapped in: an interrupted
    # write, or a write onto the store the (lazy) signal is read from, never
    # leaves a half-written store (the reads finish before the swap)
    with atomic_target(path, directory=True) as tmp:
        _write_zarr(signal, zarr.open_group(tmp, mode="w-"), chunks)


def _write_zarr(signal: BaseSignal, root: Any, chunks: Any) -> None:
    da = require("dask.array", "dask")
    data = _dask_data(signal, chunks)
    md = signal._metadata_without_variance()
    attrs = {
        "swiftfit_format": ZARR_FORMAT,
        "swiftfit_version": ZARR_VERSION,
        "class": _signal_class_name(signal),
        "axes": _axes_json(signal),
        "metadata": _to_json(md.as_dictionary(), "metadata"),
        "original_metadata": _to_json(signal.original_metadata.as_dictionary(), "original_metadata"),
    }
    targets, sources = [], []
    arr = root.create_array("data", shape=data.shape, chunks=data.chunksize, dtype=data.dtype)
    targets.append(arr)
    sources.append(data)
    var = signal.metadata.get_item(_VARIANCE)
    if isinstance(var, BaseSignal) and tuple(var.data.shape) == tuple(data.shape):
        vdata = var.data if is_dask_array(var.data) else da.from_array(np.asarray(var.data), chunks=data.chunks)
        vdata = vdata.rechunk(data.chunks)
        targets.append(root.create_array("variance", shape=vdata.shape, chunks=vdata.chunksize, dtype=vdata.dtype))
        sources.append(vdata)
    elif var is not None and not isinstance(var, BaseSignal):
        attrs["variance_scalar"] = float(var)
    elif var is not None:
        raise InvalidInputError(f"the noise variance must be a number or shaped like the data {tuple(data.shape)}, "
                                f"got shape {tuple(var.data.shape)}")
    da.store(sources, targets, lock=False)
    root.attrs.update(attrs)


def _check_variance_block(block: np.ndarray, where: str = "") -> np.ndarray:
    """The variance a block holds, refused when it is not finite and non-negative."""
    # as set_noise_variance: no NaN, nothing negative
    if block.size and (np.any(np.isnan(block)) or np.any(block < 0)):
        raise FileFormatError(f"{where}: the stored noise variance holds negative or NaN values")
    return block


def _zarr_array(root: Any, key: str, where: str) -> Any:
    arr = root[key]
    if not hasattr(arr, "dtype") or not hasattr(arr, "shape"):
        raise FileFormatError(f"{where}: {key!r} is not an array")
    dtype = np.dtype(arr.dtype) if not isinstance(arr.dtype, np.dtype) else arr.dtype
    if dtype.kind not in "biuf" or dtype.names is not None:
        raise FileFormatError(f"{where}: {key!r} holds {arr.dtype} values; swiftfit reads numeric "
                              "(bool, integer or real) arrays only")
    return arr


def _load_zarr(path: str | os.PathLike, chunks: Any = None) -> LazySignal:
    with reading(path):
        return _load_zarr_checked(path, chunks)


def _load_zarr_checked(path: str | os.PathLike, chunks: Any = None) -> LazySignal:
    zarr = require("zarr", "dask")
    da = require("dask.array", "dask")
    where = os.fspath(path)
    clean_stale(where)
    check_zarr_store(where)
    root = zarr.open_group(where, mode="r")
    attrs = dict(root.attrs)
    if attrs.get("swiftfit_format") != ZARR_FORMAT:
        raise ValueError(f"{where!s} is not a swiftfit zarr store (no swiftfit_format = {ZARR_FORMAT!r})")
    if not isinstance(attrs.get("swiftfit_version"), int) or attrs["swiftfit_version"] > ZARR_VERSION:
        raise ValueError(f"{where!s} has format version {attrs.get('swiftfit_version')!r}; this swiftfit "
                         f"reads up to {ZARR_VERSION}")
    name = attrs.get("class")
    if name not in _SIGNAL_CLASSES:
        raise ValueError(f"{where!s}: unknown signal class {name!r}; expected one of {sorted(_SIGNAL_CLASSES)}")
    budget = Budget(where)
    axes = _from_json(attrs.get("axes"), "axes", 0, budget)
    metadata = _from_json(attrs.get("metadata", {}), "metadata", 0, budget)
    original = _from_json(attrs.get("original_metadata", {}), "original_metadata", 0, budget)
    if not isinstance(axes, list) or not all(isinstance(a, dict) for a in axes) \
            or not isinstance(metadata, dict) or not isinstance(original, dict):
        raise ValueError(f"{where!s}: malformed axes or metadata")
    if "data" not in root:
        raise FileFormatError(f"{where}: no array 'data'")
    _zarr_array(root, "data", where)
    data = da.from_zarr(where, component="data")
    if chunks is not None:
        data = data.rechunk(chunks)
    if len(axes) != data.ndim:
        raise ValueError(f"{where!s}: {len(axes)} axes for data of {data.ndim} dimensions")
    indices = [a.pop("index", 0) or 0 for a in axes]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
        raise FileFormatError(f"{where}: axis indices must be integers, got {indices}")
    signal = lazy_class(_SIGNAL_CLASSES[name])(data, axes=axes, metadata=metadata, original_metadata=original)
    for ax, index in zip(signal.axes_manager._axes, indices):
        if ax.navigate and index:
            ax.index = index
    if "variance" in root:
        _zarr_array(root, "variance", where)
        vdata = da.from_zarr(where, component="variance")
        if vdata.shape != data.shape:
            raise FileFormatError(f"{where}: variance of shape {vdata.shape} for data of shape {data.shape}")
        # checked as its blocks are read (reading all of it here would load the store)
        signal._attach_variance(vdata.rechunk(data.chunks).map_blocks(
            _check_variance_block, where=f"{where}: variance", dtype=vdata.dtype))
    elif "variance_scalar" in attrs:
        value = attrs["variance_scalar"]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise FileFormatError(f"{where!s}: variance_scalar must be a number, got {value!r}")
        try:
            signal.set_noise_variance(float(value))  # as the setter validates it
        except ValueError as exc:
            raise FileFormatError(f"{where!s}: variance_scalar: {exc}") from None
    return signal


# ------------------------------------------------------------------------- HDF5
def save_hdf5_lazy(signal: BaseSignal, filename: str | os.PathLike) -> None:
    """Write ``signal`` to a swiftfit HDF5 file (the layout of :mod:`.hdf5`,
    read by ``swiftfit.load``), the data and a lazy noise variance one chunk
    at a time. Models stored in the signal are not written (save the eager
    signal for that).

    Examples
    --------
    >>> save_hdf5_lazy(lazy_signal, "cube.h5")            # doctest: +SKIP
    """
    import h5py

    from .hdf5 import KIND, _stamp, write_axes, write_value

    da = require("dask.array", "dask")
    if not isinstance(signal, BaseSignal):
        raise InvalidInputError(f"`signal` must be a signal, got {type(signal).__name__}")
    data = _dask_data(signal, None)
    var = signal.metadata.get_item(_VARIANCE)
    md = signal._metadata_without_variance() if isinstance(var, BaseSignal) else signal.metadata
    # a temporary sibling, renamed when complete: an interrupted write, or a
    # write onto the file the lazy signal reads, leaves the previous file
    with atomic_target(filename) as tmp, h5py.File(tmp, "x") as f:
        _stamp(f)
        group = f.create_group("signal")
        sources, targets = [], []

        def write(group, sig, data):
            group.attrs["class"] = _signal_class_name(sig)
            group.attrs["title"] = str(sig.metadata.get_item("General.title", ""))
            ds = group.create_dataset("data", shape=data.shape, dtype=data.dtype, chunks=data.chunksize)
            sources.append(data)
            targets.append(ds)
            write_axes(group, sig)

        write(group, signal, data)
        write_value(group, "metadata", md, "metadata")
        write_value(group, "original_metadata", signal.original_metadata, "original_metadata")
        if isinstance(var, BaseSignal):
            node = group["metadata"].require_group("Signal").require_group("Noise_properties").create_group("variance")
            node.attrs[KIND] = "signal"
            vdata = var.data if is_dask_array(var.data) else da.from_array(np.asarray(var.data))
            write(node, var, vdata.rechunk(data.chunks) if vdata.shape == data.shape else vdata)
            write_value(node, "metadata", var.metadata, "variance.metadata")
            write_value(node, "original_metadata", var.original_metadata, "variance.original_metadata")
        f.create_group("models")
        # h5py serialises its own calls; one writer thread is enough and safe
        da.store(sources, targets, lock=True, scheduler="threads")


def _load_hdf5(filename: str | os.PathLike, chunks: Any = None, allow_import: bool = False) -> LazySignal:
    import h5py

    from .hdf5 import (
        _check_file,
        read_attr,
        read_axes,
        read_group,
        read_tree,
    )
    from .hdf5_model import StoredModel

    da = require("dask.array", "dask")

    from .hdf5 import child

    budget = Budget(filename)

    def read(group, path, depth=0):
        cls_name = read_attr(group.attrs, "class", path, (str,))
        if cls_name not in _SIGNAL_CLASSES:
            raise ValueError(f"{path}.class: unknown signal class {cls_name!r}")
        if "data" not in group or not isinstance(child(group, "data", path), h5py.Dataset) \
                or group["data"].dtype.kind not in "biuf" or group["data"].dtype.names is not None:
            raise ValueError(f"{path}: missing or non-numeric dataset 'data'")
        src = H5Source(filename, group["data"].name)
        axes, indices = read_axes(group, path, src.ndim)
        metadata = _read_metadata(read_group(group, "metadata", path), f"{path}.metadata", depth + 1, read,
                                  budget)
        original = read_tree(read_group(group, "original_metadata", path), f"{path}.original_metadata", depth + 1,
                             budget)
        n_sig = sum(not a["navigate"] for a in axes)
        data = da.from_array(src, chunks=chunks or navigation_chunks(src.shape, n_sig, src.dtype.itemsize))
        signal = lazy_class(_SIGNAL_CLASSES[cls_name])(data, axes=axes, metadata=metadata, original_metadata=original)
        for ax, index in zip(signal.axes_manager._axes, indices):
            if ax.navigate and index:
                ax.index = index
        variance = signal.metadata.get_item(_VARIANCE)
        if isinstance(variance, LazySignal):
            if variance.data.shape != data.shape:
                raise FileFormatError(f"{path}: variance of shape {variance.data.shape} for data of shape "
                                      f"{data.shape}")
            signal._attach_variance(variance.data.rechunk(data.chunks).map_blocks(  # blocks aligned with the data's
                _check_variance_block, where=f"{filename}: {path} variance", dtype=variance.data.dtype))
        elif variance is not None:
            from .hdf5 import check_noise_variance

            check_noise_variance(signal, path)
        return signal

    with reading(filename), h5py.File(filename, "r") as f:
        _check_file(f, filename)
        signal = read(read_group(f, "signal", ""), "signal")
        names = list(read_group(f, "models", "")) if "models" in f else []
    signal.models_stored = {name: StoredModel(filename, name, signal, allow_import) for name in names}
    return signal


def _read_metadata(group, path, depth, read_signal_lazy, budget):
    """A value tree like :func:`.hdf5.read_tree`, but a signal inside it (the
    noise variance) is read lazily instead of into memory.
    """
    from .hdf5 import KIND, child, convert_attr, read_array, read_attr, read_tree

    if depth > _MAX_DEPTH:
        raise FileLimitError(f"{path}: nested too deeply")
    kind = read_attr(group.attrs, KIND, path, (str,), optional=True) or "dict"
    if kind != "dict" and kind != "signal":
        return read_tree(group, path, depth, budget)
    budget.node(path, depth, group)
    budget.attrs(group.attrs, path)
    if kind == "signal":
        return read_signal_lazy(group, path, depth + 1)
    out: dict = {key: convert_attr(group.attrs[key], f"{path}.{key}") for key in group.attrs if key != KIND}
    for key in group:
        obj = child(group, key, path)
        if hasattr(obj, "dtype"):
            out[key] = read_array(group, key, path, budget=budget)
        else:
            out[key] = _read_metadata(obj, f"{path}.{key}", depth + 1, read_signal_lazy, budget)
    return out


# ------------------------------------------------------------------------ entry
def load_lazy(filename: str | os.PathLike, chunks: Any = None, allow_import: bool = False) -> LazySignal:
    """Open a swiftfit HDF5 file or zarr store (``*.zarr``) as a lazy signal.

    Parameters
    ----------
    filename : str or os.PathLike
    chunks : optional
        Dask chunks (default: the zarr store's own; for HDF5 navigation
        blocks of about 16 MiB with whole spectra).
    allow_import : bool
        As for :func:`swiftfit.load` (models stored in an HDF5 file).

    Examples
    --------
    >>> s = load_lazy("cube.zarr"); s.data                    # doctest: +SKIP
    dask.array<from-zarr, shape=(256, 256, 1024), ...>
    """
    if is_zarr_path(filename):
        return _load_zarr(filename, chunks)
    if not isinstance(chunks, (type(None), int, tuple, dict, str)):
        raise InvalidInputError(f"`chunks` must be None, an int, a tuple, a dict or 'auto', got {chunks!r}")
    from .hspy import is_hspy_file

    if is_hspy_file(filename):
        # HyperSpy's layout is read eagerly by load_hspy; wrap the result
        from .hspy import load_hspy

        return as_lazy(load_hspy(filename), chunks)
    return _load_hdf5(filename, chunks, allow_import)
