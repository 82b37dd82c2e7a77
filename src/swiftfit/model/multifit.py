"""multifit: fit every navigation position.

By default all pixels are fitted together by a batched solve, in chunks that
bound memory (each pixel starts from its own map values, i.e. the values
assigned with ``assign_current_values_to_all`` or set per pixel). HyperSpy's
sequential behaviour — each pixel starting from the previous result — is
``iterpath="serpentine"`` / ``"flyback"`` / an iterable of index tuples.

After a batched pass, pixels whose fit failed (but whose data are finite) are
refitted once from the median of their converged neighbours
(``refit_failed``). Progress can be saved to a file and resumed
(``autosave``, ``resume``; see :mod:`.autosave`), and ``m.multifit_output``
gives the per-pixel status, χ² and evaluation counts as signals.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
import warnings
from collections.abc import Iterable

import numpy as np
from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..problem.pixels import PixelChunk
from ..problem.rows import finite_rows
from ..problem.solution import Status
from ..problem.verify import too_few_points
from .autosave import (
    DEFAULT_AUTOSAVE_FILE,
    PIXEL_ARRAYS,
    Autosave,
    check_autosave_every,
)
from .fit_mixin import _none_as_hyperspy, poisson_start
from .multifit_output import MultifitOutput

_log = logging.getLogger("swiftfit")

# status codes (swiftfit.problem.solution): -4 is "data not finite" and -8 "no
# signal" (zeros), which no other starting point can fix; every other negative
# code may be a bad start
_BAD_DATA = Status.BAD_DATA
_NO_SIGNAL = Status.NO_SIGNAL


def serpentine(shape_natural: tuple[int, ...]):
    """Natural-order index tuples in HyperSpy's serpentine order (x fastest,
    reversing direction on every other row, recursively over higher dims).
    """
    if not shape_natural:
        yield ()
        return
    if len(shape_natural) == 1:
        yield from ((i,) for i in range(shape_natural[0]))
        return
    inner = list(serpentine(shape_natural[:-1]))
    for k in range(shape_natural[-1]):
        seq = inner if k % 2 == 0 else inner[::-1]
        for idx in seq:
            yield idx + (k,)


def flyback(shape_natural: tuple[int, ...]):
    """Natural-order index tuples, x fastest, always restarting each row."""
    for arr_idx in np.ndindex(*shape_natural[::-1]):
        yield tuple(arr_idx[::-1])


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


class MultifitMixin:
    """``multifit`` and ``multifit_output`` for every model."""

    def multifit(
        self,
        mask=None,
        fetch_only_fixed: bool = False,
        autosave: bool = False,
        autosave_every: int = 10,
        show_progressbar=None,
        interactive_plot: bool = False,
        iterpath=None,
        optimizer: str | None = None,
        loss_function="ls",
        grad="auto",
        bounded: bool = False,
        fd_scheme: str = "2-point",
        chunk_size: int | None = None,
        refit_failed: bool = True,
        autosave_file: str | os.PathLike | None = None,
        resume: bool = False,
        **kwargs,
    ) -> None:
        """Fit the model at every navigation position.

        Parameters
        ----------
        mask : array of bool, optional
            Navigation-shaped (array order); True positions are skipped (their
            maps and status are left as they are). Pixels whose data are not
            finite get status -4, pixels of zeros (no signal) -8, unfitted.
        fetch_only_fixed : bool
            HyperSpy's option. Sequential (``iterpath``): at each pixel only
            the *fixed* parameters are taken from the pixel's maps; the free
            ones start from the previous pixel's result even where the map is
            set. Batched: every pixel's free parameters start from their values
            at the current navigation position instead of their own maps.
        autosave : bool
            Save the progress to ``autosave_file``: in batched mode after
            every chunk, in sequential mode every ``autosave_every`` pixels,
            and once more when an exception (Ctrl-C included) interrupts the
            fit, so finished pixels are never lost. The file is deleted when
            the multifit completes.
        autosave_every : int
            Pixels between two saves in sequential mode (HyperSpy's name and
            meaning); the batched mode saves after every chunk.
        autosave_file : str or os.PathLike, optional
            Default ``"swiftfit_multifit_autosave.npz"`` in the current
            directory. An ``.npz`` of plain arrays (never pickle).
        resume : bool
            Resume is explicit, never automatic: with ``resume=True`` (which
            implies ``autosave=True``) the maps, statuses and the ``done`` mask
            are loaded from ``autosave_file``, the done pixels are skipped and
            the others fitted — with the same chunks, or from the same previous
            pixel along the path, so the result is identical to an
            uninterrupted run. A file written for another model (other
            components, parameters or shapes) is refused with a ValueError;
            without a file everything is fitted. With ``resume=False`` an
            existing file is overwritten (with a warning).
        show_progressbar : bool, optional
            tqdm progress bar.
        interactive_plot : bool
            Accepted for HyperSpy compatibility; nothing is plotted.
        iterpath : None, "serpentine", "flyback" or iterable of index tuples
            None (default): all pixels in one batched solve. Otherwise fit one
            pixel after another along the path (natural-order indices), each
            starting from the previous pixel's result where its own maps are
            not set (``is_set``), as HyperSpy does.
        chunk_size : int, optional
            Pixels per batched solve. Default: as many as keep one Jacobian
            (pixels × points × free parameters) near 32 MB, which bounds the
            solver's memory at a few hundred MB whatever the data size.
        refit_failed : bool
            Batched mode: after the pass, refit once (batched) every pixel
            whose fit failed for a reason other than its data (status < 0,
            but not -4 "not finite" or -8 "all zero") and that has a
            converged neighbour (adjacent in
            every navigation dimension, diagonals included), each free
            parameter starting from the median of those neighbours' values.
            The refit replaces the first result only if it converged, or
            reached a lower χ² where both failed; ``multifit_output.refitted``
            marks those pixels. Ignored along an ``iterpath``, where every
            pixel already starts from a neighbour's result.
        optimizer, loss_function, grad, bounded, fd_scheme, **kwargs
            As for :meth:`fit` (solver options such as ``ftol``, ``max_nfev``).

        Examples
        --------
        >>> m.multifit()                                      # doctest: +SKIP
        >>> m.multifit(iterpath="serpentine")                 # doctest: +SKIP
        >>> m.multifit(autosave=True, autosave_file="run.npz")          # doctest: +SKIP
        >>> # ... interrupted; later, in a new session with the same model:
        >>> m.multifit(autosave_file="run.npz", resume=True)  # doctest: +SKIP
        >>> m.multifit_output.success.data.all()              # doctest: +SKIP
        True

        On a lazy signal (dask data) the same arguments, plus ``out=`` (maps
        written to a zarr/HDF5 store), run the batched engine per navigation
        block on the active dask scheduler: :mod:`.lazy_multifit`.
        """
        if getattr(self.signal, "_lazy", False):
            from .lazy_multifit import lazy_multifit

            return lazy_multifit(
                self, mask=mask, fetch_only_fixed=fetch_only_fixed, autosave=autosave,
                autosave_every=autosave_every, show_progressbar=show_progressbar,
                interactive_plot=interactive_plot, iterpath=iterpath, optimizer=optimizer,
                loss_function=loss_function, grad=grad, bounded=bounded, fd_scheme=fd_scheme,
                chunk_size=chunk_size, refit_failed=refit_failed, autosave_file=autosave_file,
                resume=resume, **kwargs)
        if "out" in kwargs:
            raise InvalidInputError("`out` (maps written to a store) is for lazy signals; use "
                                    "s.as_lazy().create_model() or read the maps from the model")
        nav = self._nav_shape
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != nav:
                raise InvalidInputError(f"`mask` must have the navigation shape {nav}, got {mask.shape}")
        fetch_only_fixed = _check_bool("fetch_only_fixed", fetch_only_fixed)
        autosave = _check_bool("autosave", autosave)
        resume = _check_bool("resume", resume)
        refit_failed = _check_bool("refit_failed", refit_failed)
        every = check_autosave_every(autosave_every)
        if chunk_size is not None and (isinstance(chunk_size, (bool, np.bool_))
                                       or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
            raise InvalidInputError(f"`chunk_size` must be a positive integer or None, got {chunk_size!r}")
        # the options as given, for fit() along a path (before _fit_setup pops its own)
        fit_kw = dict(optimizer=optimizer, loss_function=loss_function, grad=grad, bounded=bounded,
                      fd_scheme=fd_scheme, **kwargs)
        # refuse bad fit options before any pixel is touched (fit() would
        # raise them at every pixel, and InvalidInputError would mark all -4)
        request = self._solve_options(optimizer, loss_function, grad, bounded, fd_scheme, kwargs)
        spec, loss = request.optimizer, request.loss

        save = None
        done = np.zeros(nav, dtype=bool)
        if autosave or resume:
            save = Autosave(self, DEFAULT_AUTOSAVE_FILE if autosave_file is None else autosave_file)
            if resume and save.exists():
                done = save.load()
                _log.info("multifit: resuming from %s, %d of %d pixels done", save.path, done.sum(), done.size)
            elif resume:
                _log.info("multifit: no autosave file %s; fitting every pixel", save.path)
            elif save.exists():
                warnings.warn(f"overwriting the multifit autosave file {str(save.path)!r}; pass resume=True "
                              "to continue the fit it holds", UserWarning, stacklevel=2)
            save.begin()
        self._multifit_refitted = np.zeros(nav, dtype=bool)

        completed = False
        start = time.perf_counter()
        try:
            self._remember_fit(loss, bounded)
            if iterpath is None and (loss.name == "custom" or not spec.batched):
                # custom losses call back into the model at the current position,
                # and unbatched solvers loop anyway: go pixel by pixel
                iterpath = "serpentine"
            if iterpath is not None:
                self._multifit_sequential(iterpath, mask, show_progressbar, fit_kw, fetch_only_fixed,
                                          done, save, every)
            else:
                self.fit_output = None  # a single fit's summary no longer describes the maps
                self._multifit_batched(mask, show_progressbar, chunk_size, fetch_only_fixed, done, save,
                                       refit_failed, request)
            completed = True
        finally:
            self._multifit_time = time.perf_counter() - start
            if save is not None:
                if completed:
                    save.delete()  # as HyperSpy: the file only exists while a fit is unfinished
                else:
                    save.write(done)  # no-op once frozen (then the last save is the consistent state)

    def _solve_options(self, optimizer, loss_function, grad, bounded, fd_scheme, kwargs):
        """Resolve and check the fit options once (``_fit_setup`` takes its own
        out of ``kwargs``): the request (:class:`~swiftfit.problem.request.FitRequest`)
        of :meth:`_solve_pixels`.
        """
        grad, bounded = _none_as_hyperspy(grad, bounded)
        self._fit_setup(optimizer, loss_function, grad, bounded, kwargs, fd_scheme=fd_scheme)
        return self._request

    def _default_chunk_size(self) -> int:
        """Pixels per batched solve: as many as keep one Jacobian (pixels ×
        points × free parameters) near 32 MB (results do not depend on it).
        """
        n_free = sum(p.free for c in self._components for p in c.parameters) or 1
        per_pixel = 8 * int(self._channel_switches.sum()) * n_free
        return int(min(max(32e6 // per_pixel, 16), 4096))  # np.clip's value (np.clip on a scalar: ~8 µs)

    # -------------------------------------------------------- batched
    def _multifit_batched(self, mask, show_progressbar, chunk_size, fetch_only_fixed, done, save,
                          refit_failed, request) -> None:
        nav = self._nav_shape
        if nav:
            # the pixels in np.ndindex's (C) order as index arrays (PixelChunk), not one tuple
            # per pixel (90,000 pixels: seconds)
            if mask is None:  # every pixel: np.nonzero of all-True's positions, in C order, directly
                keep = None
                pixels = PixelChunk.every(nav)
                flat = pixels.flat
            else:
                keep = ~np.asarray(mask, dtype=bool)
                where = np.nonzero(keep)
                flat = np.ravel_multi_index(where, nav)
                pixels = PixelChunk(where, nav, flat)
        else:
            pixels = [()] if mask is None or not mask[()] else []
        meta = save.meta if save is not None else {}
        if chunk_size is None:
            # a resumed run repeats the interrupted run's chunks (results do not
            # depend on them, but identical chunks make that a non-question)
            chunk_size = meta.get("chunk_size")
        if chunk_size is None:
            chunk_size = self._default_chunk_size()
        start = None
        if fetch_only_fixed:
            # the values at the current position when the run began (kept in
            # the file: by now the fit may have overwritten that position)
            saved = meta.get("start_values")
            params = [p for c in self._components for p in c.parameters]
            start = [np.nan if v is None else v for v in saved] if saved else [p.value for p in params]
            meta["start_values"] = [float(v) for v in start]
        meta["chunk_size"] = int(chunk_size)
        # no bar object at all without a bar (tqdm's set-up is ~0.1 ms a call)
        bar = tqdm(total=len(pixels), desc="multifit") if show_progressbar else None
        # `done` by flat position: one vector read and write per chunk, not one per pixel
        if not nav:
            flat = np.zeros(len(pixels), dtype=np.intp)
        for s in range(0, len(pixels), chunk_size):
            chunk = pixels if s == 0 and chunk_size >= len(pixels) else pixels[s:s + chunk_size]
            if save is None:  # `done` is all False (multifit's fresh one) and read by the autosave only
                todo = chunk
            elif (open_ := ~done.flat[flat[s:s + chunk_size]]).all():
                todo = chunk
            elif nav:
                keep_ = np.flatnonzero(open_)
                todo = PixelChunk(tuple(i[keep_] for i in chunk.index), nav, chunk.flat[keep_])
            else:
                todo = []
            if todo:
                self._solve_pixels(todo, request=request, start=start)
                if save is not None:
                    done.flat[flat[s:s + chunk_size]] = True
                    save.write(done)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        if save is not None:
            # the last chunk's save (or the loaded file) is the state after the
            # pass; an interrupted refit must not replace it with a half-refitted one
            save.frozen = True
        if refit_failed and self._any_refit_candidate(keep if nav else None):  # keep None: every pixel
            self._refit_from_neighbours(pixels, chunk_size, request)

    def _any_refit_candidate(self, keep) -> bool:
        """Whether some fitted pixel failed for a reason other than its data (what
        :meth:`_refit_from_neighbours` looks for), by one vector test.
        """
        failed = self._status < 0
        if keep is not None:
            failed &= keep
        if not failed.any():  # the common case: one comparison, no copy
            return False
        status = self._status[failed]
        return bool(((status != _BAD_DATA) & (status != _NO_SIGNAL)).any())

    def _solve_pixels(self, pixels, *, request, start=None) -> None:
        """One batched solve of ``pixels`` (compile, solve, write back: the
        fittable interface); non-finite data are marked -4.
        """
        spec, loss, bounded = request.optimizer, request.loss, request.bounded
        problem = self.compile(pixels, request, check=False)
        if start is not None:
            for i, plan in enumerate(problem.plans):
                if plan.kind == "free":
                    problem.p0[:, plan.column] = start[i]
        # a row is finite where Σ d² is (no temporary of the chunk's size); the
        # verification reads the same Σ d² (problem.data_norm2): one pass, not three
        sq = problem.data_norm2()
        empty = good = None  # the common case, no bad and no empty pixel: every one is fitted
        # every Σ d² finite and nonzero, no weights: nothing below would mark a pixel (two
        # reductions instead of five NumPy calls, a fixed cost of every multifit call)
        if not (problem.weights is None and np.isfinite(sq).all() and sq.all()):
            bad = ~np.isfinite(sq)
            if bad.any():  # not finite, or finite values whose squares overflowed
                bad[bad] = ~finite_rows(problem.data[bad])
            if problem.weights is not None:
                bad |= ~np.isfinite(problem.weights).all(axis=1)
            # zeros everywhere in the range (outside the sample, a dead pixel): no
            # signal determines a peak's position or width, whatever a solver says
            zero = np.flatnonzero(sq == 0)  # all zero, or values whose squares underflow
            if zero.size or bad.any():
                empty = np.zeros(problem.B, dtype=bool)
                if zero.size:
                    empty[zero] = ~problem.data[zero].any(axis=1)
                empty &= ~bad
                good = np.flatnonzero(~bad & ~empty)
        n_good = problem.B if good is None else good.size
        if n_good:
            sub = problem if n_good == problem.B else problem.take(good)
            self._check_problem(spec, loss, sub, bounded)
            sub = poisson_start(sub, loss, bounded)
            sol = too_few_points(sub) or spec.solve(sub, loss, bounded=bounded, **request.options)
            self.write_back(sub, sol, pixels if n_good == len(pixels) else [pixels[i] for i in good], loss=loss, rescale=request.rescale_covariance,
                            verify=request.verify)
        if empty is not None:
            for i in np.flatnonzero(bad):
                self._mark_failed(pixels[i], _BAD_DATA)
            for i in np.flatnonzero(empty):
                self._mark_failed(pixels[i], _NO_SIGNAL)

    def _refit_from_neighbours(self, pixels, chunk_size, request) -> None:
        """Refit failed pixels from the median of their converged neighbours.

        Every start is computed from the state after the main pass before any
        refit is written, so the outcome does not depend on the order of the
        refits (and a resumed run repeats it exactly).
        """
        nav = self._nav_shape
        status = self._status
        if not nav:
            return
        failed = [p for p in pixels if status[p] < 0 and status[p] not in (_BAD_DATA, _NO_SIGNAL)]
        if not failed:
            return
        ok = status > 0
        offsets = [o for o in itertools.product((-1, 0, 1), repeat=len(nav)) if any(o)]
        params = [p for c in self._components for p in c.parameters]
        free = [p for p in params if p.free]
        targets, starts = [], []
        for pix in failed:
            nbrs = [tuple(a + b for a, b in zip(pix, o)) for o in offsets]
            nbrs = [q for q in nbrs if all(0 <= q[k] < nav[k] for k in range(len(nav))) and ok[q]]
            if nbrs:
                idx = self._nav_index(nbrs)
                # the median: one neighbour in a wrong minimum does not move it
                starts.append([float(np.median(p._map["values"][idx])) for p in free])
                targets.append(pix)
        if not targets:
            return
        idx = self._nav_index(targets)
        old_maps = [p._map[idx].copy() for p in params]
        old_arrays = {name: getattr(self, name)[idx].copy() for name in PIXEL_ARRAYS}
        starts = np.array(starts)
        for j, p in enumerate(free):
            p._map["values"][idx] = starts[:, j]
        for s in range(0, len(targets), chunk_size):
            self._solve_pixels(targets[s:s + chunk_size], request=request)
        new_status = self._status[idx]
        with np.errstate(invalid="ignore"):
            new_chisq = np.nan_to_num(self._chisq[idx], nan=np.inf)
            old_chisq = np.nan_to_num(old_arrays["_chisq"], nan=np.inf)
        keep = (new_status > 0) | ((old_arrays["_status"] <= 0) & (new_chisq < old_chisq))
        back = tuple(i[~keep] for i in idx)
        for p, old in zip(params, old_maps):
            p._map[back] = old[~keep]
        for name, old in old_arrays.items():
            getattr(self, name)[back] = old[~keep]
        self._multifit_refitted[tuple(i[keep] for i in idx)] = True
        _log.info("multifit: refitted %d of %d failed pixels from their neighbours, %d improved",
                  len(targets), len(failed), int(keep.sum()))

    def _mark_failed(self, pixel, status: int) -> None:
        self._status[pixel] = status
        self._chisq[pixel] = np.nan

    # ----------------------------------------------------- sequential
    def _multifit_sequential(self, iterpath, mask, show_progressbar, fit_kw, fetch_only_fixed=False,
                             done=None, save=None, every: int = 10) -> None:
        am = self.axes_manager
        shape_nat = tuple(am.navigation_shape)
        if isinstance(iterpath, str) and iterpath == "serpentine":
            path: Iterable = serpentine(shape_nat)
        elif isinstance(iterpath, str) and iterpath == "flyback":
            path = flyback(shape_nat)
        elif isinstance(iterpath, str):
            raise InvalidInputError(f"`iterpath` must be 'serpentine', 'flyback' or an iterable of indices, got {iterpath!r}")
        else:
            path = iterpath
        if done is None:
            done = np.zeros(self._nav_shape, dtype=bool)
        original = tuple(am.indices)
        previous = None
        since_save = 0
        try:
            for natural in tqdm(path, disable=not show_progressbar, desc="multifit"):
                natural = tuple(int(i) for i in natural)
                array_idx = natural[::-1]
                if mask is not None and mask[array_idx]:
                    continue
                if done[array_idx]:
                    # fitted before the interruption: its result (in the maps)
                    # is what the next pixel starts from, as in the full run
                    previous = array_idx
                    continue
                am.indices = natural
                if previous is not None:
                    self._carry_values(previous, array_idx, fetch_only_fixed)
                try:
                    self.fit(**fit_kw)
                except InvalidInputError:
                    self._mark_failed(array_idx, _BAD_DATA)
                done[array_idx] = True
                previous = array_idx
                since_save += 1
                if save is not None and since_save >= every:
                    save.write(done)
                    since_save = 0
        finally:
            am.indices = original

    def _carry_values(self, source, target, only_fixed: bool = False) -> None:
        """Start ``target`` from ``source``'s values where its own are not set
        (HyperSpy's fetch); with ``only_fixed`` the free parameters always
        take ``source``'s values.
        """
        for comp in self._components:
            for p in comp.parameters:
                if p._map.ndim and ((only_fixed and p.free) or not p._map["is_set"][target]):
                    p._map["values"][target] = p._map["values"][source]

    # ----------------------------------------------------- diagnostics
    @property
    def multifit_output(self) -> MultifitOutput:
        """Per-pixel diagnostics of the fits so far, as navigation signals.

        ``success``, ``status`` (with ``message(code)`` and ``messages``),
        ``nfev``, ``chisq``, ``red_chisq``, ``dof``, ``refitted``; status 0
        where nothing was fitted. See :class:`~.multifit_output.MultifitOutput`.

        Examples
        --------
        >>> m.multifit()                                   # doctest: +SKIP
        >>> m.multifit_output.status.data                  # doctest: +SKIP
        array([[1, 1, 3], [1, -1, 1]])
        >>> m.multifit_output.message(-1)                  # doctest: +SKIP
        'failed: the iteration or function-evaluation limit was reached'
        """
        return MultifitOutput(self)
