"""SAMFire's fitting of a batch of pixels, and the pools that run it.

:func:`fit_batch` fits a few pixels of a model through the batched engine
(``model.fit_pixels``, the fittable interface), each pixel from its own starting values: for every
combination of optional components (on/off), the candidate starts are tried in
order until the goodness test passes; among the combinations that pass, the
lowest AICc wins. Pixels that pass nowhere are put back as they were. It
returns the new map rows, so the same call serves the main process (serial),
a multiprocessing pool and a dask.distributed client, each worker fitting
its own copy of the model.

Only the pixel indices, the start arrays and the fit options travel to a
worker; the model goes once per ``open`` of a pool (at every ``start``).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import uuid
import warnings

import numpy as np

from ..errors import FitWarning, InvalidInputError
from ..problem.solution import Status
from .goodness import information_criteria

__all__ = ["DaskPool", "ProcessPool", "SerialPool", "fit_batch", "make_pool"]

_FITTER_ALIASES = {"mpfit": "lm", "leastsq": "lm"}  # HyperSpy 1.x's fitter names


def fit_options(model, fit_kwargs: dict):
    """Resolve ``start(**kwargs)`` once: the request for ``model.fit_pixels``,
    or None for a custom loss (which is fitted pixel by pixel with ``fit``).
    """
    kw = dict(fit_kwargs)
    fitter = kw.pop("fitter", None)
    if fitter is not None and kw.get("optimizer") is None:
        kw["optimizer"] = _FITTER_ALIASES.get(fitter, fitter)
    optimizer = kw.pop("optimizer", None)
    loss_function = kw.pop("loss_function", "ls")
    grad = kw.pop("grad", "auto")
    bounded = kw.pop("bounded", False)
    fd_scheme = kw.pop("fd_scheme", "2-point")
    for ignored in ("update_plot", "print_info", "return_info"):
        kw.pop(ignored, None)
    solve = model.fit_request(optimizer, loss_function, grad, bounded, fd_scheme, **kw)
    if solve.loss.name == "custom":
        # every keyword of start(), the request's own (errordef, rescale_covariance, verify,
        # huber_delta, backend) as well as the solver's: each pixel's fit is the m.fit a user
        # would call with them (solve.options alone dropped errordef: issue 15, item 8)
        return None, dict(optimizer=optimizer, loss_function=loss_function, grad=grad, bounded=bounded,
                          fd_scheme=fd_scheme, **kw)
    return solve, None


def _fit_pixels(model, pixels, solve, per_pixel_kwargs) -> None:
    if solve is not None:
        model.fit_pixels(list(pixels), solve)
        return
    am = model.axes_manager
    original = tuple(am.indices)
    try:
        for pix in pixels:
            am.indices = tuple(pix)[::-1]
            try:
                model.fit(**per_pixel_kwargs)
            except InvalidInputError:
                model.fit_results.mark_failed(pix, Status.BAD_DATA)  # data it cannot fit, as multifit marks them
    finally:
        am.indices = original


def fit_batch(model, pixels, candidates, combos, optional, fit_kwargs, goodness_test) -> dict:
    """Fit ``pixels`` of ``model`` from ``candidates`` and return the new rows.

    Parameters
    ----------
    model : BaseModel
        Fitted in place; on return only the accepted pixels differ.
    pixels : list of tuple
        Array-order navigation indices (B of them).
    candidates : ndarray, shape (K, B, P)
        Starting values of every parameter of the model (model order), tried
        in order; NaN keeps the map's value.
    combos : list of tuple of bool
        For each combination, the on/off state of the ``optional``
        components; ``[()]`` without optional components.
    optional : list of int
        Model indices of the optional components.
    fit_kwargs : dict
        As for ``fit``.
    goodness_test : object
        With ``_check(model, idx)`` (see :mod:`.goodness`).

    Returns
    -------
    dict
        ``good`` (B,) bool, ``maps`` (one structured row array per
        parameter), ``active`` (one bool row per optional component), the
        per-pixel arrays, and ``nfits`` (pixel fits done).

    Examples
    --------
    >>> out = fit_batch(m, [(0, 1)], starts, [()], [], {}, red_chisq_test(1.0))   # doctest: +SKIP
    """
    solve, per_pixel = fit_options(model, fit_kwargs)
    B = len(pixels)
    idx = model._nav_index(pixels)
    params = model._all_parameters()
    comps = list(model)
    saved_maps = [p._map[idx].copy() for p in params]
    saved_active = [comps[c]._active_array[idx].copy() for c in optional]
    results = model.fit_results  # the per-pixel results (live view of the model's)
    saved_arrays = results.rows(idx)
    best_aicc = np.full(B, np.inf)
    good = np.zeros(B, dtype=bool)
    best_maps = [m.copy() for m in saved_maps]
    best_active = [a.copy() for a in saved_active]
    best_arrays = {k: v.copy() for k, v in saved_arrays.items()}
    # the best attempt of a pixel that passes no test (lowest AICc, else lowest χ²):
    # kept and flagged, never dropped (issue 15: SAMFire fits every pixel)
    tried = np.zeros(B, dtype=bool)
    fallback_key = np.full(B, np.inf)
    fallback_maps = [m.copy() for m in saved_maps]
    fallback_active = [a.copy() for a in saved_active]
    fallback_arrays = {k: v.copy() for k, v in saved_arrays.items()}
    nfits = 0
    candidates = np.asarray(candidates, dtype=float)

    def _copy_fit(maps, active, arrays, rows, sub):
        """Copy the model's fit at the pixels ``sub`` into rows ``rows`` of a kept set."""
        for kept, p in zip(maps, params):
            kept[rows] = p._map[sub]
        for kept, c in zip(active, optional):
            kept[rows] = comps[c]._active_array[sub]
        for name, value in results.rows(sub).items():
            arrays[name][rows] = value

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        for combo in combos:
            for j, c in enumerate(optional):
                comps[c]._active_array[idx] = combo[j]
            remaining = np.ones(B, dtype=bool)
            for start in candidates:
                rows = np.flatnonzero(remaining)
                if not rows.size:
                    break
                sub = tuple(i[rows] for i in idx)
                for p, saved, col in zip(params, saved_maps, start.T):
                    p._map[sub] = saved[rows]
                    v = col[rows]
                    ok = np.isfinite(v)
                    if ok.any() and p.free:
                        p._map["values"][tuple(i[ok] for i in sub)] = v[ok]
                _fit_pixels(model, [pixels[r] for r in rows], solve, per_pixel)
                nfits += rows.size
                passed = goodness_test._check(model, sub)
                aicc = information_criteria(model, sub)["AICc"]
                aicc = np.where(np.isfinite(aicc), aicc, np.inf)
                with np.errstate(all="ignore"):
                    chisq = results.chisq[sub]
                    key = np.where(np.isfinite(aicc), aicc, np.where(np.isfinite(chisq), np.finfo(float).max, np.inf))
                tried[rows] = True
                keep = ~passed & (key < fallback_key[rows])
                ktake = rows[keep]
                if ktake.size:
                    _copy_fit(fallback_maps, fallback_active, fallback_arrays, ktake, tuple(i[keep] for i in sub))
                    fallback_key[ktake] = key[keep]
                # a passing fit replaces the best one when its AICc is lower
                # (or it is the first to pass: AICc may be undefined for tiny n)
                better = passed & ((aicc < best_aicc[rows]) | ~good[rows])
                take = rows[better]
                if take.size:
                    _copy_fit(best_maps, best_active, best_arrays, take, tuple(i[better] for i in sub))
                    best_aicc[take] = aicc[better]
                    good[take] = True
                remaining[rows[passed]] = False
    # the model ends with the best result where one passed, as it was elsewhere
    for p, bm in zip(params, best_maps):
        p._map[idx] = bm
    for c, ba in zip(optional, best_active):
        comps[c]._active_array[idx] = ba
    results.set_rows(idx, best_arrays)
    # a pixel that passed nothing keeps its best attempt (flagged by apply_result)
    kept = ~good & np.isfinite(fallback_key)
    for bm, fm in zip(best_maps, fallback_maps):
        bm[kept] = fm[kept]
    for ba, fa in zip(best_active, fallback_active):
        ba[kept] = fa[kept]
    for name, arr in best_arrays.items():
        arr[kept] = fallback_arrays[name][kept]
    return {"good": good, "kept": kept, "tried": tried, "maps": best_maps, "active": best_active,
            "arrays": best_arrays, "nfits": nfits}


def apply_result(model, pixels, optional, result) -> None:
    """Write ``result`` (of :func:`fit_batch`) into ``model``: its accepted
    pixels, and the best attempt of those that passed no goodness test, which
    are flagged in ``model.fit_results.goodness_failed`` (``multifit_output.goodness_failed``).
    """
    flags = model.fit_results.goodness_failed
    good = np.asarray(result["good"], dtype=bool)
    kept = np.asarray(result.get("kept", np.zeros_like(good)), dtype=bool)
    for pix, g, k in zip(pixels, good, kept):
        if g or k:
            flags[tuple(pix)] = bool(k and not g)
    good = good | kept
    if not good.any():
        return
    idx = model._nav_index([p for p, g in zip(pixels, good) if g])
    comps = list(model)
    for p, rows in zip(model._all_parameters(), result["maps"]):
        p._map[idx] = rows[good]
    for c, rows in zip(optional, result["active"]):
        comps[c]._active_array[idx] = rows[good]
    model.fit_results.set_rows(idx, {name: rows[good] for name, rows in result["arrays"].items()})


# ------------------------------------------------------------------ copies
def _model_copy(model):
    """An independent copy of ``model`` (maps, active arrays, signal range)
    on the same (read-only) signal.
    """
    new = model._copy_onto(model.signal, channel_mask=model._channel_switches)
    new.fit_results.set_rows(Ellipsis, model.fit_results.rows(Ellipsis))
    return new


# ------------------------------------------------------------------ pools
class SerialPool:
    """Fits in the calling process, on the model itself."""

    kind = "serial"
    num_workers = 1

    def open(self, model) -> None:
        self._model = model

    def map(self, jobs, optional, fit_kwargs, goodness_test):
        return [fit_batch(self._model, px, cand, combos, optional, fit_kwargs, goodness_test)
                for px, cand, combos in jobs]

    def close(self) -> None:
        self._model = None


_WORKER_MODEL = None


def _model_bytes(model) -> bytes:
    """The model for a worker process, serialised in memory (never to a
    file) by cloudpickle: a model holds closures plain pickle refuses.
    """
    from .._optional import require

    cloudpickle = require("cloudpickle", "dask")
    return cloudpickle.dumps(_model_copy(model))


def _process_init(payload: bytes) -> None:
    import pickle  # the bytes of _model_bytes, made by this process's parent

    global _WORKER_MODEL
    _WORKER_MODEL = pickle.loads(payload)


def _process_job(args):
    px, cand, combos, optional, fit_kwargs, goodness_test = args
    return fit_batch(_WORKER_MODEL, px, cand, combos, optional, fit_kwargs, goodness_test)


class ProcessPool:
    """A ``multiprocessing`` pool of ``num_workers`` processes, each with its
    own copy of the model (sent once, when the pool opens at ``start``).
    """

    kind = "multiprocessing"

    def __init__(self, num_workers: int):
        self.num_workers = int(num_workers)
        self._pool = None

    def open(self, model) -> None:
        # never "fork": a process whose numba/BLAS threads already ran can
        # deadlock its forked children; the forkserver (swiftfit preloaded)
        # starts them clean and fast, and spawn where there is none
        methods = multiprocessing.get_all_start_methods()
        if "forkserver" in methods:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["swiftfit", "swiftfit.samfire.workers"])
        else:
            ctx = multiprocessing.get_context("spawn")
        self._pool = ctx.Pool(self.num_workers, initializer=_process_init, initargs=(_model_bytes(model),))

    def map(self, jobs, optional, fit_kwargs, goodness_test):
        args = [(px, cand, combos, optional, fit_kwargs, goodness_test) for px, cand, combos in jobs]
        return self._pool.map(_process_job, args, chunksize=1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None


_THREAD_MODELS = threading.local()


def _dask_job(model, token, px, cand, combos, optional, fit_kwargs, goodness_test):
    # a worker's threads share the scattered model: each fits its own copy
    cache = getattr(_THREAD_MODELS, "cache", None)
    if cache is None or cache[0] != token:
        cache = (token, _model_copy(model))
        _THREAD_MODELS.cache = cache
    return fit_batch(cache[1], px, cand, combos, optional, fit_kwargs, goodness_test)


class DaskPool:
    """Jobs submitted to a ``dask.distributed.Client`` (a LocalCluster or a
    real cluster); the model is scattered to every worker once per start.
    """

    kind = "dask"

    def __init__(self, client):
        self.client = client
        self._model = None
        self._token = None

    @property
    def num_workers(self) -> int:
        try:
            return max(1, sum(self.client.nthreads().values()))
        except (OSError, TimeoutError, AttributeError):  # a client that cannot answer: one job at a time
            return 1

    def open(self, model) -> None:
        self._token = uuid.uuid4().hex
        self._model = self.client.scatter(_model_copy(model), broadcast=True)

    def map(self, jobs, optional, fit_kwargs, goodness_test):
        futures = [self.client.submit(_dask_job, self._model, self._token, px, cand, combos, optional,
                                      fit_kwargs, goodness_test, pure=False)
                   for px, cand, combos in jobs]
        return self.client.gather(futures)

    def close(self) -> None:
        self._model = None


def make_pool(workers, client):
    """The pool for ``workers`` (None: one per CPU but one; 1: serial) or a
    dask ``client``.
    """
    if client is not None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - the client came from somewhere
            raise ImportError("a dask client needs dask.distributed; install it with "
                              "`pip install swiftfit[dask]`") from exc
        if not isinstance(client, Client):
            raise InvalidInputError(f"`client` must be a dask.distributed.Client, got {type(client).__name__}")
        return DaskPool(client)
    if workers is None:
        workers = max(1, (os.cpu_count() or 1) - 1)
    if isinstance(workers, (bool, np.bool_)) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InvalidInputError(f"`workers` must be a positive integer or None, got {workers!r}")
    return SerialPool() if workers == 1 else ProcessPool(int(workers))


def combinations(n_optional: int) -> list[tuple[bool, ...]]:
    """On/off states of ``n`` optional components: all on first, then with
    one off, two off, ... (HyperSpy's order).
    """
    out = []
    for k in range(n_optional + 1):
        for off in itertools.combinations(range(n_optional), k):
            out.append(tuple(i not in off for i in range(n_optional)))
    return out
