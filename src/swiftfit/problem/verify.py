"""Success means verified: the one check every door applies to a solver's answer.

Every fit that writes into a model — ``m.fit``, ``m.multifit``, joint fits,
``Fit.run`` (every backend), the AstroPhot-style fitters, SAMFire — goes
through the model's write-back, which calls :func:`verify`; the lmfit-style
:func:`~swiftfit.lmfit_api.minimize` calls it on its residual problem. So one
answer gets one verdict, whichever door or optimizer produced it.

A pixel the solver reports as converged keeps its success only if

* it has more data points than free parameters (else ``TOO_FEW_POINTS``);
* for Poisson ML, the model is positive wherever counts are (else ``ZERO_MODEL``);
* its data and weights are representable: a subnormal variance makes the
  weights overflow (``OVERFLOW``), data whose squares underflow leave nothing
  to fit (``UNDERFLOW``) — these two also replace a failure blamed on the
  model or the Jacobian, so the message names the real cause;
* the Jacobian at the answer is finite (``NONFINITE``) and every free column
  moves the model (else ``SINGULAR``: e.g. a Gaussian of amplitude 0 has no
  centre and no width): a column is dead when changing its parameter by its
  own size (``max(|θ|, |p0|)``) changes the weighted model by at most 1e-12
  of the data's norm and of the largest such change, *and* the column is
  below 1e-12 of the largest column (an intercept that converged to 1e-16 has
  a tiny size but an ordinary column);
* one Gauss–Newton step from it (parameters the step would push across a bound
  held there) is small for every parameter (:func:`newton_gaps`, else
  ``NOT_A_MINIMUM``). Closed-form answers (linear solvers) skip this step.
"""

from __future__ import annotations

import functools

import numpy as np

from .solution import Status

__all__ = ["verify", "newton_gaps", "too_few_points", "counts_text", "DEAD_COLUMN"]

# a column that moves the weighted model by less than this fraction of the
# data's norm when its parameter changes by its own size is not determined
DEAD_COLUMN = 1e-12
# squares of numbers below this underflow double precision (1e-308)
_UNDERFLOW = 1e-150
_W_MAX = 1 / np.sqrt(np.finfo(float).tiny)  # 1/σ for the smallest normal variance
_KEEP = (Status.BAD_DATA, Status.NO_SIGNAL, Status.NOT_FITTED)
_KEEP_CODES = np.array([int(s) for s in _KEEP], dtype=np.int64)


def _scale(theta, p0):
    """Each parameter's own size, ``max(|θ|, |p0|)`` (1 where both are 0), (B, P)."""
    start = np.abs(np.broadcast_to(p0, theta.shape))
    size = np.maximum(np.abs(theta), start)
    return np.where((size > 0) & np.isfinite(size), size, 1.0)


def _derivatives(problem, loss, theta, J):
    """Loss value, gradient and Gauss–Newton/Fisher Hessian at ``theta``; the
    least-squares ones from the Jacobian already computed.
    """
    from ..losses import LeastSquares

    if type(loss) is LeastSquares:
        w = problem.weights
        r = problem.residuals(theta)
        Jw = J if w is None else J * w[:, :, None]
        return (np.einsum("bn,bn->b", r, r), -2 * np.einsum("bnp,bn->bp", Jw, r),
                2 * (Jw.transpose(0, 2, 1) @ Jw))  # BLAS: ~10x einsum's loop for (B, N, P)
    return (np.asarray(loss.value(problem, theta), float).reshape(-1),
            np.asarray(loss.gradient(problem, theta), float).reshape(theta.shape),
            np.asarray(loss.gn_hessian(problem, theta), float).reshape(theta.shape + theta.shape[-1:]))


def _model(problem, theta, checks):
    """The model at ``theta`` (B, N): the solver's (``checks["model"]``) or evaluated."""
    if checks is not None and "model" in checks:
        return np.asarray(checks["model"], dtype=float)
    return np.asarray(problem.evaluate(theta), dtype=float)


def _same_loss(gap_loss, loss, least_squares) -> bool:
    """Was ``checks["gap"]`` computed for ``loss``? (no ``loss`` key: least squares;
    else the very loss object the solver minimised)
    """
    if gap_loss is None:
        return type(loss) is least_squares
    return gap_loss is loss


def newton_gaps(problem, loss, theta, J=None, free=None, derivatives=None, *, lower=None,
                upper=None) -> np.ndarray:
    """How far each pixel's ``theta`` is from a minimum, measured by one Gauss–Newton step.

    The step ``δ = H⁻¹ g`` (loss gradient ``g``, Gauss–Newton/Fisher Hessian
    ``H``; parameters the step would push across a bound of ``problem`` are
    held there, so a minimum on a bound is a minimum) is compared, parameter
    by parameter, with the most lenient of three tolerances: a tenth of the
    parameter's standard deviation (for ls and huber without a variance,
    rescaled by the residual variance), 1e-3 of its value, and the step that
    changes the model by 1e-4 of the data's norm.

    ``derivatives``, optional: ``(value, gradient, Hessian)`` of the loss at
    ``theta`` when an engine has them already (default: from ``J``).
    ``lower``, ``upper``, optional: the box the step is held in (default the
    problem's bounds; an optimizer run without bounds passes ``-inf``/``inf``).

    Returns ``(B,)``: ``max_j |δ_j| / tol_j``, above 1 clearly not a minimum;
    0 where it cannot judge (non-finite values, a singular ``H``).

    Examples
    --------
    >>> gaps = newton_gaps(problem, loss, solution.theta)   # doctest: +SKIP
    """
    theta = np.asarray(theta, dtype=float)
    B, P = theta.shape
    gap = np.zeros(B)
    if P == 0 or B == 0:
        return gap
    with np.errstate(all="ignore"):
        if J is None:
            J = np.asarray(problem.jacobian(theta), dtype=float)
        f, g, H = _derivatives(problem, loss, theta, J) if derivatives is None else derivatives
    ok = np.isfinite(f) & np.isfinite(g).all(axis=1) & np.isfinite(H).all(axis=(1, 2)) & \
        np.isfinite(J).all(axis=(1, 2))
    diag = np.einsum("bpp->bp", H)
    free = (diag > 0) if free is None else (free & (diag > 0))
    lo = np.broadcast_to(np.asarray(problem.lower if lower is None else lower, dtype=float), (B, P))
    hi = np.broadcast_to(np.asarray(problem.upper if upper is None else upper, dtype=float), (B, P))
    eye = np.eye(P)
    delta = np.zeros((B, P))
    inv_diag = np.zeros((B, P))
    judged = ok.copy()
    for _ in range(P + 1):
        judged &= free.any(axis=1)
        d = np.sqrt(np.where(free & judged[:, None], diag, 1.0))
        with np.errstate(all="ignore"):
            hs = np.where(judged[:, None, None], H / (d[:, :, None] * d[:, None, :]), eye)
            both = free[:, :, None] & free[:, None, :]
            hs = np.where(both, hs, eye)
            hs = np.where(np.isfinite(hs), hs, eye)
            w = np.linalg.eigvalsh(hs)
        judged &= w[:, 0] > 1e-12 * w[:, -1]
        hs = np.where(judged[:, None, None], hs, eye)
        gs = np.where(free & judged[:, None], g / d, 0.0)
        with np.errstate(all="ignore"):
            step = np.linalg.solve(hs, gs[:, :, None])[:, :, 0]
            delta = step / d
            inv_diag = np.einsum("bpp->bp", np.linalg.inv(hs)) / d**2
            trial = theta - delta
        crossing = free & judged[:, None] & ((trial < lo) | (trial > hi))
        if not crossing.any():
            break
        free = free & ~crossing
    with np.errstate(all="ignore"):
        sigma = np.sqrt(2 * loss.errordef * inv_diag)
        if loss.name in ("ls", "huber") and problem.weights is None:
            n_free = free.sum(axis=1)
            s2 = np.where(problem.N > n_free, (f if loss.name == "ls" else 2 * f) / np.maximum(problem.N - n_free, 1), 1.0)
            sigma = sigma * np.sqrt(np.maximum(s2, 0.0))[:, None]
        col = np.sqrt(np.einsum("bnp,bnp->bp", J, J))
        norm = np.sqrt(np.einsum("bn,bn->b", problem.data, problem.data))
        model_step = np.where(col > 0, 1e-4 * norm[:, None] / col, np.inf)
        tol = np.maximum(np.maximum(0.1 * sigma, 1e-3 * np.abs(theta)), model_step)
        tol = np.where(tol > 0, tol, np.finfo(float).tiny)
        ratio = np.where(free, np.abs(delta) / tol, 0.0)
    gap[judged] = np.nanmax(ratio[judged], axis=1) if judged.any() else 0.0
    return gap


def status_in(status: np.ndarray, codes) -> np.ndarray:
    """``np.isin(status, codes)`` for a few status codes, by comparisons (a
    tenth of ``isin``'s fixed cost on a small array).

    Examples
    --------
    >>> status_in(np.array([1, -4, 0, -8]), (Status.BAD_DATA, Status.NOT_FITTED))
    array([False,  True,  True, False])
    """
    if isinstance(status, np.ndarray) and status.dtype == np.int64:
        # one look-up in a table of the codes (clipped: any other value reads a False end);
        # a tuple of codes passed again (the callers' constants) finds its table by identity
        memo = _TABLE_OF.get(id(codes)) if type(codes) is tuple else None
        if memo is not None and memo[0] is codes:
            lo, table = memo[1]
        else:
            lo, table = found = _code_table(tuple(int(c) for c in codes))
            if type(codes) is tuple:
                if len(_TABLE_OF) >= 64:
                    _TABLE_OF.clear()
                _TABLE_OF[id(codes)] = (codes, found)  # holds codes: its id is not reused while kept
        return table.take(status - lo, mode="clip")
    out = np.zeros(np.shape(status), dtype=bool)
    for code in codes:
        out |= status == int(code)
    return out


_CODE_TABLES: dict = {}  # codes -> (offset, table): status_in's look-up tables
_TABLE_OF: dict = {}  # id(codes tuple) -> (codes, (offset, table)): the same, found without converting the codes


def _code_table(codes: tuple) -> tuple:
    """``(lo, table)`` with ``table[s - lo]`` True exactly for ``s`` in ``codes``
    and False at both ends (where :func:`status_in` clips every other value).
    """
    found = _CODE_TABLES.get(codes)
    if found is None:
        if not codes:
            return 0, np.zeros(1, dtype=bool)
        lo = min(codes) - 1
        table = np.zeros(max(codes) - lo + 2, dtype=bool)
        table[np.array(codes, dtype=np.int64) - lo] = True
        table.flags.writeable = False
        found = _CODE_TABLES[codes] = (lo, table)
    return found


def verify(problem, loss, theta, status, relevant=None, *, closed_form_exact: bool = True,
           checks=None):
    """The statuses of ``theta`` after the checks of the module docstring.

    Parameters
    ----------
    problem : Problem
        The fitted pixels (``B``), with ``p0``, bounds and weights.
    loss : Loss
    theta : ndarray (B, P)
        The answers.
    status : array_like (B,)
        The solver's statuses (:class:`~swiftfit.problem.solution.Status` codes).
    relevant : ndarray (B, P) of bool, optional
        The free columns that reach the model at each pixel (default all).
    checks : dict, optional
        What a solver computed at ``theta`` already (``Solution.info["checks"]``),
        so the model and Jacobian are not evaluated again. The compiled
        kernel, at the end of each pixel's fit, gives ``gram`` (B, P, P)
        ``JwᵀJw`` of the weighted Jacobian, ``model_sq`` (B,) ``Σ (w·model)²``,
        ``gap`` (B,) the Newton gap by its copy of :func:`newton_gaps` (used
        for ``LeastSquares`` only) and ``relevant`` (B, P) the columns it
        counted as free (where they differ from ``relevant``, or for another
        loss, :func:`newton_gaps` is computed here); varpro gives the same
        keys; the linear solvers give ``columns`` (B, P), the weighted
        Jacobian's column norms, and either ``model_sq`` (a shared design) or
        ``residuals`` (B, N) weighted; damped Newton (the other losses) gives
        ``model`` (B, N) (also used by the Poisson and underflow checks),
        ``model_sq``, ``columns``, ``finite`` (B,) (its Jacobian's
        finiteness), ``relevant`` and ``gap`` with ``loss``, the loss object
        the gap was computed for (without ``loss``, ``gap`` is least
        squares'). Default: everything from the problem's NumPy evaluation.

    Returns
    -------
    status : ndarray (B,) of int
        Positive only where verified; a failure says which check failed.
    gap : ndarray (B,)
        :func:`newton_gaps` where computed, NaN elsewhere.

    Examples
    --------
    >>> status, gap = verify(problem, loss, solution.theta, solution.status)   # doctest: +SKIP
    """
    theta = np.asarray(theta, dtype=float)
    status = np.asarray(status, dtype=int).reshape(-1)  # not written: the verdict writes its own copy
    B, P = theta.shape
    relevant = np.ones((B, P), dtype=bool) if relevant is None else np.asarray(relevant, dtype=bool)
    # the compiled verdict first: it leaves the kept statuses (and their NaN gaps) as they are,
    # so with every pixel kept it answers what the early return below does
    fast = _compiled(problem, loss, theta, status, relevant, checks, closed_form_exact)
    if fast is not None:
        return fast
    status = status.copy()  # the statuses below are written in place: the caller's are not
    gap = np.full(B, np.nan)
    open_ = ~status_in(status, _KEEP)
    if not open_.any():
        return status, gap
    data = np.asarray(problem.data, dtype=float)
    w = problem.weights
    # too few data points: nothing else is meaningful
    few = open_ & (problem.N - relevant.sum(axis=1) <= 0)
    status[few] = Status.TOO_FEW_POINTS
    open_ &= ~few
    # representable data and weights (these override a failure blamed on the model)
    with np.errstate(all="ignore"):
        if w is not None:
            over = open_ & ((np.asarray(w) > _W_MAX) | ~np.isfinite(w)).any(axis=1)
            status[over] = Status.OVERFLOW
            open_ &= ~over
        wd = data if w is None else data * w
        # ‖wd‖² of every pixel: one read of the data (also the reference norm below)
        wd2 = np.einsum("bn,bn->b", wd, wd)
        # max |wd|: not below _UNDERFLOW where ‖wd‖² ≥ N·_UNDERFLOW² (max² ≥ mean
        # square); from the values only elsewhere (tiny, zero or not finite)
        amax = np.full(B, np.inf) if problem.N else np.zeros(B)
        low = np.flatnonzero(~(wd2 >= problem.N * _UNDERFLOW**2)) if problem.N else np.zeros(0, int)
        if low.size:
            amax[low] = np.max(np.abs(wd[low]), axis=1)
        under = open_ & (amax > 0) & (amax < _UNDERFLOW)
    if under.any():
        with np.errstate(all="ignore"):
            m = _model(problem, theta, checks)
            wm = m if w is None else m * w
            under &= ~(np.max(np.abs(wm), axis=1) >= _UNDERFLOW)
        status[under] = Status.UNDERFLOW
        open_ &= ~under
    if loss.name == "ML-poisson" and open_.any():
        with np.errstate(all="ignore"):
            m = _model(problem, theta, checks)
        zero = open_ & (((m <= 0) & (data > 0)).any(axis=1) | (m < 0).any(axis=1))
        status[zero & ((status > 0) | (status == Status.NONFINITE))] = Status.ZERO_MODEL
    check = open_ & (status > 0)
    if P == 0 or not check.any():
        return status, gap
    idx = np.flatnonzero(check)
    sub = problem.take(idx) if len(idx) < B else problem
    th = theta[idx]
    rel = relevant[idx]
    J = None
    # the weighted columns' norms: the Gram matrix's diagonal when an engine gave it
    with np.errstate(all="ignore"):
        if checks is None:
            J = np.asarray(sub.jacobian(th), dtype=float)
            Jw = J if sub.weights is None else J * sub.weights[:, :, None]
            raw = np.sqrt(np.einsum("bnp,bnp->bp", Jw, Jw))
            finite = np.isfinite(J).all(axis=(1, 2))
        elif "gram" in checks:
            gram = np.asarray(checks["gram"], dtype=float)[idx]
            raw = np.sqrt(np.einsum("bpp->bp", gram))
            finite = np.isfinite(gram).all(axis=(1, 2)) & np.isfinite(raw).all(axis=1)
        else:
            raw = np.asarray(checks["columns"], dtype=float)[idx]
            finite = np.isfinite(raw).all(axis=1)
            if "finite" in checks:  # the Jacobian's own (a huge finite column's norm may overflow)
                finite = np.asarray(checks["finite"], dtype=bool)[idx]
    status[idx[~finite]] = Status.NONFINITE
    # a column that does not move the model is not determined by the data
    with np.errstate(all="ignore"):
        col = raw * _scale(th, sub.p0)
        if checks is None:
            wm = np.asarray(sub.evaluate(th), dtype=float)
            wm = wm if sub.weights is None else wm * sub.weights
            model_sq = np.einsum("bn,bn->b", wm, wm)
        elif "model_sq" in checks:
            model_sq = np.asarray(checks["model_sq"], dtype=float)[idx]
        else:  # w·model = w·data − r
            wm = wd[idx] - np.asarray(checks["residuals"], dtype=float)[idx]
            model_sq = np.einsum("bn,bn->b", wm, wm)
        ref = np.sqrt(np.maximum(wd2[idx], model_sq))
        # and against the other columns (all-zero data and model: nothing else to compare with)
        ref = np.maximum(ref, np.max(np.where(rel, col, 0.0), axis=1, initial=0.0))
        # ... and the column itself is negligible next to the others (an intercept that converged
        # to 1e-16 has a tiny size but an ordinary column: it is determined)
        small = ~(raw > DEAD_COLUMN * np.max(np.where(rel, raw, 0.0), axis=1, initial=0.0)[:, None])
    dead = finite & (rel & ~(col > DEAD_COLUMN * ref[:, None]) & small).any(axis=1)
    status[idx[dead]] = Status.SINGULAR
    exact = status[idx] == Status.CLOSED_FORM if closed_form_exact else np.zeros(len(idx), bool)
    judge = finite & ~dead & ~exact
    if judge.any():
        from ..losses import LeastSquares

        k = np.flatnonzero(judge)
        gaps = np.full(len(k), np.nan)
        here = np.ones(len(k), dtype=bool)  # computed here, not taken from the engine
        if checks is not None and "gap" in checks and _same_loss(checks.get("loss"), loss, LeastSquares):
            gaps = np.asarray(checks["gap"], dtype=float)[idx[k]].copy()
            here = ~(np.asarray(checks["relevant"], dtype=bool)[idx[k]] == rel[k]).all(axis=1)
        if here.any():
            kh = k[here]
            sub2 = sub.take(kh) if len(kh) < len(idx) else sub
            try:
                gaps[here] = newton_gaps(sub2, loss, th[kh], None if J is None else J[kh], free=rel[kh])
            except (NotImplementedError, TypeError):  # a loss without a gradient or Hessian: not judged
                gaps[here] = 0.0
        gap[idx[k]] = gaps
        status[idx[k[gaps > 1]]] = Status.NOT_A_MINIMUM
    return status, gap


_VERDICT: dict = {}  # "fn": the compiled verdict, once it is usable in this process


@functools.cache
def _least_squares():
    """``losses.LeastSquares``, imported on first use and kept (~5 µs an import statement)."""
    from ..losses import LeastSquares

    return LeastSquares


def _compiled(problem, loss, theta, status, relevant, checks, closed_form_exact):
    """``(status, gap)`` by the compiled twin of :func:`verify`'s code below
    (:func:`swiftfit.engines.numba.verdict.gram_verdict`: the same decisions on
    the same numbers) when the compiled kernel's checks are at hand, least
    squares is the loss and numba is installed; None to run the NumPy code.
    """
    if checks is None or not all(key in checks for key in ("gram", "model_sq", "gap", "relevant")):
        return None
    LeastSquares = _least_squares()
    if not _same_loss(checks.get("loss"), loss, LeastSquares) or type(loss) is not LeastSquares:
        return None
    gram_verdict = _VERDICT.get("fn")
    if gram_verdict is None:  # imported and found compiled once per process (the checks cost ~15 µs a call)
        try:
            from ..engines.numba import warmup
            from ..engines.numba.verdict import gram_verdict
        except ImportError:  # numba not installed
            return None
        if not gram_verdict.signatures and not warmup.any_cached():
            # not compiled here and not cached yet (a cold first fit, on the NumPy path while the
            # background process compiles the kernel and this verdict): compiling it here would
            # cost the first multifit ~1.8 s (measured), the NumPy code below decides the same
            return None
        _VERDICT["fn"] = gram_verdict  # compiled, or loaded from the cache by the call below
    B, P = theta.shape
    w = problem.weights
    # ‖d‖²: kept by the multifit's finiteness test when it computed it (the same einsum)
    memo = getattr(problem, "__dict__", {}).get("_data_norm2") if w is None else None
    if memo is not None and memo[0] is problem.data:  # nothing computed here: nothing to warn about
        over = np.zeros(B, dtype=bool)
        wd2 = memo[1]
    else:
        data = np.asarray(problem.data, dtype=float)
        with np.errstate(all="ignore"):
            if w is None:
                over = np.zeros(B, dtype=bool)
                wd2 = np.einsum("bn,bn->b", data, data)
            else:
                over = ((np.asarray(w) > _W_MAX) | ~np.isfinite(w)).any(axis=1)
                wd = data * w
                wd2 = np.einsum("bn,bn->b", wd, wd)
    out = status.astype(np.int64)  # a copy: left unused if the NumPy code must decide
    p0 = problem.p0
    if not (isinstance(p0, np.ndarray) and p0.shape == theta.shape and p0.dtype == float):
        p0 = np.broadcast_to(np.asarray(p0, dtype=float), theta.shape)
    gap = np.full(B, np.nan)
    ok = gram_verdict(
        out, gap, np.ascontiguousarray(theta), np.ascontiguousarray(p0),
        np.ascontiguousarray(checks["gram"], dtype=float), np.ascontiguousarray(checks["model_sq"], dtype=float),
        np.ascontiguousarray(checks["gap"], dtype=float), np.ascontiguousarray(checks["relevant"], dtype=np.bool_),
        np.ascontiguousarray(relevant, dtype=np.bool_), wd2, problem.N, over, _KEEP_CODES,
        problem.N * _UNDERFLOW**2, DEAD_COLUMN, int(Status.SINGULAR), int(Status.TOO_FEW_POINTS),
        int(Status.OVERFLOW), int(Status.NONFINITE), int(Status.NOT_A_MINIMUM), int(Status.CLOSED_FORM),
        bool(closed_form_exact))
    return (out, gap) if ok else None


def too_few_points(problem):
    """A failed :class:`~swiftfit.problem.solution.Solution` (``TOO_FEW_POINTS``,
    the start values kept) when ``problem`` has fewer data points than free
    parameters — no solver is run then (their linear algebra needs ``N ≥ P``) —
    else None. Every door calls it before its solver.

    Examples
    --------
    >>> sol = too_few_points(problem) or spec.solve(problem, loss)   # doctest: +SKIP
    """
    from .solution import Solution

    if problem.P == 0 or problem.N >= problem.P:
        return None
    B = problem.B
    theta = np.array(problem.p0, dtype=float)
    return Solution(theta, np.full(B, int(Status.TOO_FEW_POINTS)), np.zeros(B, dtype=int), np.full(B, np.nan),
                    info={"counts": (problem.P, problem.N)})


def counts_text(nfree, ndata) -> str:
    """``"3 free parameters, 1 data point(s)"``: what a TOO_FEW_POINTS message names."""
    return f"{int(nfree)} free parameters for {int(ndata)} data point(s)"
