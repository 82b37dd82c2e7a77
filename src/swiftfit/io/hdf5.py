"""HDF5 files for signals and models (h5py): the signal part and the value tree.

Layout of a swiftfit file::

    /                    attrs: swiftfit_format = "swiftfit", swiftfit_version = 1
    /signal              attrs: class ("BaseSignal" | "Signal1D" | "Signal2D"), title
    /signal/data         the data array
    /signal/axes/<i>     attrs: size, scale, offset, units, name, navigate,
                         is_binned, index; dataset ``axis`` for non-uniform axes
    /signal/metadata     a value tree (see below)
    /signal/original_metadata
    /models/<name>       one stored model (see :mod:`.hdf5_model`)

A *value tree* stores plain data only: ``str``, ``bool``, ``int``, ``float``,
``complex`` and ``None`` as attributes, numeric arrays as datasets, nested
dicts, lists and tuples as groups (marked by the attribute ``_sf_kind``) and a
signal-valued leaf (the noise variance) as a group holding a whole signal.

Nothing read from a file is ever executed or unpickled: every attribute and
dataset is checked against the types above and anything else (opaque or
compound data, byte strings, object references...) raises ``ValueError``
naming the offending key.
"""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np

from ..errors import FileFormatError, FileLimitError, InvalidInputError, InvalidTypeError, UnsafeFileError
from ..signals import BaseSignal, Signal1D, Signal2D
from ..signals.metadata import Metadata
from ..signals.signal_types import specialise
from .safety import Budget, atomic_target, check_dataset, reading

__all__ = ["FORMAT", "VERSION", "load", "save_signal"]

FORMAT = "swiftfit"
VERSION = 1
KIND = "_sf_kind"
_SIGNAL_CLASSES = {"BaseSignal": BaseSignal, "Signal1D": Signal1D, "Signal2D": Signal2D}
_ARRAY_KINDS = "biufc"
_MAX_DEPTH = 32


# --------------------------------------------------------------------- reading
def read_attr(attrs: Any, key: str, path: str, types: tuple, optional: bool = False) -> Any:
    """The attribute ``key`` converted to a Python value that is one of ``types``
    (``type(None)`` allows a stored None); ValueError otherwise.
    """
    if key not in attrs:
        if optional:
            return None
        raise ValueError(f"{path}: missing attribute {key!r}")
    value = convert_attr(attrs[key], f"{path}.{key}")
    if isinstance(value, bool) and bool not in types:
        raise ValueError(f"{path}.{key}: expected {_names(types)}, got bool")
    if isinstance(value, int) and not isinstance(value, bool) and int not in types and float in types:
        value = float(value)
    if not isinstance(value, types):
        raise ValueError(f"{path}.{key}: expected {_names(types)}, got {type(value).__name__}")  # noqa: TRY004 (files: ValueError by design)
    return value


def _names(types: tuple) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def convert_attr(value: Any, path: str) -> Any:
    """A stored attribute as a Python scalar; anything unexpected raises ValueError."""
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.complexfloating):
        return complex(value)
    raise ValueError(f"{path}: unexpected stored object of type {type(value).__name__}")


def read_array(group: Any, key: str, path: str, kinds: str = _ARRAY_KINDS,
               shape: tuple | None = None, optional: bool = False,
               budget: Budget | None = None) -> np.ndarray | None:
    """The numeric dataset ``key`` (dtype kind in ``kinds``, optional shape check).

    Refuses external storage and virtual datasets; its declared size counts
    against ``budget`` (metadata) or, without one, ``limits.max_array_bytes``.
    """
    if key not in group:
        if optional:
            return None
        raise ValueError(f"{path}: missing dataset {key!r}")
    obj = child(group, key, path)
    if not isinstance(obj, h5py.Dataset):
        raise ValueError(f"{path}.{key}: expected a dataset, got {type(obj).__name__}")  # noqa: TRY004 (files: ValueError by design)
    dt = obj.dtype
    if dt.names is not None or dt.kind not in kinds or h5py.check_string_dtype(dt) is not None \
            or h5py.check_vlen_dtype(dt) is not None or h5py.check_ref_dtype(dt) is not None:
        raise ValueError(f"{path}.{key}: unexpected dataset type {dt}")
    if shape is not None and obj.shape != tuple(shape):
        raise ValueError(f"{path}.{key}: expected shape {tuple(shape)}, got {obj.shape}")
    if budget is not None:
        budget.dataset(obj, f"{path}.{key}")
    else:
        check_dataset(obj, f"{path}.{key}")
    arr = np.asarray(obj[()])
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{path}.{key}: expected shape {tuple(shape)}, got {arr.shape}")
    return arr


def child(group: Any, key: str, path: str) -> Any:
    """``group[key]``, refusing soft and external links."""
    link = group.get(key, getlink=True)
    if link is None:
        raise ValueError(f"{path}: missing {key!r}")
    if not isinstance(link, h5py.HardLink):
        raise UnsafeFileError(f"{path}.{key}: links are not allowed (a {type(link).__name__} points "
                              "outside the stored tree; swiftfit reads only what the file holds)")
    return group[key]


def read_group(group: Any, key: str, path: str) -> Any:
    obj = child(group, key, path) if key in group else None
    if not isinstance(obj, h5py.Group):
        raise ValueError(f"{path}.{key}: expected a group")  # noqa: TRY004 (files: ValueError by design)
    return obj


def read_tree(group: Any, path: str, depth: int = 0, budget: Budget | None = None) -> Any:
    """Rebuild a value tree (dict, list or tuple) written by :func:`write_tree`.

    One ``budget`` bounds the walk (nodes, bytes, depth; each group once).
    """
    budget = Budget() if budget is None else budget
    if depth > _MAX_DEPTH:
        raise FileLimitError(f"{path}: nested too deeply")
    budget.node(path, depth, group)
    budget.attrs(group.attrs, path)
    kind = read_attr(group.attrs, KIND, path, (str,), optional=True) or "dict"
    if kind == "signal":
        return read_signal(group, path, depth + 1, budget)
    if kind not in ("dict", "list", "tuple"):
        raise ValueError(f"{path}: unknown node kind {kind!r}")
    out: dict = {}
    for key in group.attrs:
        if key != KIND:
            out[key] = convert_attr(group.attrs[key], f"{path}.{key}")
    for key in group:
        obj = child(group, key, path)
        if isinstance(obj, h5py.Dataset):
            out[key] = read_array(group, key, path, budget=budget)
        elif isinstance(obj, h5py.Group):
            out[key] = read_tree(obj, f"{path}.{key}", depth + 1, budget)
        else:  # pragma: no cover - h5py has no other object types
            raise ValueError(f"{path}.{key}: unexpected object {type(obj).__name__}")  # noqa: TRY004 (files: ValueError by design)
    if kind == "dict":
        return out
    if sorted(out) != sorted(str(i) for i in range(len(out))):
        raise ValueError(f"{path}: malformed {kind} (keys {sorted(out)})")
    items = [out[str(i)] for i in range(len(out))]
    return items if kind == "list" else tuple(items)


# --------------------------------------------------------------------- writing
def _check_key(key: Any, path: str) -> str:
    if not isinstance(key, str) or not key or "/" in key or key in (".", KIND):
        raise ValueError(f"{path}: cannot store the key {key!r} in HDF5")
    return key


def write_value(group: Any, key: str, value: Any, path: str) -> None:
    """Store ``value`` under ``key`` of ``group`` (see the module docstring)."""
    key = _check_key(key, path)
    where = f"{path}.{key}"
    if isinstance(value, (dict, Metadata)):
        sub = group.create_group(key)
        write_tree(sub, value.as_dictionary() if isinstance(value, Metadata) else value, where)
    elif isinstance(value, BaseSignal):
        sub = group.create_group(key)
        sub.attrs[KIND] = "signal"
        write_signal(sub, value)
    elif isinstance(value, (list, tuple)):
        sub = group.create_group(key)
        sub.attrs[KIND] = "list" if isinstance(value, list) else "tuple"
        for i, item in enumerate(value):
            write_value(sub, str(i), item, where)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in _ARRAY_KINDS or value.dtype.names is not None:
            raise ValueError(f"{where}: cannot store an array of dtype {value.dtype}")
        group.create_dataset(key, data=value)
    elif value is None:
        group.attrs[key] = h5py.Empty("f8")
    elif isinstance(value, (bool, np.bool_)):
        group.attrs[key] = np.bool_(value)
    elif isinstance(value, (int, np.integer)):
        if not -2**63 <= int(value) < 2**63:
            raise ValueError(f"{where}: integer {value} does not fit in 64 bits")
        group.attrs[key] = np.int64(value)
    elif isinstance(value, (float, np.floating)):
        group.attrs[key] = np.float64(value)
    elif isinstance(value, (complex, np.complexfloating)):
        group.attrs[key] = np.complex128(value)
    elif isinstance(value, str):
        group.attrs[key] = value
    else:
        raise ValueError(f"{where}: cannot store an object of type {type(value).__name__}")


def write_tree(group: Any, tree: dict, path: str) -> None:
    for key, value in tree.items():
        write_value(group, key, value, path)


def write_optional(attrs: Any, key: str, value: Any) -> None:
    attrs[key] = h5py.Empty("f8") if value is None else value


# --------------------------------------------------------------------- signals
def _signal_class_name(signal: BaseSignal) -> str:
    for name in ("Signal2D", "Signal1D"):
        if isinstance(signal, _SIGNAL_CLASSES[name]):
            return name
    if isinstance(signal, BaseSignal):
        return "BaseSignal"
    raise ValueError(f"expected a signal, got {type(signal).__name__}")


def write_axes(group, signal) -> None:
    """The ``axes`` group of ``signal`` (read back by :func:`read_axes`)."""
    axes = group.create_group("axes")
    for i, ax in enumerate(signal.axes_manager._axes):
        g = axes.create_group(str(i))
        d = ax.get_axis_dictionary()
        g.attrs["size"] = np.int64(d["size"])
        write_optional(g.attrs, "units", d["units"])
        write_optional(g.attrs, "name", d["name"])
        g.attrs["navigate"] = np.bool_(d["navigate"])
        g.attrs["is_binned"] = np.bool_(d["is_binned"])
        g.attrs["index"] = np.int64(ax.index if ax.navigate else 0)
        if "axis" in d:
            g.create_dataset("axis", data=np.asarray(d["axis"], dtype=float))
        else:
            g.attrs["scale"] = np.float64(d["scale"])
            g.attrs["offset"] = np.float64(d["offset"])


def write_signal(group: Any, signal: BaseSignal) -> None:
    """Write ``signal`` into the (empty) HDF5 group ``group``."""
    group.attrs["class"] = _signal_class_name(signal)
    group.attrs["title"] = str(signal.metadata.get_item("General.title", ""))
    data = np.asarray(signal.data)
    if data.dtype.kind not in _ARRAY_KINDS or data.dtype.names is not None:
        raise ValueError(f"cannot store signal data of dtype {data.dtype}")
    group.create_dataset("data", data=data)
    write_axes(group, signal)
    write_value(group, "metadata", signal.metadata, "metadata")
    write_value(group, "original_metadata", signal.original_metadata, "original_metadata")


def read_axes(group, path: str, ndim: int) -> tuple[list[dict], list[int]]:
    """The ``axes`` group of a signal: one axis dict per data dimension (for
    the signal constructors) and the current navigation indices.
    """
    axes_group = read_group(group, "axes", path)
    if sorted(axes_group) != sorted(str(i) for i in range(ndim)):
        raise ValueError(f"{path}.axes: expected one axis per data dimension ({ndim})")
    axes, indices = [], []
    for i in range(ndim):
        g = read_group(axes_group, str(i), f"{path}.axes")
        where = f"{path}.axes.{i}"
        d: dict = {
            "size": read_attr(g.attrs, "size", where, (int,)),
            "units": read_attr(g.attrs, "units", where, (str, type(None))),
            "name": read_attr(g.attrs, "name", where, (str, type(None))),
            "navigate": read_attr(g.attrs, "navigate", where, (bool,)),
            "is_binned": read_attr(g.attrs, "is_binned", where, (bool,)),
        }
        axis = read_array(g, "axis", where, kinds="f", optional=True)
        if axis is not None:
            d["axis"] = axis
        else:
            d["scale"] = read_attr(g.attrs, "scale", where, (float,))
            d["offset"] = read_attr(g.attrs, "offset", where, (float,))
        axes.append(d)
        indices.append(read_attr(g.attrs, "index", where, (int,)))
    return axes, indices


def read_signal(group: Any, path: str = "signal", depth: int = 0, budget: Budget | None = None) -> BaseSignal:
    """Rebuild the signal stored in ``group`` by :func:`write_signal`."""
    budget = Budget() if budget is None else budget
    cls_name = read_attr(group.attrs, "class", path, (str,))
    if cls_name not in _SIGNAL_CLASSES:
        raise ValueError(f"{path}.class: unknown signal class {cls_name!r}; "
                         f"expected one of {sorted(_SIGNAL_CLASSES)}")
    cls = _SIGNAL_CLASSES[cls_name]
    data = read_array(group, "data", path)
    axes, indices = read_axes(group, path, data.ndim)
    metadata = read_tree(read_group(group, "metadata", path), f"{path}.metadata", depth + 1, budget)
    original = read_tree(read_group(group, "original_metadata", path), f"{path}.original_metadata", depth + 1,
                         budget)
    if not isinstance(metadata, dict) or not isinstance(original, dict):
        raise ValueError(f"{path}: metadata must be a dict tree")  # noqa: TRY004 (files: ValueError by design)
    signal = cls(data, axes=axes, metadata=metadata, original_metadata=original)
    check_noise_variance(signal, path)
    for ax, index in zip(signal.axes_manager._axes, indices):
        if ax.navigate and index:
            ax.index = index
    return specialise(signal)


def check_noise_variance(signal: BaseSignal, path: str) -> None:
    """Refuse a stored noise variance that ``set_noise_variance`` would refuse."""
    from ..signals.base import _VARIANCE

    var = signal.metadata.get_item(_VARIANCE)
    if var is None:
        return
    try:
        signal.set_noise_variance(var)
    except (ValueError, TypeError) as exc:
        raise FileFormatError(f"{path}.metadata.Signal.Noise_properties.variance: {exc}") from exc


# ------------------------------------------------------------------ files
def _check_file(f: Any, filename: Any) -> None:
    if f.attrs.get("swiftfit_format") != FORMAT:
        raise ValueError(f"{filename!s} is not a swiftfit HDF5 file")
    version = read_attr(f.attrs, "swiftfit_version", "/", (int,))
    if version > VERSION:
        raise ValueError(f"{filename!s} has format version {version}; this swiftfit reads up to {VERSION}")


def _stamp(f: Any) -> None:
    f.attrs["swiftfit_format"] = FORMAT
    f.attrs["swiftfit_version"] = np.int64(VERSION)


def save_signal(signal: BaseSignal, filename: str | os.PathLike) -> None:
    """Write ``signal`` (data, axes, metadata) to a new HDF5 file ``filename``.

    An existing file is replaced (with any models stored in it), atomically:
    the file is written to a temporary sibling and renamed (an interrupted
    write leaves the previous file).

    Examples
    --------
    >>> save_signal(s, "spectrum.hspy")      # doctest: +SKIP
    """
    if not isinstance(signal, BaseSignal):
        raise ValueError(f"`signal` must be a signal, got {type(signal).__name__}")  # noqa: TRY004 (files: ValueError by design)
    with atomic_target(filename) as tmp, h5py.File(tmp, "x") as f:
        _stamp(f)
        write_signal(f.create_group("signal"), signal)


def _is_own_format(filename: str | os.PathLike) -> bool:
    """True unless RosettaSciIO has a reader for the extension: HDF5 (swiftfit's,
    HyperSpy's ``.hspy``) and zarr stay with swiftfit's own readers.
    """
    name = str(os.fspath(filename)).rstrip("/\\").lower()
    if name.endswith((".hspy", ".h5", ".hdf5", ".hdf", ".zarr", ".zspy")) or os.path.isdir(name):
        return True
    from .rsciio import known_extension
    return not known_extension(name)


def load(filename: str | os.PathLike, allow_import: bool = False, lazy: bool = False,
         chunks: Any = None, reader: str | None = None, signal_type: str | None = None,
         **kwargs: Any) -> BaseSignal:
    """Read the signal of a swiftfit HDF5 file, or of a HyperSpy ``.hspy`` file
    (format 3.x, with its stored models: :mod:`swiftfit.io.hspy`).

    With ``lazy=True`` the data stay on disk as a dask array (a lazy signal,
    read chunk by chunk; ``chunks`` as for ``dask.array``), and a zarr store
    (``*.zarr``, written by ``s.save("x.zarr")``) can be read too:
    :mod:`swiftfit.io.lazy_io`. A ``*.zarr`` path is always read lazily.

    The models stored in the file are listed in ``signal.models_stored``, a
    dict mapping each name to a :class:`~swiftfit.io.hdf5_model.StoredModel`;
    call it (or :func:`restore_model`) to rebuild the model on this signal.
    ``allow_import`` is passed on to those (see :func:`restore_model`).

    Every other format HyperSpy reads (``.msa``, ``.dm3``/``.dm4``, ``.emd``,
    ``.bcf``...) is read through RosettaSciIO (:mod:`swiftfit.io.rsciio`;
    ``reader`` names its plugin, other keywords go to its reader), the class
    following ``metadata.Signal.signal_type`` (``signal_type`` overrides it).
    """
    from .hdf5_model import StoredModel
    from .hspy import is_hspy_file, load_hspy
    from .lazy_io import is_zarr_path, load_lazy

    if not isinstance(lazy, (bool, np.bool_)):
        raise InvalidTypeError(f"`lazy` must be True or False, got {lazy!r}")
    if reader is not None or not _is_own_format(filename):
        from .rsciio import load_rsciio
        if lazy:
            raise InvalidInputError("`lazy=True` is supported for HDF5 and zarr files only")
        return load_rsciio(filename, reader=reader, signal_type=signal_type, **kwargs)
    if kwargs:
        raise InvalidInputError(f"unexpected keyword arguments {sorted(kwargs)} for an HDF5/zarr file")
    if signal_type is not None:
        signal = load(filename, allow_import=allow_import, lazy=lazy, chunks=chunks)
        signal.set_signal_type(signal_type)
        return signal
    if lazy or is_zarr_path(filename):
        return load_lazy(filename, chunks=chunks, allow_import=allow_import)
    if is_hspy_file(filename):  # written by HyperSpy (file_format "HyperSpy" or *.hspy)
        return load_hspy(filename)
    with reading(filename), h5py.File(filename, "r") as f:
        _check_file(f, filename)
        signal = read_signal(read_group(f, "signal", ""), "signal", budget=Budget(filename))
        names = list(read_group(f, "models", "")) if "models" in f else []
    signal.models_stored = {
        name: StoredModel(filename, name, signal, allow_import) for name in names
    }
    return signal
