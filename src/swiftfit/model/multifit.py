"""multifit: fit every navigation position.

By default all pixels are fitted together by a batched solve, in chunks that
bound memory (each pixel starts from its own map values, i.e. the values
assigned with ``assign_current_values_to_all`` or set per pixel). HyperSpy's
sequential behaviour — each pixel starting from the previous result — is
``iterpath="serpentine"`` / ``"flyback"`` / an iterable of index tuples.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
from tqdm.auto import tqdm

from ..errors import InvalidInputError


def serpentine(shape_natural: tuple[int, ...]):
    """Natural-order index tuples in HyperSpy's serpentine order (x fastest,
    reversing direction on every other row, recursively over higher dims)."""
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


class MultifitMixin:
    """``multifit`` for every model."""

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
        **kwargs,
    ) -> None:
        """Fit the model at every navigation position.

        Parameters
        ----------
        mask : array of bool, optional
            Navigation-shaped (array order); True positions are skipped.
        iterpath : None, "serpentine", "flyback" or iterable of index tuples
            None (default): all pixels in one batched solve. Otherwise fit one
            pixel after another along the path (natural-order indices), each
            starting from the previous pixel's result, as HyperSpy does.
        show_progressbar : bool, optional
            tqdm progress bar.
        chunk_size : int, optional
            Pixels per batched solve. Default: as many as keep one Jacobian
            (pixels × points × free parameters) near 32 MB, which bounds the
            solver's memory at a few hundred MB whatever the data size.
        **kwargs
            As for :meth:`fit` (``optimizer``, ``bounded``, solver options).

        Examples
        --------
        >>> m.multifit()                         # doctest: +SKIP
        >>> m.multifit(iterpath="serpentine")    # doctest: +SKIP
        """
        nav = self._nav_shape
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != nav:
                raise InvalidInputError(f"`mask` must have the navigation shape {nav}, got {mask.shape}")
        fit_kw = dict(optimizer=optimizer, loss_function=loss_function, grad=grad, bounded=bounded,
                      fd_scheme=fd_scheme, **kwargs)
        if iterpath is not None:
            return self._multifit_sequential(iterpath, mask, show_progressbar, fit_kw)
        spec, loss, grad, rescale = self._fit_setup(optimizer, loss_function, grad, bounded, kwargs)
        if loss.name == "custom" or not spec.batched:
            # custom losses call back into the model at the current position,
            # and unbatched solvers loop anyway: go pixel by pixel
            return self._multifit_sequential("serpentine", mask, show_progressbar, fit_kw)
        pixels = [p for p in (np.ndindex(*nav) if nav else [()]) if mask is None or not mask[p]]
        if chunk_size is None:
            n_free = sum(p.free for c in self._components for p in c.parameters) or 1
            per_pixel = 8 * int(self._channel_switches.sum()) * n_free
            chunk_size = int(np.clip(32e6 // per_pixel, 16, 4096))
        start = time.perf_counter()
        bar = tqdm(total=len(pixels), disable=not show_progressbar, desc="multifit")
        for s in range(0, len(pixels), chunk_size):
            chunk = pixels[s:s + chunk_size]
            problem = self._problem(chunk, grad=grad, fd_scheme=fd_scheme, check=False)
            bad = ~np.isfinite(problem.data).all(axis=1)
            if problem.weights is not None:
                bad |= ~np.isfinite(problem.weights).all(axis=1)
            good = np.flatnonzero(~bad)
            if good.size:
                sub = problem.take(good)
                self._check_problem(spec, loss, sub, bounded)
                sol = spec.solve(sub, loss, bounded=bounded, **kwargs)
                self._write_back(sub, sol, [chunk[i] for i in good], rescale, loss)
            for i in np.flatnonzero(bad):
                self._mark_failed(chunk[i], -4)
            bar.update(len(chunk))
        bar.close()
        self._multifit_time = time.perf_counter() - start

    def _mark_failed(self, pixel, status: int) -> None:
        self._status[pixel] = status
        self._chisq[pixel] = np.nan

    def _multifit_sequential(self, iterpath, mask, show_progressbar, fit_kw) -> None:
        am = self.axes_manager
        shape_nat = tuple(am.navigation_shape)
        if iterpath == "serpentine":
            path: Iterable = serpentine(shape_nat)
        elif iterpath == "flyback":
            path = flyback(shape_nat)
        elif isinstance(iterpath, str):
            raise InvalidInputError(f"`iterpath` must be 'serpentine', 'flyback' or an iterable of indices, got {iterpath!r}")
        else:
            path = iterpath
        original = tuple(am.indices)
        previous = None
        try:
            for natural in tqdm(path, disable=not show_progressbar, desc="multifit"):
                natural = tuple(int(i) for i in natural)
                am.indices = natural
                array_idx = natural[::-1]
                if mask is not None and mask[array_idx]:
                    continue
                if previous is not None:
                    self._carry_values(previous, array_idx)
                try:
                    self.fit(**fit_kw)
                except InvalidInputError:
                    self._mark_failed(array_idx, -4)
                previous = array_idx
        finally:
            am.indices = original

    def _carry_values(self, source, target) -> None:
        """Start ``target`` from ``source``'s values unless it was set already."""
        for comp in self._components:
            for p in comp.parameters:
                if p.map.ndim and not p.map["is_set"][target]:
                    p.map["values"][target] = p.map["values"][source]
