"""The write-back of a fit: values, errors, ``is_set`` and goodness of fit into
a model's maps (:meth:`WriteBackMixin._write_back`), and its helpers.
"""

from __future__ import annotations

import numpy as np

from .. import losses as _losses
from ..problem.fastops import LazyStats, all_nan_blocks, row_counts
from ..problem.goodness import dof_and_reduced, information_criteria, scale_covariance
from ..problem.pixels import run_in
from ..problem.problem import Problem, nonzero_columns, relevance
from ..problem.solution import Solution, Status
from ..problem.verify import status_in
from ..problem.verify import verify as _verify


class WriteBackMixin:
    """A model's ``_write_back`` (a base of :class:`~swiftfit.model.fit_mixin.FittingMixin`)."""

    def _write_back(self, problem: Problem, solution: Solution, pixels, rescale=None, loss=None, parts=None,
                    verify: bool = True):
        """Write values, std, is_set and goodness of fit into the maps, in one step.

        The covariance is the solver's when it gives one, else the loss's
        (Gauss–Newton, Fisher, inner-point or numerical Hessian). It is
        multiplied by the reduced χ² for ls without a noise variance (or as
        ``rescale`` says). ``parts`` (a joint fit): ``[(model, pixels), ...]``;
        each parameter is written at its own model's pixels, and every model's
        goodness-of-fit maps get the joint statistics.
        """
        loss = _losses.get("ls") if loss is None else loss
        parts = [(self, pixels)] if parts is None else parts
        idx_of = {id(m): m._nav_index(px) for m, px in parts}
        # a batched chunk that is one run of consecutive pixels is written through a slice
        run_of = {id(m): run_in(px, m._nav_shape) for m, px in parts}
        theta = solution.theta
        status = np.array(solution.status, dtype=int)
        written = status != _BAD_DATA_CODE  # an int: comparing with the IntEnum costs ~8 µs a call
        # the derivatives serve the ties (their relevance and std) only
        tied = any(plan.kind in ("twin", "expr") for plan in problem.plans)
        values, dvals = problem.parameter_values(theta, derivatives=True) if tied else \
            (problem.parameter_values(theta), [None] * len(problem.plans))
        chisq = solution.info.get("chisq")
        if chisq is not None and loss.name == "ls":  # the objective as the solver computed it
            objective = chisq
        else:
            with np.errstate(all="ignore"):
                if chisq is None:  # a solver that knows the weighted χ² at theta passes it on
                    resid = problem.residuals(theta)
                    chisq = np.einsum("bn,bn->b", resid, resid)
                objective = chisq if loss.name == "ls" else loss.value(problem, theta)
        finite = np.isfinite(objective)
        if not finite.all():  # (every objective finite: nothing to mark)
            status[(status > 0) & ~finite] = _NONFINITE_CODE
        n = problem.N
        k = problem.P
        # free parameters that reach the model at each pixel (a component
        # inactive there takes its own out), as a single fit there would count
        rel = solution.info.get("relevance")  # an engine that knows it exactly (the compiled kernel)
        kk = solution.info.get("relevance_counts")
        if not (isinstance(rel, np.ndarray) and rel.shape == (problem.B, k) and rel.dtype == bool):
            rel = relevance(problem, theta, dvals) if k else np.zeros((problem.B, 0), dtype=bool)
            kk = None
        if not (isinstance(kk, np.ndarray) and kk.shape == (problem.B,)):
            kk = row_counts(rel)  # rel.sum(axis=1), exactly
        if verify:  # success means verified, whichever door and optimizer (swiftfit.problem.verify)
            # a solver hands over what the checks need at its answer (no second evaluation)
            status, gap = _verify(problem, loss, theta, status, rel, checks=solution.info.get("checks"))
            solution.info.setdefault("newton_gap", gap)
        with np.errstate(all="ignore"):
            lnl = loss.log_likelihood_from_chisq(problem, chisq) if loss.name == "ls" else loss.log_likelihood(problem, theta)
            if isinstance(loss, _losses.PriorLoss) and loss.name == "ls":
                lnl = lnl + loss.log_prior(problem, theta)  # the log posterior, as the objective
        # goodness()'s dof and reduced χ² (its information criteria only when read: LazyStats)
        dof, red = dof_and_reduced(chisq, n, kk)
        cov = solution.covariance
        # calculate_errors=False (linear optimizers): no covariance, std left NaN
        if cov is None and k and solution.info.get("errors", True):
            with np.errstate(all="ignore"):
                cov = loss.covariance(problem, theta)
        raw_cov, undetermined, scaled = cov, None, None
        if cov is not None and k:
            # np.isnan(cov).all(axis=(1, 2)), exactly; the compiled kernel's driver found it already
            nan_blocks = solution.info.get("cov_nan_blocks")
            if not (isinstance(nan_blocks, tuple) and nan_blocks[0] is cov):
                nan_blocks = (cov, all_nan_blocks(cov))
            if nan_blocks[1].any():  # (no all-NaN matrix: nothing to mark)
                status[nan_blocks[1] & (status > 0)] = _SINGULAR_CODE
            if rescale is None:  # ls only: the others' covariances carry their own scale
                rescale = problem.weights is None and loss.name == "ls"
            # not determined: no error bars at all (NaN, never a std of 0)
            undetermined = status_in(status, _UNDETERMINED)
            if not undetermined.any():
                undetermined = None
            # the ties' errors read the whole (scaled) matrix, but for identity twins (its diagonal)
            if tied and any(plan.kind != "free" and dvals[i] is not None and _unit_column(dvals[i]) < 0
                            for i, plan in enumerate(problem.plans)):
                scaled = _scaled_covariance(raw_cov, red, rescale, undetermined)
                cov = scaled
        params = [p for c in problem.components for p in c.parameters]
        sel = np.flatnonzero(written)
        # where each model's maps are written, found once (not per parameter and field)
        take = None if sel.size == problem.B else sel
        pos_of = {key: _positions(idx, sel, run_of[key]) for key, idx in idx_of.items()}
        ones = np.ones(problem.B, bool)
        if cov is not None:
            cov_diag = np.einsum("bpp->bp", cov)
            if k and scaled is None:
                # the diagonal of the scaled matrix: the same products, without the (B, P, P) pass
                if rescale:  # scale_covariance's products on the diagonal (red (B,): one per pixel)
                    cov_diag = cov_diag * red[:, None]
                if undetermined is not None:
                    cov_diag = np.array(cov_diag, dtype=float)
                    cov_diag[undetermined] = np.nan
            with np.errstate(invalid="ignore"):
                std_free = np.sqrt(cov_diag)  # the free columns' errors, NaN where undetermined
        B = problem.B
        for i, p in enumerate(params):
            plan = problem.plans[i]
            if plan.kind == "fixed":  # as HyperSpy: every parameter of a fitted pixel is set
                _store(p._map, "is_set", pos_of[id(p.component.model)], ones, take)
                continue
            v = values[i]
            if not (type(v) is np.ndarray and v.shape == (B,)):  # np.shape(v) == (B,) else a broadcast
                v = v if np.shape(v) == (B,) else np.broadcast_to(v, (B,))
            if cov is not None and plan.kind == "free":
                std = std_free[:, plan.column]
            elif cov is not None and dvals[i] is not None:
                # only the columns it depends on somewhere (a twin: one; the
                # others add exact zeros to the sum)
                j = _unit_column(dvals[i])
                if j >= 0:  # d = one column's unit row (an identity twin): the sum below is that variance
                    std = _unit_std(cov_diag[:, j])
                else:
                    on = np.flatnonzero(nonzero_columns(dvals[i]))
                    d = dvals[i][:, on]
                    with np.errstate(invalid="ignore"):
                        cov_known = np.nan_to_num(cov[:, on[:, None], on], nan=0.0)
                        std = np.sqrt(np.einsum("bp,bpq,bq->b", d, cov_known, d))
                    # undetermined if it depends on a column whose variance is unknown
                    unknown = (np.isnan(cov_diag[:, on]) & (d != 0)).any(axis=1)
                    std = np.where(unknown, np.nan, std)
            else:
                std = np.full(problem.B, np.nan)
            idx = pos_of[id(p.component.model)]
            if type(idx) is slice and take is None and p._map.flags.c_contiguous:
                # every pixel, consecutive flat positions: the three fields through one view
                # of the map's rows (what _store writes, field by field)
                rows = p._map.reshape(-1)[idx]
                rows["values"] = v
                rows["std"] = std
                rows["is_set"] = ones
                continue
            _store(p._map, "values", idx, v, take)
            _store(p._map, "std", idx, std, take)
            _store(p._map, "is_set", idx, ones, take)
        # the per-pixel flags a solver may not report: False where it does not
        flags = [solution.info.get(key) for key in ("compiled", "varpro")]
        flags = [np.zeros(problem.B, dtype=bool) if f is None else f for f in flags]
        for m, _ in parts:
            idx = pos_of[id(m)]
            # the goodness maps (the int dof and counts cast to the float maps on assignment)
            maps = [(m._chisq, chisq), (m._dof, dof), (m._nfev, solution.nfev), (m._status, status)]
            for name, f in zip(("_compiled", "_varpro"), flags):
                a = getattr(m, name, None)
                if a is not None and a.shape == m._status.shape:
                    maps.append((a, f))
            maps += [(m._lnl, lnl), (m._nfree, kk)]
            for a, v in maps:
                _store(a, None, idx, v, take)
        def covariance():
            if raw_cov is None or not k or scaled is not None:
                return cov
            return _scaled_covariance(raw_cov, red, rescale, undetermined)

        def criteria():
            return information_criteria(np.asarray(lnl, float), np.asarray(kk), np.asarray(n))

        return LazyStats(
            {"chisq": chisq, "dof": dof, "red_chisq": red, "covariance": covariance, "status": status,
             "log_likelihood": lnl, "aic": lambda: criteria()[0], "aicc": lambda: criteria()[1],
             "bic": lambda: criteria()[2]},
            lazy=("covariance", "aic", "aicc", "bic"))


_BAD_DATA_CODE, _NONFINITE_CODE, _SINGULAR_CODE = int(Status.BAD_DATA), int(Status.NONFINITE), int(Status.SINGULAR)
# statuses whose parameters are not determined: their errors are NaN
_UNDETERMINED = tuple(int(s) for s in (Status.SINGULAR, Status.TOO_FEW_POINTS, Status.ZERO_MODEL,
                                       Status.UNDERFLOW, Status.OVERFLOW))


def _unit_column(d) -> int:
    """The column of a derivative ``(B, P)`` that is one row at every pixel
    (broadcast) with a single nonzero entry, exactly 1 — an identity twin's —
    else -1.
    """
    if d is None or np.ndim(d) != 2 or d.shape[0] == 0 or d.strides[0] != 0:
        return -1
    row = d[0]
    nz = np.flatnonzero(row)
    return int(nz[0]) if nz.size == 1 and row[nz[0]] == 1.0 else -1


def _unit_std(c: np.ndarray) -> np.ndarray:
    """An identity twin's error from its source's variance ``c``: the chain
    rule's ``sqrt(Σ d c d)`` with ``d`` one unit row, i.e.
    ``sqrt(nan_to_num(c, nan=0) + 0.0)`` (+ 0.0: the sum's +0 for a −0), NaN
    where ``c`` is NaN. Where every ``c`` is finite ``nan_to_num`` and the
    NaN mask change nothing and are skipped (three passes of five).
    """
    with np.errstate(invalid="ignore"):
        if np.isfinite(c).all():
            return np.sqrt(c + 0.0)
        std = np.sqrt(np.nan_to_num(c, nan=0.0) + 0.0)
    return np.where(np.isnan(c), np.nan, std)


def _scaled_covariance(cov, red, rescale, undetermined):
    """The covariance the write-back returns: scaled by the reduced χ² when
    ``rescale``, NaN at the ``undetermined`` pixels (None: none).
    """
    cov = scale_covariance(cov, red, rescale)
    if undetermined is not None:
        cov = np.array(cov, dtype=float)
        cov[undetermined] = np.nan
    return cov


def _positions(idx, sel, run=None):
    """Where :func:`_store` writes the pixels ``sel`` of a model whose pixels
    are at ``idx`` (its ``_nav_index``): ``()`` without navigation (None when
    nothing is selected), a ``slice`` of the flattened maps when every pixel
    is written and they are one ``run`` of consecutive flat positions
    (:class:`~swiftfit.problem.pixels.PixelChunk`), else the selected pixels'
    index arrays.
    """
    if idx == ():
        return () if sel.size else None
    if run is not None and sel.size and sel.size == idx[0].size:
        return slice(run[0], run[1])
    if len(idx) == 1 and sel.size and sel.size == idx[0].size:
        # every pixel of a run of consecutive ones (a batched chunk of a 1-D map):
        # a slice, written without a fancy-index per field
        first, last = int(idx[0][0]), int(idx[0][-1])
        if last - first == sel.size - 1 and (sel.size == 1 or bool((np.diff(idx[0]) == 1).all())):
            return (slice(first, last + 1),)
    return tuple(i[sel] for i in idx)


def _store(target: np.ndarray, field, pos, values, take=None) -> None:
    """``target[field][pos] = values[take]`` (``take`` None: every value)."""
    if pos is None:
        return
    if type(pos) is slice and take is None and field is None and target.flags.c_contiguous:
        # the common case (every pixel of a batched chunk, one run): one flat view, no conversions
        target.reshape(-1)[pos] = values
        return
    arr = target if field is None else target[field]
    values = np.asarray(values)
    if type(pos) is slice:  # consecutive flat positions (C order) of the maps
        if target.flags.c_contiguous:
            arr = target.reshape(-1) if field is None else target.reshape(-1)[field]  # views
        else:
            pos = np.unravel_index(np.arange(pos.start, pos.stop), target.shape)
    elif pos == ():
        arr[()] = values[0 if take is None else take[0]]
        return
    arr[pos] = values if take is None else values[take]
