"""SAMFire's strategies: which pixels to fit next and where to start them.

Two families, as in HyperSpy:

* local (:class:`ReducedChiSquaredStrategy`): neighbouring pixels are alike.
  A pixel's priority is the sum, over the fitted pixels within ``radii``, of
  ``decay(distance) · decay(|χ²_ν − 1|)`` (``decay(x) = exp(−x)``); the pixels
  of highest priority are fitted next, each starting from the same weighted
  average of its fitted neighbours' values. A pixel that fails is tried again
  once more of its neighbours are fitted.
* global (:class:`HistogramStrategy`): position means nothing. Pixels are
  taken in a random order; the candidate starts are the peaks of the
  histograms of the fitted parameter maps, tried most frequent first.

A strategy talks to its :class:`~.samfire.Samfire` (``self.samf``) through
``samf.model``, ``samf.metadata.marker`` (>0: to fit, with its priority;
0: nothing to start from, or failed; <0: fitted) and ``samf._done``.
"""

from __future__ import annotations

import itertools
import numbers

import numpy as np

from ..errors import InvalidInputError

__all__ = [
    "GlobalStrategy",
    "HistogramStrategy",
    "LocalStrategy",
    "ReducedChiSquaredStrategy",
    "ReducedChiSquaredWeight",
    "SamfireStrategy",
    "exp_decay",
]


def exp_decay(distances):
    """HyperSpy's decay function, ``exp(−x)``."""
    return np.exp(-np.asarray(distances, dtype=float))


def _free_columns(model):
    """(parameter, component index) of every parameter, model order, and
    which are free (their starts are estimated).
    """
    out = []
    for c, comp in enumerate(model):
        for p in comp.parameters:
            out.append((p, c))
    return out


def _component_active(comp, shape):
    if comp._active_array is not None:
        return comp._active_array
    return np.full(shape, bool(comp._active))


class SamfireStrategy:
    """Base of the strategies: a ``name`` shown in ``samf.strategies``."""

    name = ""
    samf = None

    def __repr__(self) -> str:
        return self.name

    # what Samfire calls
    def refresh(self) -> None:
        """Rebuild the database from the fitted pixels."""

    def clean(self) -> None:
        """Forget what was computed for the current run."""

    def next_pixels(self, number: int) -> list:
        raise NotImplementedError

    def starts(self, pixels) -> np.ndarray:
        raise NotImplementedError

    def update(self, pixels, good) -> None:
        """Record the outcome of fitting ``pixels``."""


# ------------------------------------------------------------------ local
class ReducedChiSquaredWeight:
    """A fitted pixel's weight before decay: ``|χ²_ν − expected|`` (expected 1)."""

    def __init__(self):
        self.expected = 1.0
        self.model = None

    def function(self, ind) -> float:
        return float(self.map(None)[tuple(ind)])

    def map(self, mask=None) -> np.ndarray:
        with np.errstate(all="ignore"):
            rc = self.model.fit_results.red_chisq
        out = np.abs(rc - self.expected)
        if mask is not None:
            out = np.where(mask, out, np.nan)
        return out


class LocalStrategy(SamfireStrategy):
    """A strategy of the local family (see the module documentation).

    Attributes
    ----------
    radii : float or tuple of float
        Radius of relevance in pixels, one per navigation dimension (array
        order) or one for all.
    decay_function : callable
        Maps distances (and weights) to factors; ``exp(−x)`` by default.
    weight : ReducedChiSquaredWeight
        The goodness weight of a fitted pixel before decay.
    """

    def __init__(self, name: str):
        self.name = name
        self.decay_function = exp_decay
        self.weight = ReducedChiSquaredWeight()
        self._radii = 3.0
        self._tried = None

    @property
    def radii(self):
        """Radius of relevance, pixels (a float or one per navigation dimension)."""
        return self._radii

    @radii.setter
    def radii(self, value) -> None:
        vals = np.atleast_1d(np.asarray(value, dtype=float)) if not isinstance(value, (str, bytes)) else None
        if vals is None or vals.ndim != 1 or not np.all(np.isfinite(vals)) or np.any(vals <= 0):
            raise InvalidInputError(f"`radii` must be a positive number or a tuple of them, got {value!r}")
        self._radii = float(vals[0]) if vals.size == 1 and np.ndim(value) == 0 else tuple(float(v) for v in vals)

    def _offsets(self, ndim: int):
        """Neighbour offsets within the radii (the pixel itself excluded) and
        their distance factors.
        """
        radii = np.broadcast_to(np.asarray(self._radii, dtype=float), (ndim,))
        span = [np.arange(-int(np.floor(r)), int(np.floor(r)) + 1) for r in radii]
        offs = np.array(list(itertools.product(*span)), dtype=np.intp).reshape(-1, ndim)
        inside = ((offs / radii) ** 2).sum(axis=1) <= 1.0
        offs = offs[inside & np.any(offs != 0, axis=1)]
        dist = np.sqrt((offs.astype(float) ** 2).sum(axis=1))
        return offs, np.asarray(self.decay_function(dist), dtype=float)

    def _pixel_weights(self):
        """decay(|χ²_ν − 1|) at the usable fitted pixels, 0 elsewhere (never
        underflowing to 0 at a fitted pixel, which would hide it).
        """
        samf = self.samf
        self.weight.model = samf.model
        done = samf._done
        with np.errstate(all="ignore"):
            w = np.asarray(self.decay_function(self.weight.map(done)), dtype=float)
        w = np.where(done & np.isfinite(w), np.maximum(w, np.finfo(float).tiny), 0.0)
        return w

    def _neighbours(self, pixels):
        """(B, K) flat neighbour indices (−1 outside) and distance factors."""
        shape = self.samf.model._nav_shape
        offs, fdist = self._offsets(len(shape))
        px = np.asarray(pixels, dtype=np.intp).reshape(len(pixels), len(shape))
        nb = px[:, None, :] + offs[None, :, :]
        inside = np.all((nb >= 0) & (nb < np.asarray(shape)), axis=2)
        flat = np.where(inside, np.ravel_multi_index(tuple(np.clip(nb, 0, np.asarray(shape) - 1).transpose(2, 0, 1)),
                                                     shape), -1)
        return flat, fdist

    def _priority(self):
        """(priority, number of usable fitted neighbours) for every pixel."""
        from scipy import ndimage

        shape = self.samf.model._nav_shape
        offs, fdist = self._offsets(len(shape))
        w = self._pixel_weights()
        size = 2 * np.abs(offs).max(axis=0) + 1 if offs.size else np.ones(len(shape), dtype=int)
        kern = np.zeros(tuple(size))
        ones = np.zeros(tuple(size))
        centre = size // 2
        for o, f in zip(offs, fdist):
            kern[tuple(centre + o)] = f
            ones[tuple(centre + o)] = 1.0
        prio = ndimage.correlate(w, kern, mode="constant", cval=0.0)
        count = ndimage.correlate((w > 0).astype(float), ones, mode="constant", cval=0.0)
        return prio, np.rint(count).astype(int)

    def refresh(self) -> None:
        self._tried = np.zeros(self.samf.model._nav_shape, dtype=int)
        self._mark()

    def clean(self) -> None:
        self._tried = None

    def _mark(self):
        prio, count = self._priority()
        if self._tried is None:
            self._tried = np.zeros(prio.shape, dtype=int)
        eligible = ~self.samf._done & (count > self._tried)
        marker = self.samf.metadata.marker
        marker[...] = np.where(eligible, prio, 0.0)
        marker[self.samf._done] = -self.samf._scale
        return prio, count, eligible

    def next_pixels(self, number: int) -> list:
        prio, count, eligible = self._mark()
        flat = np.flatnonzero(eligible.ravel())
        if not flat.size:
            return []
        order = np.argsort(-prio.ravel()[flat], kind="stable")[:number]
        chosen = flat[order]
        self._counts_at_try = dict(zip(chosen.tolist(), count.ravel()[chosen].tolist()))
        shape = self.samf.model._nav_shape
        return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in chosen]

    def starts(self, pixels) -> np.ndarray:
        """(1, B, P) weighted averages of the fitted neighbours; NaN where none."""
        model = self.samf.model
        shape = model._nav_shape
        flat, fdist = self._neighbours(pixels)
        w_pix = self._pixel_weights().ravel()
        valid = flat >= 0
        wn = np.where(valid, w_pix[np.where(valid, flat, 0)], 0.0) * fdist[None, :]
        cols = _free_columns(model)
        out = np.full((1, len(pixels), len(cols)), np.nan)
        comps = list(model)
        for j, (p, c) in enumerate(cols):
            if not p.free:
                continue
            act = _component_active(comps[c], shape).ravel()
            wj = wn * np.where(valid, act[np.where(valid, flat, 0)], False)
            vals = p._map["values"].ravel()[np.where(valid, flat, 0)]
            tot = wj.sum(axis=1)
            with np.errstate(all="ignore"):
                avg = (wj * np.where(wj > 0, vals, 0.0)).sum(axis=1) / tot
            out[0, :, j] = np.where(tot > 0, avg, np.nan)
        return out

    def update(self, pixels, good) -> None:
        counts = getattr(self, "_counts_at_try", {})
        shape = self.samf.model._nav_shape
        for pix, ok in zip(pixels, good):
            if not ok:
                self._tried[pix] = counts.get(int(np.ravel_multi_index(pix, shape)), 0)

    def plot(self, ax=None):
        """Draw the marker: the priority of the pixels to fit, fitted ones in grey."""
        from .plot import plot_local_database

        return plot_local_database(self, ax)


class ReducedChiSquaredStrategy(LocalStrategy):
    """Reduced chi-squared local strategy: weights by ``decay(|χ²_ν − 1|)``,
    exponential decay with distance, ``radii = 3``.

    Examples
    --------
    >>> samf.strategies[0].radii = 2.0          # doctest: +SKIP
    """

    def __init__(self):
        super().__init__("Reduced chi squared strategy")


# ----------------------------------------------------------------- global
class GlobalStrategy(SamfireStrategy):
    """A strategy of the global family (see the module documentation)."""

    def __init__(self, name: str):
        self.name = name
        self.database = None
        self._tried = None
        self._order = None

    def refresh(self) -> None:
        shape = self.samf.model._nav_shape
        self._tried = np.zeros(shape, dtype=bool)
        self._order = self.samf.random_state.permutation(int(np.prod(shape)))
        self._update_database()
        self._mark()

    def clean(self) -> None:
        self._tried = None
        self._order = None

    def _mark(self):
        marker = self.samf.metadata.marker
        done = self.samf._done
        marker[...] = np.where(~done & ~self._tried, self.samf._scale, 0.0)
        marker[done] = -self.samf._scale

    def _package_values(self) -> dict:
        """``{(component, parameter): fitted values}`` of the free parameters
        at the fitted pixels where their component is active.
        """
        model = self.samf.model
        done = self.samf._done
        out = {}
        for comp in model:
            mask = done & _component_active(comp, model._nav_shape)
            for p in comp.parameters:
                if p.free:
                    vals = p._map["values"][mask]
                    out[(comp.name, p.name)] = vals[np.isfinite(vals)]
        return out

    def _update_database(self) -> None:
        raise NotImplementedError

    def next_pixels(self, number: int) -> list:
        if self._tried is None:
            self.refresh()
        self._mark()
        done = self.samf._done.ravel()
        order = self._order
        flat = order[~done[order] & ~self._tried.ravel()[order]][:number]
        if flat.size:
            self._update_database()
        shape = self.samf.model._nav_shape
        return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]

    def update(self, pixels, good) -> None:
        for pix in pixels:
            self._tried[pix] = True
        self._mark()

    def plot(self, ax=None):
        """Draw the database: one histogram per parameter."""
        from .plot import plot_global_database

        return plot_global_database(self, ax)


class HistogramStrategy(GlobalStrategy):
    """Histogram global strategy: candidate starts at the peaks (local maxima)
    of the histograms of the fitted values, most frequent first.

    Parameters
    ----------
    bins : int or str
        As ``numpy.histogram_bin_edges`` (default ``"fd"``; 10 bins for 4
        values or fewer).
    max_candidates : int
        At most this many starting points per pixel: combinations of the
        parameters' peaks, by the sum of the peaks' ranks in their
        histograms (most frequent first), then by joint frequency.

    Examples
    --------
    >>> samf.strategies.append(HistogramStrategy(bins=20))   # doctest: +SKIP
    """

    def __init__(self, bins="fd", max_candidates: int = 16):
        super().__init__("Histogram global strategy")
        self._values = {}
        self.bins = bins
        if isinstance(max_candidates, bool) or not isinstance(max_candidates, numbers.Integral) or max_candidates < 1:
            raise InvalidInputError(f"`max_candidates` must be a positive integer, got {max_candidates!r}")
        self.max_candidates = int(max_candidates)

    def _update_database(self) -> None:
        db = {}
        self._values = {}
        for key, vals in self._package_values().items():
            if not vals.size:
                continue
            bins = 10 if vals.size <= 4 else self.bins
            try:
                hist, edges = np.histogram(vals, bins=bins)
            except (ValueError, MemoryError):  # "fd" on a degenerate spread
                hist, edges = np.histogram(vals, bins=10)
            if hist.size > 1000:  # "fd" with one outlier: thousands of empty bins
                hist, edges = np.histogram(vals, bins=1000)
            db[key] = (hist, edges)
            self._values[key] = vals
        self.database = db

    def most_frequent(self) -> dict:
        """``{(component, parameter): [(value, frequency), ...]}``: the
        histogram's local maxima, most frequent first; the value is the median
        of the fitted values in the bin (a bin of "fd" over two distant
        domains is wide: its centre may be far from both).
        """
        out = {}
        values = getattr(self, "_values", {})
        for key, (hist, edges) in (self.database or {}).items():
            padded = np.concatenate([[0], hist, [0]])
            peak = (padded[1:-1] > padded[:-2]) & (padded[1:-1] >= padded[2:])
            i = np.flatnonzero(peak)
            centres = 0.5 * (edges[i] + edges[i + 1])
            vals = values.get(key)
            if vals is not None and vals.size:
                which = np.clip(np.searchsorted(edges, vals, side="right") - 1, 0, hist.size - 1)
                centres = np.array([np.median(vals[which == b]) if (which == b).any() else c
                                    for b, c in zip(i, centres)])
            freq = hist[i] / max(hist.sum(), 1)
            order = np.argsort(-freq, kind="stable")
            out[key] = list(zip(centres[order].tolist(), freq[order].tolist()))
        return out

    def starts(self, pixels) -> np.ndarray:
        """(K, B, P): the candidate combinations, the same for every pixel."""
        model = self.samf.model
        cols = _free_columns(model)
        freq = self.most_frequent()
        keys = [(model[c].name, p.name) for p, c in cols]
        lists = [freq.get(k) or [(np.nan, 1.0)] for k in keys]
        # combinations ordered by the sum of the peaks' ranks (0: a parameter's
        # most frequent peak), then by joint frequency: every parameter's
        # second peak comes before any pair of second peaks, so the other
        # domain of one parameter is tried early whatever the others' noise
        combos = []
        ranked = [list(enumerate(lst)) for lst in lists]
        for choice in itertools.islice(itertools.product(*ranked), 100000):
            rank = sum(r for r, _ in choice)
            freq = float(np.prod([f for _, (_, f) in choice]))
            combos.append((rank, -freq, [v for _, (v, _) in choice]))
        combos.sort(key=lambda t: (t[0], t[1]))
        cand = np.array([v for _, _, v in combos[: self.max_candidates]], dtype=float)
        return np.broadcast_to(cand[:, None, :], (cand.shape[0], len(pixels), cand.shape[1])).copy()
