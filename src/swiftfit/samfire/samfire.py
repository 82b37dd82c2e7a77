"""Samfire: Smart Adaptive Multi-dimensional Fitting, as HyperSpy's.

SAMFire fits the pixels of a multi-dimensional dataset in a sensible order,
each from starting values computed from the pixels already fitted, so that a
dataset of regions with different parameters ("domain structures") is fitted
from one seed pixel per region instead of failing wherever a single start is
far from the truth.

The run (:meth:`Samfire.start`): while the active strategy proposes pixels,
fit a batch of them from its starts (every optional-component combination,
every candidate start until the goodness test passes), accept those that pass
and record the others; when the strategy has nothing left, move to the next
one (local → global); stop when every pixel is fitted or the strategies are
exhausted.
"""

from __future__ import annotations

import logging
import numbers

import numpy as np
from tqdm.auto import tqdm

from ..component import Component
from ..errors import InvalidInputError
from ..signals.metadata import Metadata
from .goodness import red_chisq_test
from .strategies import (
    HistogramStrategy,
    ReducedChiSquaredStrategy,
    SamfireStrategy,
    _component_active,
)
from .workers import apply_result, combinations, make_pool

_log = logging.getLogger("swiftfit")

__all__ = ["Samfire", "StrategyList"]


class StrategyList(list):
    """``samf.strategies``: a list of strategies printed as HyperSpy's table,
    the active one marked ``x``.

    Examples
    --------
    >>> samf.strategies                      # doctest: +SKIP
      A |    # | Strategy
     -- | ---- | -------------------------
      x |    0 | Reduced chi squared strategy
        |    1 | Histogram global strategy
    """

    def __init__(self, samf):
        super().__init__()
        self.samf = samf

    def append(self, thing) -> None:
        if not isinstance(thing, SamfireStrategy):
            raise InvalidInputError(f"a SAMFire strategy is expected, got {type(thing).__name__}")
        thing.samf = self.samf
        list.append(self, thing)

    def extend(self, iterable) -> None:
        for thing in iterable:
            self.append(thing)

    def remove(self, thing) -> None:
        if isinstance(thing, numbers.Integral) and not isinstance(thing, bool):
            thing = self[thing]
        if self.samf is not None and self.samf.strategies is self and self and thing is self.samf.active_strategy:
            raise InvalidInputError("the active strategy cannot be removed; change_strategy() first")
        active = self.samf.active_strategy if self else None
        thing.samf = None
        list.remove(self, thing)
        if active is not None and active is not thing:
            self.samf._active_strategy_ind = self.index(active)

    def __repr__(self) -> str:
        fmt = "%3s | %4s | %s"
        lines = [fmt % ("A", "#", "Strategy"), fmt % ("-" * 2, "-" * 4, "-" * 25)]
        for n, s in enumerate(self):
            mark = " x" if self.samf._active_strategy_ind == n else ""
            lines.append(fmt % (mark, str(n), repr(s)))
        return "\n".join(lines)


class Samfire:
    """Smart Adaptive Multi-dimensional Fitting of a model's every pixel.

    Created by ``m.create_samfire()``. Seed it by fitting a pixel (or a few:
    one per region of dissimilar pixels) with ``m.fit()`` first.

    Parameters
    ----------
    model : BaseModel
        The model, with at least one pixel fitted.
    workers : int, optional
        Processes fitting in parallel: None for one per CPU but one, 1 for
        fitting in this process.
    setup : bool
        Prepare the optional components and the pool now (they are
        prepared again at every :meth:`start` anyway).
    random_state : int or numpy.random.Generator, optional
        Order of the global strategy's pixels.
    client : dask.distributed.Client, optional
        Fit on this dask cluster instead of local processes.
    show_progressbar : bool, optional
        A tqdm progress bar during :meth:`start`.
    batch_size : int, optional
        Pixels fitted together in one batched solve at each step (default
        ``max(8, pixels // 200)``). Results do not depend on the workers.

    Attributes
    ----------
    strategies : StrategyList
        Local then global, by default ``ReducedChiSquaredStrategy`` and
        ``HistogramStrategy``.
    metadata : Metadata
        ``goodness_test`` (default ``red_chisq_test(tolerance=1.0)``) and
        ``marker`` (>0: pixel to fit, its priority; 0: nothing to start it
        from, or failed; <0: fitted).
    optional_components : list
        Components (objects, names or indices) that may be switched off at a
        pixel; at each pixel the combination of lowest AICc among those
        passing the goodness test is kept.

    Examples
    --------
    >>> m.axes_manager.indices = (3, 4); m.fit()               # doctest: +SKIP
    >>> samf = m.create_samfire(workers=None, ipyparallel=False)   # doctest: +SKIP
    >>> samf.metadata.goodness_test.tolerance = 0.3            # doctest: +SKIP
    >>> samf.start(bounded=True)                               # doctest: +SKIP
    """

    def __init__(self, model, workers=None, setup: bool = True, random_state=None, client=None,
                 show_progressbar=None, batch_size: int | None = None, **kwargs):
        if kwargs:
            raise InvalidInputError(f"unknown argument(s) {sorted(kwargs)} of Samfire")
        if not model._nav_shape:
            raise InvalidInputError("SAMFire fits a multi-dimensional dataset; this model has no navigation axes")
        self.model = model
        self.pool = make_pool(workers, client)
        self._workers = self.pool.num_workers
        self._scale = 1.0
        self._metadata = Metadata()
        self._metadata.marker = np.full(model._nav_shape, self._scale)
        self._metadata.goodness_test = red_chisq_test(tolerance=1.0)
        self._active_strategy_ind = 0
        self.strategies = StrategyList(self)
        self.strategies.append(ReducedChiSquaredStrategy())
        self.strategies.append(HistogramStrategy())
        self.optional_components = []
        self.random_state = np.random.default_rng(random_state)
        self.show_progressbar = show_progressbar
        n = int(np.prod(model._nav_shape))
        if batch_size is None:
            batch_size = max(8, n // 200)
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise InvalidInputError(f"`batch_size` must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.count = 0
        self._done = np.zeros(model._nav_shape, dtype=bool)
        if setup:
            self._setup()
        self.refresh_database()

    # ------------------------------------------------------------ basics
    @property
    def metadata(self) -> Metadata:
        return self._metadata

    @property
    def workers(self) -> int:
        """The number of parallel workers (1 when serial)."""
        return self._workers

    @property
    def active_strategy(self):
        return self.strategies[self._active_strategy_ind]

    @active_strategy.setter
    def active_strategy(self, value) -> None:
        self.change_strategy(value)

    @property
    def pixels_left(self) -> int:
        """Pixels not fitted (by the goodness test)."""
        return int((~self._done).sum())

    @property
    def pixels_done(self) -> int:
        """Pixels fitted and passing the goodness test."""
        return int(self._done.sum())

    def __repr__(self) -> str:
        return f"<SAMFire of the signal titled: '{self.model.title}'>"

    def append(self, strategy) -> None:
        """Append a strategy to ``strategies``."""
        self.strategies.append(strategy)

    def extend(self, iterable) -> None:
        """Append several strategies."""
        self.strategies.extend(iterable)

    def remove(self, thing) -> None:
        """Remove a strategy (the object or its index)."""
        self.strategies.remove(thing)

    # ------------------------------------------------------------- setup
    def _optional_indices(self) -> list[int]:
        comps = list(self.model)
        out = []
        for item in self.optional_components:
            if isinstance(item, Component):
                comp = item
            elif isinstance(item, (str, numbers.Integral)) and not isinstance(item, bool):
                comp = self.model[item]
            else:
                raise InvalidInputError(
                    f"`optional_components` holds components, names or indices, got {item!r}")
            i = next((k for k, c in enumerate(comps) if c is comp), None)
            if i is None:
                raise InvalidInputError(f"optional component {item!r} is not in the model")
            if i not in out:
                out.append(i)
        return out

    def _setup(self) -> list[int]:
        """Optional components get a per-pixel ``active`` (HyperSpy's setup)."""
        optional = self._optional_indices()
        for i in optional:
            comp = self.model[i]
            if not comp.active_is_multidimensional:
                comp.active_is_multidimensional = True
        return optional

    # -------------------------------------------------------- databases
    def _fitted(self) -> np.ndarray:
        """Pixels fitted and passing the goodness test."""
        with np.errstate(all="ignore"):
            fitted = np.isfinite(self.model.fit_results.red_chisq)
        return self.metadata.goodness_test.map(self.model, fitted)

    def refresh_database(self) -> None:
        """Rebuild the active strategy's database from the pixels fitted so
        far (call it after fitting a pixel by hand).
        """
        self._done = self._fitted()
        self.active_strategy.refresh()

    def change_strategy(self, new_strat) -> None:
        """Make ``new_strat`` (an index into ``strategies`` or a strategy of
        it) the active strategy, with a fresh database.

        Examples
        --------
        >>> samf.change_strategy(1)        # doctest: +SKIP
        """
        if isinstance(new_strat, SamfireStrategy):
            matches = [i for i, s in enumerate(self.strategies) if s is new_strat]
            if not matches:
                raise InvalidInputError("the strategy passed is not in samf.strategies")
            new_strat = matches[0]
        if isinstance(new_strat, bool) or not isinstance(new_strat, numbers.Integral) \
                or not 0 <= new_strat < len(self.strategies):
            raise InvalidInputError(
                f"`new_strat` must be a strategy of samf.strategies or an index in "
                f"[0, {len(self.strategies) - 1}], got {new_strat!r}")
        self.active_strategy.clean()
        self._active_strategy_ind = int(new_strat)
        self.refresh_database()

    # --------------------------------------------------------------- run
    def start(self, **kwargs) -> None:
        """Fit every pixel not yet fitted.

        Parameters
        ----------
        **kwargs
            Passed to the fits, as for :meth:`~swiftfit.model.base.BaseModel.fit`
            (``optimizer``, ``bounded``, ``loss_function``, solver options;
            HyperSpy's ``fitter`` is read as ``optimizer``). Also
            ``show_progressbar``.

        Examples
        --------
        >>> samf.start(bounded=True)       # doctest: +SKIP
        """
        show = kwargs.pop("show_progressbar", self.show_progressbar)
        fit_kwargs = dict(kwargs)
        # refuse bad fit options before anything is fitted
        from .workers import fit_options

        fit_options(self.model, fit_kwargs)
        optional = self._setup()
        combos = combinations(len(optional))
        self._done = self._fitted()
        self._attempted = self._done.copy()
        bar = tqdm(total=self.pixels_left, disable=not show, desc="SAMFire")
        self.pool.open(self.model)
        try:
            while True:
                self._run_active_strategy(optional, combos, fit_kwargs, bar)
                if self._done.all():
                    break
                if self._active_strategy_ind == len(self.strategies) - 1:
                    break
                self.change_strategy(self._active_strategy_ind + 1)
            self._fit_the_rest(optional, combos, fit_kwargs, bar)
        finally:
            self.pool.close()
            bar.close()
        _log.info("SAMFire: %d of %d pixels fitted", self.pixels_done, self._done.size)

    def _fit_the_rest(self, optional, combos, fit_kwargs, bar) -> None:
        """Every pixel is attempted: those no strategy proposed are fitted once
        from the median of the fitted pixels' values (their own values where
        there is none); like every pixel that passes no goodness test, each
        keeps its best fit, flagged in ``multifit_output.goodness_failed``.
        """
        left = [tuple(int(i) for i in p) for p in np.argwhere(~self._done & ~self._attempted)]
        if not left:
            return
        _log.info("SAMFire: %d pixel(s) no strategy reached are fitted from the median of the fitted ones",
                  len(left))
        n_par = len(self.model._all_parameters())
        for start in range(0, len(left), self.batch_size):
            pixels = left[start:start + self.batch_size]
            starts = self._fill_missing(np.full((1, len(pixels), n_par), np.nan), pixels)
            self._fit_batch_of(pixels, starts, optional, combos, fit_kwargs, bar)

    def _fit_batch_of(self, pixels, starts, optional, combos, fit_kwargs, bar) -> np.ndarray:
        """Fit ``pixels`` from ``starts`` (K, B, P) on the pool; write the results; the pass mask."""
        n_jobs = self.pool.num_workers
        # the batch split among the workers: each pixel's fit is its own
        # (per-pixel damping and convergence), so the split changes nothing
        parts = np.array_split(np.arange(len(pixels)), min(n_jobs, len(pixels)))
        jobs = [([pixels[i] for i in part], starts[:, part], combos) for part in parts if part.size]
        results = self.pool.map(jobs, optional, fit_kwargs, self.metadata.goodness_test)
        good = np.zeros(len(pixels), dtype=bool)
        for (px, _, _), part, res in zip(jobs, [p for p in parts if p.size], results):
            apply_result(self.model, px, optional, res)
            good[part] = res["good"]
        for pix, ok in zip(pixels, good):
            self._attempted[pix] = True
            if ok:
                self._done[pix] = True
        bar.update(int(good.sum()))
        return good

    def _run_active_strategy(self, optional, combos, fit_kwargs, bar) -> None:
        strategy = self.active_strategy
        while True:
            pixels = strategy.next_pixels(self.batch_size)
            if not pixels:
                break
            starts = np.asarray(strategy.starts(pixels), dtype=float)
            starts = self._fill_missing(starts, pixels)
            good = self._fit_batch_of([tuple(pix) for pix in pixels], starts, optional, combos, fit_kwargs, bar)
            strategy.update(pixels, good)
            self.count += len(pixels)

    def _fill_missing(self, starts, pixels):
        """Where a strategy has no estimate for a free parameter (e.g. an
        optional component active at no neighbour), start from its median over
        the fitted pixels where its component is active.
        """
        if not np.isnan(starts).any():
            return starts
        model = self.model
        j = 0
        for comp in model:
            act = _component_active(comp, model._nav_shape)
            mask = self._done & act
            for p in comp.parameters:
                col = starts[:, :, j]
                if p.free and np.isnan(col).any() and mask.any():
                    col[np.isnan(col)] = float(np.median(p._map["values"][mask]))
                j += 1
        return starts

    def stop(self) -> None:
        """Release the workers (HyperSpy's ``stop``)."""
        self.pool.close()

    # -------------------------------------------------------------- plot
    def plot(self, on_count: bool = False):
        """Plot the active strategy's database (matplotlib figure).

        Local strategies: the marker (priority of the pixels to fit, fitted
        pixels apart) and the goodness statistic of the fitted pixels.
        Global strategies: the histograms of the fitted parameter values.

        Examples
        --------
        >>> fig = samf.plot()               # doctest: +SKIP
        """
        from .plot import plot_samfire

        return plot_samfire(self)

