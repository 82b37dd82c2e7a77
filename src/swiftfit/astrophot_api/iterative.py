"""Iter and IterParam: LM on one block of parameters at a time (AstroPhot's
``fit.iterative``).

A block is fitted against the residual of the rest: the components that do
not depend on its columns are evaluated once, at the current state, and held
as a constant model (:meth:`FitTarget.restrict`), so a block step costs the
evaluation of its own components only. ``Iter``'s blocks are the model's
components (a JointModel's: its models); ``IterParam``'s are chunks of the
free vector. Both cycle through their blocks until a whole cycle changes
``−2 ln L`` by less than ``relative_tolerance`` (relative).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError
from .base import BaseOptimizer
from .lm import LM

__all__ = ["Iter", "IterParam"]

_LM_KEYS = {"max_iter", "relative_tolerance", "Lup", "Ldn", "L0", "max_step_iter", "verbose"}


class _BlockCycler(BaseOptimizer):
    """Cycle LM over column blocks; subclasses say what the blocks are."""

    default_max_iter = 100
    _model_values = None

    def _blocks(self) -> list[np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def sub_step(self, mask, update_uncertainty: bool = False) -> None:
        """Fit the columns ``mask`` with the others held; update ``current_state``."""
        x = self.current_state
        target = self.target.restrict(mask, x, model_values=self._model_values)
        sub = LM(target, likelihood=self.likelihood, fit_valid=self.fit_valid, **self.lm_kwargs)
        sub.fit(update_uncertainty=False)
        x = x.copy()
        x[mask] = sub.res()
        self.current_state = x
        # the full model at the new state: the rest (held) plus the block's new part
        self._model_values = target.model_values(x[mask])
        self.sub_fits += 1

    def step(self, current_state=None) -> None:
        """One cycle over every block, then record the state."""
        if current_state is not None:
            self.current_state = self._valid(np.asarray(current_state, dtype=float))
        self._model_values = self.target.model_values(self.current_state)
        for mask in self._blocks():
            self.sub_step(mask)
        self._model_values = None
        self._record(self.current_state, self._loss(self.current_state))
        self._say(f"cycle {len(self.loss_history) - 1}: -2lnL/ndf {self.loss_history[-1] / self.ndf:.8g}")

    def _converged(self) -> bool:
        h = self.loss_history
        return len(h) >= 2 and abs(h[-2] - h[-1]) <= self.relative_tolerance * abs(h[-1])

    def fit(self) -> _BlockCycler:
        """Cycle until converged or ``max_iter`` cycles; write the result back."""
        self.sub_fits = getattr(self, "sub_fits", 0)
        return super().fit()


def _lm_kwargs(lm_kwargs, defaults) -> dict:
    if lm_kwargs is None:
        lm_kwargs = {}
    if not isinstance(lm_kwargs, dict):
        raise InvalidTypeError(f"`lm_kwargs` must be a dict, got {type(lm_kwargs).__name__}")
    unknown = set(lm_kwargs) - _LM_KEYS
    if unknown:
        raise InvalidInputError(f"`lm_kwargs` takes {sorted(_LM_KEYS)}, got {sorted(unknown)}")
    return {**defaults, **lm_kwargs}


class Iter(_BlockCycler):
    """LM on one component at a time (one model at a time for a JointModel).

    Each component's free parameters are fitted by :class:`LM` against the
    residual of the other components, in model order; cycles repeat until a
    cycle changes ``−2 ln L`` by less than ``relative_tolerance``.

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
    initial_state : array_like (P,), optional
    max_iter : int
        Most cycles.
    lm_kwargs : dict, optional
        For each component's LM (``max_iter``, ``relative_tolerance``, ``Lup``,
        ``Ldn``, ``L0``, ``max_step_iter``, ``verbose``); default
        ``relative_tolerance=1e-3, max_iter=15, verbose=0`` (AstroPhot's:
        a component need not converge while its neighbours have not).
    **kwargs
        ``relative_tolerance``, ``verbose``, ``save_steps`` (one file per
        cycle), ``fit_valid``, ``likelihood`` of :class:`BaseOptimizer`.

    Attributes
    ----------
    groups : list of ndarray of bool
        The column mask of each component (model) fitted in turn.
    sub_fits : int
        LM fits run.

    Examples
    --------
    >>> fitter = Iter(m, relative_tolerance=1e-8, verbose=0).fit()   # doctest: +SKIP
    """

    def __init__(self, model, initial_state=None, max_iter: int = 100, lm_kwargs: dict | None = None, **kwargs):
        super().__init__(model, initial_state=initial_state, max_iter=max_iter, **kwargs)
        self.lm_kwargs = _lm_kwargs(lm_kwargs, {"relative_tolerance": 1e-3, "max_iter": 15, "verbose": 0})
        owner = self.target.column_components()
        comps = self.target.problem.components
        if self.target.joint:
            index = {id(m): k for k, m in enumerate(self.model.models)}
            owner = np.array([index[id(comps[c].model)] for c in owner])
        self.groups = [owner == g for g in dict.fromkeys(owner.tolist())]
        self.sub_fits = 0

    def _blocks(self):
        return self.groups


class IterParam(_BlockCycler):
    """LM on chunks of the free parameters in turn (AstroPhot's ``IterParam``).

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
    initial_state : array_like (P,), optional
    chunks : int or tuple of boolean arrays (P,)
        An int: chunks of that many parameters (consecutive for
        ``"sequential"``, a new random partition each cycle for
        ``"random"``). A tuple: the chunks themselves, as masks over the free
        parameters (1 to fit, 0 to hold); together they must cover every one.
    chunk_order : {"sequential", "random"}
        The order of the chunks in each cycle.
    max_iter : int
        Most cycles.
    relative_tolerance : float
        Cycles stop when one changes ``−2 ln L`` by less than this fraction;
        each chunk's LM runs to the same tolerance.
    Lup, Ldn, L0, max_step_iter : float, float, float, int
        Each chunk's LM damping (see :class:`LM`).
    ndf : int, optional
    W : None
        AstroPhot's weight override; swiftfit takes the weights from the
        signal's noise variance, so only None is accepted.
    likelihood : {"gaussian", "poisson"}
    seed : int or numpy.random.Generator, optional
        For ``chunk_order="random"`` (``random_state`` is an alias).
    **kwargs
        ``verbose``, ``save_steps``, ``fit_valid`` of :class:`BaseOptimizer`.

    Examples
    --------
    >>> IterParam(m, chunks=10, chunk_order="random", seed=1, verbose=0).fit()   # doctest: +SKIP
    """

    def __init__(self, model, initial_state=None, chunks=50, chunk_order: str = "sequential", max_iter: int = 100,
                 relative_tolerance: float = 1e-5, Lup: float = 11.0, Ldn: float = 9.0, L0: float = 1.0,
                 max_step_iter: int = 10, ndf=None, W=None, likelihood: str = "gaussian", seed=None,
                 random_state=None, **kwargs):
        if W is not None:
            raise InvalidInputError("`W` must be None: the weights come from the signal's noise variance "
                                    "(metadata.Signal.Noise_properties.variance)")
        if chunk_order not in ("sequential", "random"):
            raise InvalidInputError(f"`chunk_order` must be 'sequential' or 'random', got {chunk_order!r}")
        if seed is not None and random_state is not None:
            raise InvalidInputError("give `seed` or `random_state`, not both")
        super().__init__(model, initial_state=initial_state, max_iter=max_iter,
                         relative_tolerance=relative_tolerance, likelihood=likelihood, **kwargs)
        if ndf is not None and (isinstance(ndf, bool) or not isinstance(ndf, Integral) or ndf < 1):
            raise InvalidInputError(f"`ndf` must be a positive integer or None, got {ndf!r}")
        self._ndf = None if ndf is None else int(ndf)
        self.lm_kwargs = {"relative_tolerance": self.relative_tolerance, "Lup": Lup, "Ldn": Ldn, "L0": L0,
                          "max_step_iter": max_step_iter, "verbose": 0, "max_iter": 100}
        self.chunk_order = chunk_order
        self.rng = np.random.default_rng(random_state if seed is None else seed)
        self.chunks = self.make_chunks(chunks)
        self.sub_fits = 0

    def make_chunks(self, chunks):
        """Validate ``chunks``: an int size, or a tuple of (P,) boolean masks."""
        P = self.target.P
        if isinstance(chunks, Integral) and not isinstance(chunks, bool):
            if chunks < 1:
                raise InvalidInputError(f"`chunks` must be a positive integer or a tuple of masks, got {chunks!r}")
            return int(chunks)
        if not isinstance(chunks, (tuple, list)) or not chunks:
            raise InvalidInputError(f"`chunks` must be a positive integer or a tuple of masks, got {chunks!r}")
        masks = []
        for k, c in enumerate(chunks):
            a = np.asarray(c)
            if a.shape != (P,) or not np.isin(a, (0, 1)).all() or not a.any():
                raise InvalidInputError(
                    f"`chunks[{k}]` must be a boolean (or 0/1) array of shape ({P},) selecting at least one "
                    f"parameter, got {c!r}")
            masks.append(a.astype(bool))
        covered = np.any(masks, axis=0)
        if not covered.all():
            missing = [n for n, k in zip(self.target.names, covered) if not k]
            raise InvalidInputError(f"`chunks` leave free parameters out: {missing}")
        return tuple(masks)

    def iter_chunks(self):
        """The masks of one cycle, in the order they are fitted."""
        P = self.target.P
        if isinstance(self.chunks, int):
            cols = self.rng.permutation(P) if self.chunk_order == "random" else np.arange(P)
            out = []
            for s in range(0, P, self.chunks):
                mask = np.zeros(P, dtype=bool)
                mask[cols[s:s + self.chunks]] = True
                out.append(mask)
            return out
        order = self.rng.permutation(len(self.chunks)) if self.chunk_order == "random" else range(len(self.chunks))
        return [self.chunks[i] for i in order]

    def _blocks(self):
        return self.iter_chunks()
