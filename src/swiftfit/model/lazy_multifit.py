"""``multifit`` of a lazy signal: the batched engine mapped over dask navigation blocks.

The data (a dask array, signal axes in one chunk) is cut into its navigation
blocks; one dask task per block builds a *compact* copy of the model — an
eager model of that block's pixels alone, with that block's parameter maps
and per-pixel arrays — runs the same batched solves as the eager
``multifit`` (``_solve_pixels`` in chunks) and returns the block's maps
(``values``, ``std``, ``is_set`` of every parameter; ``status``, ``nfev``,
``chisq``, ``dof``, ``lnl``, ``nfree``). Every pixel is an independent solve
from its own starting values, so the maps equal the eager result whatever the
blocks (checked bit for bit in the tests).

Where it runs: on whatever dask scheduler is active — the local threads by
default, a ``dask.config.set(scheduler=...)``, or a
``dask.distributed.Client`` (a LocalCluster or any cluster): with a client the
blocks are submitted at once and gathered as they finish; otherwise they are
computed in waves of a few blocks, so at most a few blocks of data are in
memory. A task lost with its worker is re-run by dask; its result is the same
and is written once to the same place (by the driver, or as a whole-chunk
write of a zarr store), so nothing is lost or counted twice.

Where the maps go: into the model's maps (default), or with ``out=`` into a
zarr store (``*.zarr``, written by the tasks themselves, chunk by chunk) or an
HDF5 file (written by the driver as blocks arrive); the model's maps are then
left as they were (:func:`read_maps` / :func:`apply_maps` read the store).

``refit_failed``: the neighbour refit needs neighbours across blocks, so it is
a second pass on the driver after all blocks are in: the eager
``_refit_from_neighbours`` itself, reading only the failed pixels' spectra
(``dask.array.vindex``). With ``out=`` the pass runs on a copy of the model
loaded from the store (only when some pixel failed) and writes back the
refitted pixels.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time

import numpy as np

from .._optional import require
from ..errors import InvalidInputError
from ..signals.lazy import is_dask_array
from .autosave import PIXEL_ARRAYS
from .model1d import Model1D
from .model2d import Model2D

__all__ = ["LazyModel1D", "LazyModel2D", "apply_maps", "lazy_multifit", "read_maps"]

_log = logging.getLogger("swiftfit")
_FIELDS = ("values", "std", "is_set")
MAPS_FORMAT = "swiftfit-maps"


# ------------------------------------------------------------- lazy models
class LazyModel1D(Model1D):
    """A :class:`~swiftfit.model.model1d.Model1D` of a lazy signal
    (``LazySignal1D.create_model()``).

    Examples
    --------
    >>> m = swiftfit.load("cube.zarr", lazy=True).create_model()   # doctest: +SKIP
    >>> m.multifit(out="maps.zarr")                                # doctest: +SKIP
    """


class LazyModel2D(Model2D):
    """A :class:`~swiftfit.model.model2d.Model2D` of a lazy signal."""


# ------------------------------------------------------------- the blocks
def _template(model):
    """The model on a one-pixel eager signal: components, ties, ranges and
    options without the maps (shipped to every task; the maps go per block).
    """
    sig = model.signal
    am = sig.axes_manager
    shape = (1,) + tuple(am._signal_shape_in_array)
    axes = [{"size": 1}] + [_signal_axis(ax) for ax in sorted(am.signal_axes, key=lambda a: a.index_in_array)]
    tiny = sig._eager_class(np.zeros(shape), axes=axes, metadata=sig._metadata_without_variance().as_dictionary())
    var = sig.metadata.get_item("Signal.Noise_properties.variance")
    if var is not None and not hasattr(var, "data"):
        tiny.metadata.set_item("Signal.Noise_properties.variance", var)
    template = model._copy_onto(tiny, nav_flat=np.zeros(1, dtype=np.intp), channel_mask=model._channel_switches)
    return template


def _signal_axis(ax) -> dict:
    d = ax.get_axis_dictionary()
    d["navigate"] = False
    return d


def _fit_block(rows, var_rows, template, maps, active, arrays, mask, options, start, chunk_size, sink, region):
    """One navigation block: a compact eager model of its pixels, the eager
    batched solves, and its maps (written to ``sink`` when given).
    """
    B = int(np.prod(mask.shape))
    am = template.signal.axes_manager
    sig_shape = tuple(am._signal_shape_in_array)
    axes = [{"size": B}] + [_signal_axis(ax) for ax in sorted(am.signal_axes, key=lambda a: a.index_in_array)]
    signal = type(template.signal)(np.asarray(rows).reshape((B,) + sig_shape), axes=axes,
                                   metadata=template.signal.metadata.as_dictionary())
    if var_rows is not None:
        signal._attach_variance(np.asarray(var_rows, dtype=float).reshape((B,) + sig_shape))
    model = template._copy_onto(signal, nav_flat=np.zeros(B, dtype=np.intp), channel_mask=template._channel_switches)
    for p, m in zip(model._all_parameters(), maps):
        if m is not None:
            p._map = m.reshape(B).copy()
    for comp, a in zip(model._components, active):
        if a is not None:
            comp._active_array = a.reshape(B).copy()
    for name, a in arrays.items():
        setattr(model, name, a.reshape(B).copy())
    request = model._solve_options(options["optimizer"], options["loss_function"], options["grad"],
                                   options["bounded"], options["fd_scheme"], dict(options["kwargs"]))
    pixels = [(i,) for i in np.flatnonzero(~mask.reshape(B))]
    for s in range(0, len(pixels), chunk_size):
        model._solve_pixels(pixels[s:s + chunk_size], request=request, start=start)
    shape = mask.shape
    result = {"maps": [None if p._map.ndim == 0 else p._map.reshape(shape) for p in model._all_parameters()],
              "arrays": {name: getattr(model, name).reshape(shape) for name in PIXEL_ARRAYS}}
    if sink is not None:
        sink.write(region, result)
        return {"pixels": len(pixels)}  # the maps are in the store, not sent back
    return result


def _active_client():
    """The dask.distributed client that dask would use now, or None."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        client = default_client()
    except ValueError:
        return None
    scheduler = require("dask").config.get("scheduler", None)
    return client if scheduler in (None, "dask.distributed", "distributed") else None


def _run(tasks, on_result, wave: int, progress) -> None:
    """Compute ``tasks`` (dask delayed) on the active scheduler, calling
    ``on_result(i, result)`` as each one finishes.
    """
    dask = require("dask", "dask")
    client = _active_client()
    if client is not None:
        from distributed import as_completed

        futures = client.compute(tasks)
        where = {f.key: i for i, f in enumerate(futures)}
        for fut, result in as_completed(futures, with_results=True):
            on_result(where[fut.key], result)
            progress.update(1)
            fut.release()
        return
    for s in range(0, len(tasks), wave):
        for i, result in enumerate(dask.compute(*tasks[s:s + wave])):
            on_result(s + i, result)
            progress.update(1)
        # zarr's asyncio reads leave each chunk's buffer in a reference cycle
        # that the collector, triggered by object counts and not bytes, reached
        # too late: the driver's memory grew with the data (+170 MB per 512 MiB).
        # Collecting the young generations after each wave bounds it; a full
        # collection would too, at ~0.2 s a wave.
        gc.collect(1)


# ----------------------------------------------------------------- driver
def lazy_multifit(model, mask=None, fetch_only_fixed: bool = False, autosave: bool = False, autosave_every: int = 10,
                  show_progressbar=None, interactive_plot: bool = False, iterpath=None, optimizer: str | None = None,
                  loss_function="ls", grad="auto", bounded: bool = False, fd_scheme: str = "2-point",
                  chunk_size: int | None = None, refit_failed: bool = True, autosave_file=None,
                  resume: bool = False, out: str | os.PathLike | None = None, overwrite: bool = True,
                  **kwargs) -> None:
    """``m.multifit(...)`` for a model of a lazy signal (see the module docstring).

    Takes the arguments of :meth:`~swiftfit.model.multifit.MultifitMixin.multifit`
    and:

    Parameters
    ----------
    out : str or os.PathLike, optional
        Write the maps to this store instead of the model: ``*.zarr`` (zarr,
        chunked like the data's navigation blocks, written by the tasks) or
        any other name (HDF5, written by the driver). Layout: one group per
        component and parameter with ``values``, ``std``, ``is_set``; and
        ``status``, ``nfev``, ``chisq``, ``dof``, ``lnl``, ``nfree``,
        ``refitted``. Read it back with :func:`read_maps` / :func:`apply_maps`.
    overwrite : bool
        Replace an existing ``out`` store.

    ``iterpath`` (sequential fits), ``autosave``/``resume`` and custom loss
    functions need the data in memory: ``s.compute()`` first.

    Examples
    --------
    >>> s = swiftfit.load("cube.zarr", lazy=True)               # doctest: +SKIP
    >>> m = s.create_model(); m.extend([Gaussian(), Offset()])  # doctest: +SKIP
    >>> m.multifit()                                            # threads  # doctest: +SKIP
    >>> with distributed.Client(LocalCluster(n_workers=2)):     # doctest: +SKIP
    ...     m.multifit(out="maps.zarr")
    """
    from .multifit import _check_bool

    da = require("dask.array", "dask")
    dask = require("dask", "dask")
    from tqdm.auto import tqdm

    nav = model._nav_shape
    data = model.signal.data
    if not is_dask_array(data):
        raise InvalidInputError(f"lazy_multifit needs a signal over a dask array, got {type(data).__name__}")
    if iterpath is not None:
        raise InvalidInputError(f"`iterpath`={iterpath!r} fits pixel after pixel, which a lazy signal does not do; "
                                "use iterpath=None (batched, by blocks) or s.compute() the signal first")
    if _check_bool("autosave", autosave) or _check_bool("resume", resume):
        raise InvalidInputError("`autosave`/`resume` are not available for lazy signals; write the maps with "
                                "out='maps.zarr' instead, or compute() the signal first")
    if callable(loss_function):
        raise InvalidInputError("a custom `loss_function` calls back into the model at each pixel, which a lazy "
                                "multifit cannot do; compute() the signal first")
    fetch_only_fixed = _check_bool("fetch_only_fixed", fetch_only_fixed)
    refit_failed = _check_bool("refit_failed", refit_failed)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != nav:
            raise InvalidInputError(f"`mask` must have the navigation shape {nav}, got {mask.shape}")
    if chunk_size is not None and (isinstance(chunk_size, (bool, np.bool_))
                                   or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise InvalidInputError(f"`chunk_size` must be a positive integer or None, got {chunk_size!r}")
    if not nav:
        raise InvalidInputError("a lazy multifit needs navigation axes; for one spectrum use fit()")
    # bad options are refused here, before any task runs
    request = model._solve_options(optimizer, loss_function, grad, bounded, fd_scheme, dict(kwargs))
    spec, loss = request.optimizer, request.loss
    if not spec.batched:
        _log.info("multifit: %r is not batched; each pixel starts from its own maps (no path)", spec.name)
    options = {"optimizer": optimizer, "loss_function": loss_function, "grad": grad, "bounded": bounded,
               "fd_scheme": fd_scheme, "kwargs": dict(kwargs)}
    chunk_size = model._default_chunk_size() if chunk_size is None else int(chunk_size)
    params = model._all_parameters()
    start = [np.nan if p.value is None else float(p.value) for p in params] if fetch_only_fixed else None
    n_nav = len(nav)
    whole = {k: -1 for k in range(n_nav, data.ndim)}
    if any(len(data.chunks[k]) > 1 for k in whole):
        _log.info("multifit: rechunking the data so that every block holds whole spectra")
        data = data.rechunk(whole)
    variance = model.signal.metadata.get_item("Signal.Noise_properties.variance")
    var_data = None
    if variance is not None and hasattr(variance, "data"):
        vd = variance.data
        if tuple(vd.shape) != tuple(data.shape):
            raise InvalidInputError(f"the noise variance must be shaped like the data {tuple(data.shape)}, "
                                    f"got {tuple(vd.shape)}")
        var_data = (vd if is_dask_array(vd) else da.from_array(np.asarray(vd))).rechunk(data.chunks)
    template = _template(model)
    dblocks = data.to_delayed().reshape(data.numblocks[:n_nav])
    vblocks = None if var_data is None else var_data.to_delayed().reshape(data.numblocks[:n_nav])
    bounds = [np.concatenate([[0], np.cumsum(c)]) for c in data.chunks[:n_nav]]
    regions = [tuple(slice(int(bounds[k][i]), int(bounds[k][i + 1])) for k, i in enumerate(b))
               for b in np.ndindex(*data.numblocks[:n_nav])]

    def _fit_into(sink):
        task_sink = sink if sink is not None and sink.tasks_write else None
        fit_block = dask.delayed(_fit_block)
        tasks = []
        for b, region in zip(np.ndindex(*data.numblocks[:n_nav]), regions):
            maps = [None if p._map.ndim == 0 else p._map[region].copy() for p in params]
            active = [None if c._active_array is None else np.asarray(c._active_array)[region].copy()
                      for c in model._components]
            arrays = {name: getattr(model, name)[region].copy() for name in PIXEL_ARRAYS}
            block_mask = (np.zeros(tuple(s.stop - s.start for s in region), bool) if mask is None
                          else mask[region].copy())
            tasks.append(fit_block(dblocks[b], None if vblocks is None else vblocks[b], template, maps, active, arrays,
                                   block_mask, options, start, chunk_size, task_sink, region))

        def on_result(i, result):
            if sink is None:
                _write_into_model(model, regions[i], result)
            elif not sink.tasks_write:
                sink.write(regions[i], result)

        model._remember_fit(loss, bounded)
        model.fit_output = None
        model_refitted = np.zeros(nav, dtype=bool)
        begin = time.perf_counter()
        workers = int(dask.config.get("num_workers", None) or os.cpu_count() or 1)
        with tqdm(total=len(tasks), disable=not show_progressbar, desc="multifit (blocks)") as bar:
            _run(tasks, on_result, wave=max(2, workers), progress=bar)
        if sink is None:
            model._multifit_refitted = model_refitted
            if refit_failed:
                pixels = [p for p in np.ndindex(*nav) if mask is None or not mask[p]]
                model._refit_from_neighbours(pixels, chunk_size, request)
        elif refit_failed:
            _refit_store(model, sink, mask, chunk_size, request)
        model._multifit_time = time.perf_counter() - begin

    if out is None:
        _fit_into(None)
        return
    from ..io.lazy_io import is_zarr_path
    from ..io.safety import atomic_target

    if os.path.exists(out) and not overwrite:
        raise InvalidInputError(f"`out`={os.fspath(out)!r} exists; pass overwrite=True to replace it")
    # the tasks write a temporary sibling, renamed over `out` when every block and the
    # refit are done: an interrupted run leaves `out` as it was (issue 19)
    is_zarr = is_zarr_path(out)
    with atomic_target(out, directory=is_zarr) as tmp:
        _fit_into(_open_store(tmp, model, data.chunks[:n_nav], True, is_zarr=is_zarr))


def _write_into_model(model, region, result) -> None:
    for p, m in zip(model._all_parameters(), result["maps"]):
        if m is not None:
            p._map[region] = m
    for name, a in result["arrays"].items():
        getattr(model, name)[region] = a


def _refit_store(model, sink, mask, chunk_size, request) -> None:
    """The neighbour refit of an ``out=`` run: only when some pixel failed, on
    a copy of the model loaded from the store; the refitted pixels are written back.
    """
    from .multifit import _BAD_DATA, _NO_SIGNAL

    status = sink.read("status")
    failed = (status < 0) & (status != _BAD_DATA) & (status != _NO_SIGNAL)
    if mask is not None:
        failed &= ~mask
    if not failed.any():
        return
    nav = model._nav_shape
    work = model._copy_onto(model.signal, nav_flat=np.arange(int(np.prod(nav))).reshape(nav),
                            channel_mask=model._channel_switches)
    _load_into(work, sink)
    pixels = [p for p in np.ndindex(*nav) if mask is None or not mask[p]]
    work._multifit_refitted = np.zeros(nav, dtype=bool)
    work._refit_from_neighbours(pixels, chunk_size, request)
    sink.write_points(work, np.nonzero(work._multifit_refitted))


# ------------------------------------------------------------------ stores
def _names(model):
    out = []
    for comp in model._components:
        for p in comp.parameters:
            for part in (comp.name, p.name):
                if not part or "/" in part or part in (".", ".."):
                    raise InvalidInputError(f"cannot store the maps of {comp.name}.{p.name} with out=: "
                                            "component and parameter names must not contain '/'")
            out.append(f"{comp.name}/{p.name}")
    return out


class _Store:
    """Maps in a zarr store or an HDF5 file: ``<component>/<parameter>/{values,std,is_set}``,
    the per-pixel arrays (``status``, ``nfev``, ``chisq``, ``dof``, ``lnl``,
    ``nfree``) and ``refitted`` at the top. Pickles as a path and names.
    """

    def __init__(self, path, names, zarr_store: bool, tasks_write: bool):
        self.path = os.path.abspath(os.fspath(path))
        self.names = names
        self.zarr = zarr_store
        self.tasks_write = tasks_write

    @contextlib.contextmanager
    def _open(self, mode):
        if self.zarr:
            zarr = require("zarr", "dask")
            yield zarr.open_group(self.path, mode=mode)
        else:
            import h5py

            with h5py.File(self.path, mode) as f:
                yield f

    def _entries(self, result):
        for name, m in zip(self.names, result["maps"]):
            if m is not None:
                for field in _FIELDS:
                    yield f"{name}/{field}", m[field]
        for name, a in result["arrays"].items():
            yield name.lstrip("_"), a

    def write(self, region, result) -> None:
        """Write one block's maps (whole chunks: a repeated write is the same write)."""
        with self._open("r+") as g:
            for key, value in self._entries(result):
                g[key][region] = value

    def read(self, key: str) -> np.ndarray:
        with self._open("r") as g:
            return np.asarray(g[key][...])

    def write_points(self, model, idx) -> None:
        """Write ``model``'s maps and arrays at the pixels ``idx`` (a tuple of index arrays)."""
        if not idx[0].size:
            return
        result = {"maps": [None if p._map.ndim == 0 else p._map for p in model._all_parameters()],
                  "arrays": {name: getattr(model, name) for name in PIXEL_ARRAYS}}
        with self._open("r+") as g:
            for key, value in list(self._entries(result)) + [("refitted", model._multifit_refitted)]:
                arr = g[key]
                for point in zip(*idx):  # a few pixels: plain writes work for zarr and h5py alike
                    arr[point] = value[point]


def _open_store(out, model, nav_chunks, overwrite: bool, is_zarr: bool | None = None) -> _Store:
    from ..io.lazy_io import is_zarr_path

    names = _names(model)
    nav = model._nav_shape
    is_zarr = is_zarr_path(out) if is_zarr is None else is_zarr
    if os.path.exists(out) and not overwrite:
        raise InvalidInputError(f"`out`={os.fspath(out)!r} exists; pass overwrite=True to replace it")
    # zarr chunks equal to the blocks when the blocks are regular: each task then
    # writes whole chunks of its own, safely in parallel; otherwise the driver writes
    regular = all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in nav_chunks)
    chunks = tuple(int(c[0]) for c in nav_chunks)
    specs = []
    for name, p in zip(names, model._all_parameters()):
        specs += [(f"{name}/values", "f8", np.nan), (f"{name}/std", "f8", np.nan), (f"{name}/is_set", "bool", False)]
    specs += [(n.lstrip("_"), getattr(model, n).dtype.str, np.nan if getattr(model, n).dtype.kind == "f" else 0)
              for n in PIXEL_ARRAYS]
    specs.append(("refitted", "bool", False))
    if is_zarr:
        zarr = require("zarr", "dask")
        root = zarr.open_group(os.fspath(out), mode="w")
        for key, dtype, fill in specs:
            root.create_array(key, shape=nav, chunks=chunks, dtype=dtype, fill_value=fill)
        root.attrs.update({"swiftfit_format": MAPS_FORMAT, "parameters": names})
    else:
        import h5py

        with h5py.File(out, "w") as f:
            f.attrs["swiftfit_format"] = MAPS_FORMAT
            for key, dtype, fill in specs:
                f.create_dataset(key, shape=nav, dtype=dtype, chunks=chunks, fillvalue=fill)
    # every block is written whole, masked pixels with the maps they had: nothing is left at the fill value
    store = _Store(out, names, is_zarr, tasks_write=is_zarr and regular)
    return store


def _load_into(model, store: _Store) -> None:
    with store._open("r") as g:
        for name, p in zip(store.names, model._all_parameters()):
            if p._map.ndim:
                for field in _FIELDS:
                    p._map[field] = np.asarray(g[f"{name}/{field}"][...])
        for n in PIXEL_ARRAYS:
            getattr(model, n)[...] = np.asarray(g[n.lstrip("_")][...])
        model._multifit_refitted = np.asarray(g["refitted"][...]).astype(bool)


def _stored_names(path) -> list[str]:
    """The ``"Component/parameter"`` names a maps store holds (checking its format)."""
    from ..io.lazy_io import is_zarr_path

    if is_zarr_path(path):
        zarr = require("zarr", "dask")
        g = zarr.open_group(os.fspath(path), mode="r")
        if g.attrs.get("swiftfit_format") != MAPS_FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a swiftfit maps store")
        return list(g.attrs["parameters"])
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("swiftfit_format") != MAPS_FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a swiftfit maps file")
        return [f"{c}/{p}" for c in f if isinstance(f[c], h5py.Group) for p in f[c]]


def read_maps(path: str | os.PathLike) -> dict:
    """The maps written by ``multifit(out=path)``, as a dict of NumPy arrays
    (``"Gaussian/A/values"``, ..., ``"status"``, ``"chisq"``, ...).

    Examples
    --------
    >>> read_maps("maps.zarr")["Gaussian/centre/values"].shape    # doctest: +SKIP
    (256, 256)
    """
    from ..io.lazy_io import is_zarr_path

    names = _stored_names(path)
    store = _Store(path, names, is_zarr_path(path), False)
    out = {}
    for name in names:
        for field in _FIELDS:
            out[f"{name}/{field}"] = store.read(f"{name}/{field}")
    for n in [n.lstrip("_") for n in PIXEL_ARRAYS] + ["refitted"]:
        out[n] = store.read(n)
    return out


def apply_maps(model, path: str | os.PathLike) -> None:
    """Load the maps of ``multifit(out=path)`` into ``model`` (the same components),
    so ``m.multifit_output`` and the parameter maps show them.

    Examples
    --------
    >>> m.multifit(out="maps.zarr"); apply_maps(m, "maps.zarr")   # doctest: +SKIP
    """
    from ..io.lazy_io import is_zarr_path

    names = _names(model)
    stored = set(_stored_names(path))  # the names only: the maps are read once, below
    missing = [n for n in names if n not in stored]
    if missing:
        raise InvalidInputError(f"{os.fspath(path)!r} has no maps for {missing}")
    _load_into(model, _Store(path, names, is_zarr_path(path), False))
