"""Lazy signals: the data are a dask array, read and computed only when needed.

A lazy signal has the axes, metadata and models of its eager class; only its
``data`` differ: a :class:`dask.array.Array`, usually over an HDF5 or zarr file
(``swiftfit.load(..., lazy=True)``), chunked along the navigation axes with the
signal axes in one chunk, so a chunk is a block of whole spectra (or images).

* ``s.as_lazy()`` / :func:`as_lazy` wraps an eager signal; ``s.compute()``
  returns the eager signal (data loaded into memory).
* ``s.create_model()`` works; ``m.multifit()`` fits the navigation blocks
  through dask on the active scheduler (:mod:`swiftfit.model.lazy_multifit`),
  and ``m.fit()`` reads only the current spectrum.
* Slicing (``inav``/``isig``) and reductions (``sum``, ``mean``...) stay lazy.
  Operations that need the values (arithmetic, noise estimation, plotting,
  histograms) compute the data they use: fine on a small selection
  (``s.inav[:8, :8].compute()``), a full load on the whole signal.

Examples
--------
>>> import numpy as np
>>> from swiftfit.signals import Signal1D
>>> s = Signal1D(np.zeros((4, 4, 16))).as_lazy()
>>> s
<LazySignal1D, title: , dimensions: (4, 4|16)>
>>> s.compute()
<Signal1D, title: , dimensions: (4, 4|16)>
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._optional import require
from .axes import InvalidInputError, InvalidTypeError
from .base import _VARIANCE, BaseSignal
from .metadata import Metadata
from .signal1d import Signal1D
from .signal2d import Signal2D

__all__ = [
    "LazyBaseSignal",
    "LazySignal",
    "LazySignal1D",
    "LazySignal2D",
    "as_lazy",
    "is_dask_array",
    "navigation_chunks",
]

# about this many bytes per chunk when none are given (dask's own default is 128 MiB;
# a few MiB keeps many blocks in flight on a few workers with bounded memory)
_CHUNK_BYTES = 16 * 2**20


def _da():
    return require("dask.array", "dask")


def is_dask_array(data: Any) -> bool:
    """True when ``data`` is a :class:`dask.array.Array` (without importing dask)."""
    mod = type(data).__module__
    return mod.startswith("dask.") and type(data).__name__ == "Array"


def navigation_chunks(shape: tuple, n_signal: int, itemsize: int, chunk_bytes: int = _CHUNK_BYTES) -> tuple:
    """Chunks that split only the navigation axes (the first ``len(shape) -
    n_signal``), each chunk about ``chunk_bytes`` of whole spectra (or
    images): the last (fastest) navigation axis is kept whole first, then the
    slower ones are cut into blocks of rows.

    Examples
    --------
    >>> navigation_chunks((256, 256, 1024), 1, 8)
    (8, 256, 1024)
    """
    n_nav = len(shape) - n_signal
    per_pixel = int(np.prod(shape[n_nav:], dtype=np.int64)) * itemsize
    budget = max(1, chunk_bytes // max(per_pixel, 1))
    chunks = list(shape)
    for k in reversed(range(n_nav)):
        chunks[k] = int(max(1, min(shape[k], budget)))
        budget = max(1, budget // chunks[k])
    return tuple(chunks)


def _as_dask(data: Any, n_signal: int, chunks: Any = None):
    da = _da()
    if is_dask_array(data):
        arr = data if chunks is None else data.rechunk(chunks)
    else:
        if not hasattr(data, "shape") or not hasattr(data, "dtype"):
            data = np.asarray(data)
        if chunks is None:
            chunks = navigation_chunks(tuple(data.shape), n_signal, np.dtype(data.dtype).itemsize)
        arr = da.from_array(data, chunks=chunks)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return arr


class LazySignal(BaseSignal):
    """Mixin of the lazy classes: ``data`` is a dask array.

    Parameters
    ----------
    data : dask.array.Array or array_like
        Wrapped with :func:`dask.array.from_array` when not already a dask
        array (an h5py or zarr array is read chunk by chunk, never whole).
    axes, metadata, original_metadata
        As for :class:`~swiftfit.signals.BaseSignal`.
    chunks : optional
        Chunks for ``from_array`` (default: navigation blocks of about
        16 MiB, see :func:`navigation_chunks`) or for a rechunk of a dask array.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> s = LazySignal1D(da.zeros((8, 8, 32), chunks=(4, 4, 32)))
    >>> s._lazy, s.data.chunksize
    (True, (4, 4, 32))
    """

    _lazy = True

    def __init__(self, data: Any, axes: Any = None, metadata: Any = None, original_metadata: Any = None,
                 chunks: Any = None) -> None:
        from .base import _copied_tree

        n_sig = self._signal_dimension
        if n_sig is None:
            n_sig = sum(1 for a in (axes or []) if isinstance(a, dict) and not a.get("navigate", False))
        arr = _as_dask(data, n_sig, chunks)
        axes_list = self._build_axes(arr.shape, axes)
        self._setup(arr, axes_list, _copied_tree(metadata, "metadata"),
                    _copied_tree(original_metadata, "original_metadata"))

    # -- data ---------------------------------------------------------------
    def _setup(self, data: Any, axes: list, metadata: Metadata, original_metadata: Metadata) -> None:
        n_sig = sum(not ax.navigate for ax in axes)
        super()._setup(_as_dask(data, n_sig), axes, metadata, original_metadata)

    @property
    def data(self):
        """The data: a dask array (``s.compute().data`` for a NumPy array)."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        from .base import check_data_dtype

        arr = _as_dask(value, self.axes_manager.signal_dimension)
        if arr.shape != self._data.shape:
            raise InvalidInputError(f"`data` must keep the shape {self._data.shape}, got {arr.shape}")
        check_data_dtype(arr.dtype)
        self._data = arr

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # NumPy asked for the values: compute them (the whole array)
        return np.asarray(self._data.compute(), dtype=dtype)

    def change_dtype(self, dtype: Any) -> None:
        """Convert the data to ``dtype`` (lazily)."""
        from .base import check_data_dtype

        check_data_dtype(np.dtype(dtype))
        self._data = self._data.astype(dtype)

    @property
    def _eager_class(self) -> type:
        for lazy, eager in _PAIRS:
            if isinstance(self, lazy):
                return eager
        return BaseSignal  # pragma: no cover - every lazy class is in _PAIRS

    def compute(self) -> BaseSignal:
        """The eager signal: data (and a lazy noise variance) loaded into memory.

        Examples
        --------
        >>> LazySignal1D(np.arange(6.0).reshape(2, 3)).compute().data
        array([[0., 1., 2.],
               [3., 4., 5.]])
        """
        md = self._metadata_without_variance()
        eager = self._eager_class._from_parts(
            np.asarray(self._data.compute()), [ax.copy() for ax in self.axes_manager._axes], md,
            self.original_metadata.deepcopy())
        var = self.metadata.get_item(_VARIANCE)
        if isinstance(var, BaseSignal):
            eager._attach_variance(np.asarray(var._data.compute() if is_dask_array(var._data) else var._data))
        elif var is not None:
            eager.metadata.set_item(_VARIANCE, var)
        for key in ("models_stored",):
            if hasattr(self, key):
                setattr(eager, key, getattr(self, key))
        return eager

    def as_lazy(self, chunks: Any = None) -> LazySignal:
        """Return the signal itself (rechunked when ``chunks`` is given)."""
        if chunks is None:
            return self
        new = self.copy()
        new._data = self._data.rechunk(chunks)
        return new

    def rechunk(self, chunks: Any = "navigation") -> None:
        """Rechunk the data in place; ``"navigation"`` (default): navigation
        blocks of about 16 MiB with the signal axes whole (what ``multifit``
        needs).
        """
        if isinstance(chunks, str) and chunks == "navigation":
            chunks = navigation_chunks(self._data.shape, self.axes_manager.signal_dimension,
                                       self._data.dtype.itemsize)
        self._data = self._data.rechunk(chunks)

    # -- derived signals stay lazy -----------------------------------------
    def _derive(self, data: Any, axes: list, cls: type | None = None, array_fn: Any = None,
                scalar_fn: Any = lambda v: v) -> BaseSignal:
        if not is_dask_array(data):
            return super()._derive(data, axes, cls, array_fn, scalar_fn)
        if data.ndim == 0:
            return super()._derive(np.asarray(data.compute()), axes, cls, array_fn, scalar_fn)
        n_sig = sum(not ax.navigate for ax in axes)
        from .base import _pick_class

        cls = lazy_class(cls or _pick_class(self._eager_class, n_sig))
        new = cls._from_parts(data, axes, self._metadata_without_variance(), self.original_metadata.deepcopy())
        var = self.metadata.get_item(_VARIANCE)
        if isinstance(var, BaseSignal):
            if array_fn is not None and var.data.shape == self.data.shape:
                new._attach_variance(array_fn(var.data).reshape(data.shape))
        elif var is not None and scalar_fn is not None:
            new.metadata.set_item(_VARIANCE, scalar_fn(var))
        return new

    def _deepcopy_with_new_data(self, data: Any = None) -> BaseSignal:
        data = self._data if data is None else _as_dask(data, self.axes_manager.signal_dimension)
        if data.shape != self._data.shape:
            raise InvalidInputError(f"`data` must have shape {self._data.shape}, got {data.shape}")
        # dask arrays are immutable: sharing one is a copy
        return type(self)._from_parts(data, [ax.copy() for ax in self.axes_manager._axes],
                                      self.metadata.deepcopy(), self.original_metadata.deepcopy())

    def __deepcopy__(self, memo: dict) -> BaseSignal:
        return self._deepcopy_with_new_data()

    # -- files ----------------------------------------------------------------
    def save(self, filename: Any, chunks: Any = None) -> None:
        """Write the signal without loading it: ``*.zarr`` as a zarr store,
        anything else as a swiftfit HDF5 file (data written block by block).

        Examples
        --------
        >>> s.save("data.zarr"); swiftfit.load("data.zarr", lazy=True)    # doctest: +SKIP
        """
        from ..io.lazy_io import is_zarr_path, save_hdf5_lazy, save_zarr

        if is_zarr_path(filename):
            save_zarr(self, filename, chunks=chunks)
        else:
            save_hdf5_lazy(self, filename)


class LazyBaseSignal(LazySignal, BaseSignal):
    """A lazy :class:`~swiftfit.signals.BaseSignal`."""


class LazySignal1D(LazySignal, Signal1D):
    """A lazy :class:`~swiftfit.signals.Signal1D` (spectra over a dask array).

    Examples
    --------
    >>> import dask.array as da
    >>> LazySignal1D(da.ones((8, 8, 64), chunks=(4, 8, 64)))
    <LazySignal1D, title: , dimensions: (8, 8|64)>
    """

    def create_model(self, *args: Any, **kwargs: Any) -> Any:
        """A :class:`~swiftfit.model.lazy_multifit.LazyModel1D` of this signal:
        a Model1D whose ``fit()`` reads only the current spectrum and whose
        ``multifit()`` runs on dask.
        """
        from ..model.lazy_multifit import LazyModel1D

        return LazyModel1D(self, *args, **kwargs)


class LazySignal2D(LazySignal, Signal2D):
    """A lazy :class:`~swiftfit.signals.Signal2D` (images over a dask array)."""

    def create_model(self, *args: Any, **kwargs: Any) -> Any:
        """A :class:`~swiftfit.model.lazy_multifit.LazyModel2D` of this signal."""
        from ..model.lazy_multifit import LazyModel2D

        return LazyModel2D(self, *args, **kwargs)


_PAIRS = ((LazySignal2D, Signal2D), (LazySignal1D, Signal1D), (LazyBaseSignal, BaseSignal))


def lazy_class(cls: type) -> type:
    """The lazy class of an eager signal class (a lazy class is returned as is)."""
    if issubclass(cls, LazySignal):
        return cls
    for lazy, eager in _PAIRS:
        if issubclass(cls, eager):
            return lazy
    raise InvalidTypeError(f"no lazy class for {cls.__name__}")  # pragma: no cover


def as_lazy(signal: BaseSignal, chunks: Any = None) -> LazySignal:
    """A lazy copy of ``signal`` over ``dask.array.from_array(signal.data)``
    (the NumPy array is shared, not copied); a noise-variance signal becomes
    lazy too.

    Parameters
    ----------
    signal : BaseSignal
    chunks : optional
        Dask chunks; default navigation blocks of about 16 MiB with whole spectra.

    Examples
    --------
    >>> as_lazy(Signal1D(np.zeros((4, 8))), chunks=(2, 8)).data.chunks
    ((2, 2), (8,))
    """
    if not isinstance(signal, BaseSignal):
        raise InvalidTypeError(f"`signal` must be a signal, got {type(signal).__name__}")
    if isinstance(signal, LazySignal):
        return signal.as_lazy(chunks)
    cls = lazy_class(type(signal))
    n_sig = signal.axes_manager.signal_dimension
    data = _as_dask(signal._data, n_sig, chunks)
    md = signal._metadata_without_variance()
    new = cls._from_parts(data, [ax.copy() for ax in signal.axes_manager._axes], md,
                          signal.original_metadata.deepcopy())
    var = signal.metadata.get_item(_VARIANCE)
    if isinstance(var, BaseSignal):
        vdata = var._data if is_dask_array(var._data) else np.asarray(var._data)
        if vdata.shape == data.shape:
            new._attach_variance(_as_dask(vdata, n_sig, data.chunks))
        else:
            new.metadata.set_item(_VARIANCE, var.deepcopy())
    elif var is not None:
        new.metadata.set_item(_VARIANCE, var)
    return new
