"""The :class:`BaseSignal` container: data, calibrated axes and metadata."""

from __future__ import annotations

import copy
from numbers import Integral
from typing import Any, Iterator, Sequence

import numpy as np

from .arithmetic import ArithmeticMixin
from .axes import AxesManager, DataAxis, InvalidInputError, InvalidTypeError, _make_axis
from .indexing import SignalSlicer
from .metadata import Metadata
from .noise import NoiseMixin

__all__ = ["BaseSignal"]

_VARIANCE = "Signal.Noise_properties.variance"


def _pick_class(preferred: type, signal_dimension: int) -> type:
    """Class for a derived signal with ``signal_dimension`` signal axes.

    ``preferred`` is kept when it imposes no dimension or its dimension
    matches; otherwise Signal1D/Signal2D/BaseSignal is chosen by dimension.
    """
    fixed = getattr(preferred, "_signal_dimension", None)
    if fixed is None or fixed == signal_dimension:
        return preferred
    return _class_for_dimension(signal_dimension)


def _class_for_dimension(signal_dimension: int) -> type:
    from .signal1d import Signal1D
    from .signal2d import Signal2D

    return {1: Signal1D, 2: Signal2D}.get(signal_dimension, BaseSignal)


class BaseSignal(ArithmeticMixin, NoiseMixin):
    """An n-dimensional dataset with calibrated axes and metadata.

    Every axis of a plain ``BaseSignal`` is a signal axis unless ``axes``
    says otherwise with ``navigate`` flags.  The data array is always laid
    out with the navigation dimensions first and the signal dimensions last,
    so ``data.reshape(am._navigation_size1, -1)`` gives one row per
    navigation position (``am = s.axes_manager``).

    Parameters
    ----------
    data : array_like
        The data; converted with :func:`numpy.asarray` (dtype kept).
    axes : list of dict, optional
        One dict per data dimension in array order, with any of the keys
        ``size, scale, offset, units, name, navigate, is_binned, axis``.
    metadata, original_metadata : dict or Metadata, optional
        Copied into :class:`Metadata` trees.

    Examples
    --------
    >>> s = BaseSignal(np.zeros((3, 4)))
    >>> s
    <BaseSignal, title: , dimensions: (|4, 3)>
    """

    _signal_dimension: int | None = None
    _lazy = False

    def __init__(
        self,
        data: Any,
        axes: Sequence[dict | DataAxis] | None = None,
        metadata: dict | Metadata | None = None,
        original_metadata: dict | Metadata | None = None,
    ) -> None:
        data = np.asarray(data)
        if data.ndim == 0:
            data = data.reshape(1)
        axes_list = self._build_axes(data.shape, axes)
        self._setup(data, axes_list, _copied_tree(metadata, "metadata"),
                    _copied_tree(original_metadata, "original_metadata"))

    # -- construction ------------------------------------------------------
    @classmethod
    def _build_axes(cls, shape: tuple, axes: Any) -> list:
        ndim = len(shape)
        fixed = cls._signal_dimension
        if fixed is not None and ndim < fixed:
            raise InvalidInputError(
                f"{cls.__name__} needs data with at least {fixed} dimensions, "
                f"got shape {shape}"
            )
        if axes is None:
            axes = [{} for _ in shape]
        if isinstance(axes, (dict, str)) or not isinstance(axes, Sequence):
            raise InvalidTypeError(f"`axes` must be a list of dicts, got {type(axes).__name__}")
        if len(axes) != ndim:
            raise InvalidInputError(
                f"`axes` must have one entry per data dimension ({ndim}), "
                f"got {len(axes)}"
            )
        built = [_make_axis(spec, n, i) for i, (spec, n) in enumerate(zip(axes, shape))]
        if fixed is not None:
            for i, ax in enumerate(built):
                ax._navigate = i < ndim - fixed
        else:
            flags = [ax.navigate for ax in built]
            if flags != sorted(flags, reverse=True):
                raise InvalidInputError(
                    f"navigation axes must precede signal axes in array order, "
                    f"got navigate flags {flags}"
                )
        return built

    def _setup(self, data: np.ndarray, axes: list, metadata: Metadata,
               original_metadata: Metadata) -> None:
        check_data_dtype(data.dtype)
        self._data = data
        self.axes_manager = AxesManager(axes)
        metadata.add_node("General")
        metadata.add_node("Signal")
        if not metadata.has_item("General.title"):
            metadata.General.title = ""
        if not metadata.has_item("Signal.signal_type"):
            metadata.Signal.signal_type = ""
        self.metadata = metadata
        self.original_metadata = original_metadata

    @classmethod
    def _from_parts(cls, data: np.ndarray, axes: list, metadata: Metadata,
                    original_metadata: Metadata) -> "BaseSignal":
        """Build without copying; ``axes`` already carry navigate flags."""
        obj = cls.__new__(cls)
        obj._setup(data, axes, metadata, original_metadata)
        return obj

    def _derive(self, data: np.ndarray, axes: list, cls: type | None = None,
                array_fn: Any = None, scalar_fn: Any = lambda v: v) -> "BaseSignal":
        """New signal from transformed data/axes, carrying the metadata.

        ``array_fn`` maps a variance array like the old data to one like the
        new data (``None`` drops it); ``scalar_fn`` maps a scalar variance.
        """
        data = np.asarray(data)
        if data.ndim == 0:
            data, axes = data.reshape(1), [DataAxis(size=1)]
            cls = cls or BaseSignal  # a scalar result, shown as (|1)
        n_sig = sum(not ax.navigate for ax in axes)
        cls = cls or _pick_class(type(self), n_sig)
        new = cls._from_parts(data, axes, self._metadata_without_variance(),
                              self.original_metadata.deepcopy())
        var = self.metadata.get_item(_VARIANCE)
        if isinstance(var, BaseSignal):
            if array_fn is not None and var.data.shape == self.data.shape:
                new._attach_variance(np.asarray(array_fn(var.data)).reshape(data.shape))
        elif var is not None and scalar_fn is not None:
            new.metadata.set_item(_VARIANCE, scalar_fn(var))
        return new

    def _metadata_without_variance(self) -> Metadata:
        var = self.metadata.get_item(_VARIANCE)
        if var is None:
            return self.metadata.deepcopy()
        # pre-seed the memo so the (possibly large) variance is not copied
        md = copy.deepcopy(self.metadata, {id(var): None})
        md.del_item(_VARIANCE)
        return md

    def _attach_variance(self, variance_data: np.ndarray) -> None:
        """Store ``variance_data`` (shaped like the data) as a variance signal."""
        md = self._metadata_without_variance()
        md.General.title = f"Variance of {self.metadata.General.title}".strip()
        var = type(self)._from_parts(
            variance_data, [ax.copy() for ax in self.axes_manager._axes], md, Metadata()
        )
        self.metadata.set_item(_VARIANCE, var)

    # -- data ------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The data array (replace only with an array of the same shape)."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        value = np.asarray(value)
        if value.shape != self._data.shape:
            raise InvalidInputError(
                f"`data` must keep the shape {self._data.shape}, got {value.shape}"
            )
        check_data_dtype(value.dtype)
        self._data = value

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy:
            return np.array(self._data, dtype=dtype, copy=True)
        return np.asarray(self._data, dtype=dtype)

    def change_dtype(self, dtype: Any) -> None:
        """Convert the data to ``dtype`` in place.

        Examples
        --------
        >>> s = BaseSignal(np.arange(3)); s.change_dtype("float32"); s.data.dtype
        dtype('float32')
        """
        check_data_dtype(np.dtype(dtype))
        self._data = self._data.astype(dtype)

    def set_signal_type(self, signal_type: str = "") -> None:
        """Set ``metadata.Signal.signal_type`` and take the class it calls for.

        As in HyperSpy, ``"EELS"`` turns a one-dimensional signal into an
        ``EELSSpectrum`` and ``"EDS_TEM"``/``"EDS_SEM"`` into the EDS classes
        (see :mod:`swiftfit.signals.signal_types`); ``""`` returns to the
        generic class.

        Examples
        --------
        >>> from swiftfit.signals import Signal1D
        >>> s = Signal1D(np.arange(3.0))
        >>> s.set_signal_type("my_type"); s.metadata.Signal.signal_type
        'my_type'
        """
        if not isinstance(signal_type, str):
            raise InvalidTypeError(f"`signal_type` must be a str, got {signal_type!r}")
        from .lazy import LazySignal
        from .signal_types import base_class, canonical, specialise
        self.metadata.Signal.signal_type = canonical(signal_type)
        if not isinstance(self, LazySignal):
            self.__class__ = base_class(self)
            specialise(self)

    # -- representation ------------------------------------------------
    def __repr__(self) -> str:
        return (f"<{type(self).__name__}, title: {self.metadata.General.title}, "
                f"dimensions: {self.axes_manager._dims_string()}>")

    def __bool__(self) -> bool:
        raise ValueError(
            "the truth value of a signal is ambiguous; use s.data.any() or s.data.all()"
        )

    __hash__ = object.__hash__

    # -- copies -------------------------------------------------------------
    def _deepcopy_with_new_data(self, data: Any = None) -> "BaseSignal":
        """Deep copy of everything but the data, which is replaced by ``data``.

        ``data=None`` copies the current data.  The new data must have the
        same shape.

        Examples
        --------
        >>> s = BaseSignal(np.arange(3.0))
        >>> s._deepcopy_with_new_data(np.zeros(3)).data
        array([0., 0., 0.])
        """
        data = self._data.copy() if data is None else np.asarray(data)
        if data.shape != self._data.shape:
            raise InvalidInputError(
                f"`data` must have shape {self._data.shape}, got {data.shape}"
            )
        return type(self)._from_parts(
            data, [ax.copy() for ax in self.axes_manager._axes],
            self.metadata.deepcopy(), self.original_metadata.deepcopy(),
        )

    def __deepcopy__(self, memo: dict) -> "BaseSignal":
        return self._deepcopy_with_new_data(self._data.copy())

    def __copy__(self) -> "BaseSignal":
        return self._deepcopy_with_new_data(self._data)

    def deepcopy(self) -> "BaseSignal":
        """Return a copy sharing nothing with the original."""
        return self.__deepcopy__({})

    def copy(self) -> "BaseSignal":
        """Return a copy that shares the data array (axes/metadata copied)."""
        return self.__copy__()

    # -- slicing ------------------------------------------------------------
    @property
    def inav(self) -> SignalSlicer:
        """Slice navigation axes in natural order: ``s.inav[x, y]``.

        Examples
        --------
        >>> from swiftfit.signals import Signal1D
        >>> Signal1D(np.zeros((10, 10))).inav[:3]
        <Signal1D, title: , dimensions: (3|10)>
        """
        return SignalSlicer(self, navigation=True)

    @property
    def isig(self) -> SignalSlicer:
        """Slice signal axes in natural order; floats are axis values.

        Examples
        --------
        >>> from swiftfit.signals import Signal1D
        >>> Signal1D(np.zeros((10, 10))).isig[-5:]
        <Signal1D, title: , dimensions: (10|5)>
        """
        return SignalSlicer(self, navigation=False)

    def get_current_signal(self) -> "BaseSignal":
        """Return the signal at the current navigation indices.

        Examples
        --------
        >>> from swiftfit.signals import Signal1D
        >>> s = Signal1D(np.arange(6).reshape(2, 3))
        >>> s.axes_manager.indices = (1,)
        >>> s.get_current_signal().data
        array([3, 4, 5])
        """
        am = self.axes_manager
        key = am._array_indices
        axes = [ax.copy() for ax in am._axes if not ax.navigate]
        return self._derive(self._data[key], axes, array_fn=lambda v: v[key])

    def _get_current_data(self, axes_manager: Any = None, fft_shift: bool = False, as_numpy: bool | None = None):
        """HyperSpy's: the data at the current navigation position of
        ``axes_manager`` (default this signal's), as an array.

        ``as_numpy=True`` computes a lazy signal's block; ``fft_shift`` is not
        supported (NotSupportedError).

        Examples
        --------
        >>> from swiftfit.signals import Signal1D
        >>> s = Signal1D(np.arange(6).reshape(2, 3))
        >>> s.axes_manager.indices = (1,)
        >>> s._get_current_data()
        array([3, 4, 5])
        """
        if fft_shift:
            from ..errors import NotSupportedError

            raise NotSupportedError("`fft_shift=True`: swiftfit signals have no FFT shift")
        am = self.axes_manager if axes_manager is None else axes_manager
        data = self._data[tuple(am._array_indices)]
        if as_numpy:
            data = np.asarray(data.compute() if hasattr(data, "compute") else data)
        return data

    def __call__(self, axes_manager: Any = None, fft_shift: bool = False) -> Any:
        """``s()``: the data at the current navigation position (HyperSpy's)."""
        return self._get_current_data(axes_manager, fft_shift)

    def __iter__(self) -> Iterator["BaseSignal"]:
        for _ in self.axes_manager:
            yield self.get_current_signal()

    # -- axis rearrangement -------------------------------------------------
    def _axes_from_keys(self, keys: Any, argname: str) -> list:
        if isinstance(keys, (str, Integral, DataAxis)):
            keys = (keys,)
        if not isinstance(keys, Sequence):
            raise InvalidTypeError(
                f"`{argname}` must be an axis key or a sequence of them, got {keys!r}"
            )
        axes = [self.axes_manager[k] for k in keys]
        if len({id(a) for a in axes}) != len(axes):
            raise InvalidInputError(f"`{argname}` repeats an axis: {keys!r}")
        return axes

    def _rearranged(self, nav: list, sig: list) -> "BaseSignal":
        order = list(reversed(nav)) + list(reversed(sig))
        perm = [ax.index_in_array for ax in order]
        new_axes = []
        for ax in order:
            c = ax.copy()
            c._navigate = any(ax is n for n in nav)
            new_axes.append(c)
        return self._derive(np.transpose(self._data, perm), new_axes,
                            cls=_class_for_dimension(len(sig)),
                            array_fn=lambda v: np.transpose(v, perm))

    def transpose(self, signal_axes: Any = None, navigation_axes: Any = None) -> "BaseSignal":
        """Return a signal with navigation and signal roles reassigned.

        Parameters
        ----------
        signal_axes : sequence of axis keys, optional
            Natural-order indices or names of the new signal axes (first is
            x).  ``None`` with ``navigation_axes=None`` swaps the two groups.
        navigation_axes : sequence of axis keys, optional
            The new navigation axes; default: all remaining axes.

        Examples
        --------
        >>> from swiftfit.signals import Signal2D
        >>> Signal2D(np.zeros((3, 4))).T
        <BaseSignal, title: , dimensions: (4, 3|)>
        """
        am = self.axes_manager
        natural = am._get_axes_in_natural_order()
        if signal_axes is None and navigation_axes is None:
            return self._rearranged(list(am.signal_axes), list(am.navigation_axes))
        if signal_axes is not None:
            sig = self._axes_from_keys(signal_axes, "signal_axes")
            nav = ([a for a in natural if not any(a is s for s in sig)]
                   if navigation_axes is None
                   else self._axes_from_keys(navigation_axes, "navigation_axes"))
        else:
            nav = self._axes_from_keys(navigation_axes, "navigation_axes")
            sig = [a for a in natural if not any(a is n for n in nav)]
        if len(nav) + len(sig) != len(natural) or any(any(a is b for b in sig) for a in nav):
            raise InvalidInputError(
                f"`signal_axes` {signal_axes!r} and `navigation_axes` "
                f"{navigation_axes!r} must together name every axis exactly once"
            )
        return self._rearranged(nav, sig)

    @property
    def T(self) -> "BaseSignal":
        """Shortcut for :meth:`transpose` with no arguments."""
        return self.transpose()

    def as_signal1D(self, spectral_axis: Any) -> "BaseSignal":
        """Return a Signal1D whose signal axis is ``spectral_axis``.

        Examples
        --------
        >>> BaseSignal(np.zeros((3, 4))).as_signal1D(0)
        <Signal1D, title: , dimensions: (3|4)>
        """
        return self.transpose(signal_axes=[spectral_axis])

    def as_signal2D(self, image_axes: Sequence[Any]) -> "BaseSignal":
        """Return a Signal2D whose signal axes are ``image_axes = (x, y)``.

        Examples
        --------
        >>> BaseSignal(np.zeros((2, 3, 4))).as_signal2D((0, 1))
        <Signal2D, title: , dimensions: (2|4, 3)>
        """
        if isinstance(image_axes, (str, Integral)) or len(image_axes) != 2:
            raise InvalidInputError(f"`image_axes` must name two axes, got {image_axes!r}")
        return self.transpose(signal_axes=list(image_axes))

    # -- reductions ----------------------------------------------------------
    def _reduce(self, func: Any, axis: Any, variance: str | None) -> "BaseSignal":
        am = self.axes_manager
        axes = list(am.signal_axes) if axis is None else self._axes_from_keys(axis, "axis")
        if not axes:
            raise InvalidInputError("`axis`=None needs signal axes; this signal has none")
        where = tuple(ax.index_in_array for ax in axes)
        keep = [ax.copy() for ax in am._axes if ax.index_in_array not in where]
        n = int(np.prod([ax.size for ax in axes]))
        if variance == "sum":
            array_fn, scalar_fn = (lambda v: np.sum(v, axis=where)), (lambda v: v * n)
        elif variance == "mean":
            array_fn, scalar_fn = (lambda v: np.sum(v, axis=where) / n**2), (lambda v: v / n)
        else:
            array_fn = scalar_fn = None
        return self._derive(func(self._data, axis=where), keep,
                            array_fn=array_fn, scalar_fn=scalar_fn)

    def sum(self, axis: Any = None) -> "BaseSignal":
        """Sum over axes given by natural-order index, name or DataAxis.

        ``axis=None`` sums over all signal axes.  A variance in the metadata
        is propagated assuming independent noise.

        Examples
        --------
        >>> from swiftfit.signals import Signal1D
        >>> Signal1D(np.ones((2, 5))).sum()
        <BaseSignal, title: , dimensions: (2|)>
        """
        return self._reduce(np.sum, axis, "sum")

    def mean(self, axis: Any = None) -> "BaseSignal":
        """Average over axes (see :meth:`sum` for ``axis``).

        Examples
        --------
        >>> from swiftfit.signals import Signal1D
        >>> Signal1D(np.arange(6.0).reshape(2, 3)).mean(0).data
        array([1.5, 2.5, 3.5])
        """
        return self._reduce(np.mean, axis, "mean")

    def max(self, axis: Any = None) -> "BaseSignal":
        """Maximum over axes (see :meth:`sum`); the variance is dropped."""
        return self._reduce(np.max, axis, None)

    def min(self, axis: Any = None) -> "BaseSignal":
        """Minimum over axes (see :meth:`sum`); the variance is dropped."""
        return self._reduce(np.min, axis, None)

    # -- histogram --------------------------------------------------------------
    def get_histogram(self, bins: Any = "fd", range_bins: Any = None,
                      max_num_bins: int = 250, **kwargs: Any) -> "BaseSignal":
        """Histogram of all finite data values as a binned Signal1D.

        Parameters
        ----------
        bins : int, str or array_like
            Passed to :func:`numpy.histogram_bin_edges`.  When a string rule
            gives more than ``max_num_bins`` bins, ``max_num_bins`` is used.
        range_bins : (float, float), optional
            Lower and upper range of the bins.
        **kwargs
            ``density`` and ``weights`` are passed to :func:`numpy.histogram`.

        Examples
        --------
        >>> h = BaseSignal(np.arange(10.0)).get_histogram(bins=5)
        >>> h.data, h.axes_manager[0].scale
        (array([2, 2, 2, 2, 2]), 1.8)
        """
        from .signal1d import Signal1D

        unknown = set(kwargs) - {"density", "weights"}
        if unknown:
            raise InvalidTypeError(f"get_histogram got unexpected keyword(s) {sorted(unknown)}")
        values = self._data.ravel()
        mask = np.isfinite(values)
        weights = kwargs.get("weights")
        if weights is not None:
            weights = np.broadcast_to(np.asarray(weights), self._data.shape).ravel()[mask]
        values = values[mask]
        if values.size == 0:
            raise InvalidInputError("cannot histogram a signal with no finite values")
        edges = np.histogram_bin_edges(values, bins=bins, range=range_bins)
        if isinstance(bins, str) and edges.size - 1 > max_num_bins:
            edges = np.histogram_bin_edges(values, bins=max_num_bins, range=range_bins)
        counts, edges = np.histogram(values, bins=edges, weights=weights,
                                     density=bool(kwargs.get("density", False)))
        widths = np.diff(edges)
        if np.allclose(widths, widths[0], rtol=1e-9, atol=0):
            axis = {"offset": float(edges[0]), "scale": float(widths[0])}
        else:
            axis = {"axis": edges[:-1]}
        axis.update(name="value", is_binned=True)
        title = self.metadata.General.title
        hist = Signal1D(counts, axes=[axis])
        hist.metadata.General.title = f"{title} histogram" if title else "histogram"
        return hist

    # -- models -------------------------------------------------------------------
    @property
    def models(self) -> Any:
        """The models stored in this signal (``m.store()``, ``swiftfit.load``).

        Printing it shows HyperSpy's tree; ``s.models.restore(name)`` (or
        ``s.models.<name>.restore()``) rebuilds a model, ``remove``/``pop``
        drop one. See :class:`~swiftfit.io.model_manager.ModelManager`.

        Examples
        --------
        >>> m.store("start"); m2 = s.models.restore("start")   # doctest: +SKIP
        """
        from ..io.model_manager import ModelManager  # io imports signals: import late

        # one manager per signal, as HyperSpy's, so `s.models.a is s.models["a"]`
        manager = self.__dict__.get("_model_manager")
        if not isinstance(manager, ModelManager) or manager._signal is not self:
            manager = self.__dict__["_model_manager"] = ModelManager(self)
        return manager

    def save(self, filename: Any) -> None:
        """Write the signal and every model stored in it (``s.models``) to an
        HDF5 file that ``swiftfit.load`` reads back (HyperSpy's ``s.save``;
        the file is swiftfit's format, not HyperSpy's). Plain data, no pickle.

        Examples
        --------
        >>> m.store("start"); s.save("work.h5")                 # doctest: +SKIP
        >>> swiftfit.load("work.h5").models.restore("start")    # doctest: +SKIP
        """
        from ..io.hdf5_model import save_signal_with_models  # io imports signals: import late

        save_signal_with_models(self, filename)

    def as_lazy(self, chunks: Any = None) -> "BaseSignal":
        """A lazy copy over a dask array (see :func:`swiftfit.signals.lazy.as_lazy`).

        Examples
        --------
        >>> BaseSignal(np.zeros((4, 8))).as_lazy()._lazy
        True
        """
        from .lazy import as_lazy

        return as_lazy(self, chunks)

    def create_model(self, *args: Any, **kwargs: Any) -> Any:
        """Models need a Signal1D or Signal2D; this raises ``TypeError``."""
        raise InvalidTypeError(
            f"create_model is not available for {type(self).__name__}; convert "
            f"with as_signal1D(...) or as_signal2D(...) or use Signal1D/Signal2D"
        )


def check_data_dtype(dtype: Any, name: str = "data") -> None:
    """Refuse signal data that are not real numbers (bool, integer or float).

    Complex data would lose their imaginary part in every fit (NumPy only
    warns), strings and objects cannot be fitted at all.

    Examples
    --------
    >>> check_data_dtype(np.dtype(complex))
    Traceback (most recent call last):
    ...
    swiftfit.errors.InvalidTypeError: `data` must be real numbers (bool, integer or float), got dtype complex128; for complex data fit the real and imaginary parts (data.real, data.imag) as two signals
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "biuf" and dtype.names is None:
        return
    hint = ("; for complex data fit the real and imaginary parts (data.real, data.imag) as two signals"
            if dtype.kind == "c" else "")
    raise InvalidTypeError(f"`{name}` must be real numbers (bool, integer or float), got dtype {dtype}{hint}")


def _copied_tree(tree: Any, name: str) -> Metadata:
    if tree is None:
        return Metadata()
    if isinstance(tree, Metadata):
        return tree.deepcopy()
    if isinstance(tree, dict):
        return Metadata(copy.deepcopy(tree))
    raise InvalidTypeError(f"`{name}` must be a dict or Metadata, got {type(tree).__name__}")
