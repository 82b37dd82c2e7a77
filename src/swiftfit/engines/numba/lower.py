"""The fused fast path of ``"lm"``: a Problem lowered to arrays for numba.

:func:`lower` turns a :class:`~swiftfit.problem.problem.Problem` into the
flat description the compiled kernels (:mod:`.kernels`) take — one
kind code per component, where each component's parameters sit in a vector
``q``, which ``theta`` column (or fixed value) feeds each of them — or
returns None when the problem needs something only the NumPy path does:

* a component whose class declares no compiled form (``compiled_kind``, a
  kernel kind, or ``compiled_expression``, a formula the register machine of
  :mod:`.expression_vm` runs; see :func:`declared_form`): user components
  and subclasses that override
  ``function``/``gradients`` without declaring their own; an Expression
  using something the register machine does not run (derivatives sympy
  cannot take); a free step position (HeavisideStep ``n``, PowerLaw
  ``left_cutoff``: their derivative is a delta);
* ties whose expression the register machine does not run (``expr`` ties
  and twins through a function are compiled, in 1-D and 2-D:
  :func:`.model._ties`; an identity twin reads its source's column);
* an operator other than Model2D's PSF/oversampling (Model2D's
  ``set_psf``: :mod:`.psf` convolves in the kernel) — e.g. the EELS
  low-loss convolution (a kernel per pixel, some components only);
  several datasets, more than two coordinates,
  finite-difference gradients asked for explicitly, a loss other than least
  squares, ``ML-poisson`` and ``huber`` (those two: :func:`fused_newton`). Bounds (``bounded=True``) run in the kernel, kept as the NumPy
  reference keeps them (see :func:`.kernels._fit_rows`).

2-D problems (Model2D: Gaussian2D with or without rotation, Lorentzian2D,
Moffat2D, Sersic2D, Polynomial2D, Offset and 2-D Expressions; see :mod:`.model2d`)
reach the same kernel as flattened pixel coordinates ``x`` and ``xy``.

:func:`fused_lm` runs the kernels and returns the same
:class:`~swiftfit.problem.solution.Solution` as the NumPy reference.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from ...optimizers import _lm_steps as steps
from ...problem.fastops import all_nan_blocks, row_counts
from ...problem.problem import Problem, relevance
from ...problem.solution import Solution, Status
from . import warmup as _warmup
from .lower_tables import (
    _declared_program,
    _expression_tables,
    _is_identity,
    _powerlaw_table,
    _program,
    _psf_tables,
    _raster,
    _spline_tables,
    _tie_program,
    declared_form,
)

__all__ = ["available", "lower", "why_not", "declared_form", "fused_lm"]

_log = logging.getLogger(__name__)


def available() -> bool:
    """True when numba can be imported (the fast path needs it)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


_CACHE_CHECKED = False


def _refresh_kernel_cache() -> None:
    """Drop numba's on-disk cache of the fused kernels when their sources changed.

    numba invalidates a cached function when *its own* file changes, not when
    a function it calls from another module does: ``fit_pixels`` compiled
    against an older ``model.evaluate`` would be loaded stale. A stamp
    of all the sources, kept next to the cache, catches that.
    """
    global _CACHE_CHECKED
    if _CACHE_CHECKED:
        return
    _CACHE_CHECKED = True
    here = Path(__file__).parent
    names = ("vexp", "expression_vm", "model2d", "roi2d", "separable2d", "voigt", "spline", "forms1d", "gram", "model",
             "svd", "newton", "lm_linalg", "lm_rules", "endcheck", "kernels", "probe", "newton_loss", "psf", "warmup",
             "verdict", "gram1", "expr_gram", "driver", "atomic")
    sources = [here / f"{name}.py" for name in names]
    try:
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
        cache = _cache_dir()
        stamp = cache / "swiftfit_fused.stamp"
        if stamp.is_file() and stamp.read_text() == digest:
            return
        for name in names:
            for f in cache.rglob(f"{name}.*.nb[ic]"):
                f.unlink(missing_ok=True)
        cache.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: numba then caches elsewhere, or not at all
        return


def _cache_dir() -> Path:
    """Where numba caches the fused kernels (``NUMBA_CACHE_DIR`` or the package's ``__pycache__``)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    return Path(__file__).parent / "__pycache__"



def _kinds() -> dict:
    """Kernel kind codes by the names components declare (``compiled_kind``)."""
    _refresh_kernel_cache()
    from . import forms1d as k
    from . import model2d as k2

    return {
        "gaussian": k.GAUSSIAN, "gaussian_hf": k.GAUSSIAN_HF, "lorentzian": k.LORENTZIAN,
        "offset": k.OFFSET,  # 1-D and 2-D: a constant, the 1-D evaluation does
        "polynomial": k.POLYNOMIAL, "exponential": k.EXPONENTIAL, "powerlaw": k.POWERLAW,
        "voigt": k.VOIGT, "expression": k.EXPRESSION, "spline": k.SPLINE,
        "gaussian2d": k2.GAUSSIAN2D, "lorentzian2d": k2.LORENTZIAN2D, "moffat2d": k2.MOFFAT2D,
        "sersic2d": k2.SERSIC2D, "polynomial2d": k2.POLYNOMIAL2D,
    }


def lower(problem: Problem, loss=None, bounded: bool = False):
    """The kernel's description of ``problem``, or None if it needs the NumPy
    path (:func:`why_not` says why; the reason is also logged at DEBUG level).
    """
    from .lower_cache import lowered  # the structure's tables kept between calls

    low = lowered(problem, loss, bounded, _lower, declared_form)
    if isinstance(low, str):
        _log.debug("fused kernel refused: %s", low)
        return None
    return low


def why_not(problem: Problem, loss=None, bounded: bool = False) -> str | None:
    """Why ``problem`` cannot run in the compiled kernel, or None if it can.

    Examples
    --------
    >>> import swiftfit as sf
    >>> class Odd(sf.model.components1D.Gaussian):
    ...     @staticmethod
    ...     def function(x, A, sigma, centre):
    ...         return A * np.cos(x - centre)
    >>> s = sf.signals.Signal1D(np.ones(20))
    >>> m = s.create_model()
    >>> m.append(Odd())
    >>> print(why_not(m.compile([()])))
    component 0 (Odd): Odd defines function without declaring its compiled form (class attribute compiled_kind or compiled_expression)
    """
    low = _lower(problem, loss, bounded)
    return low if isinstance(low, str) else None


def _lower(problem: Problem, loss=None, bounded: bool = False):
    if not isinstance(problem, Problem):  # e.g. a user's residual function (lmfit API)
        return "not a Problem built from components (a user's residual function)"
    if loss is not None and loss.name not in ("ls", "ML-poisson", "huber"):
        return f"loss {loss.name!r} (the kernel runs least squares, ML-poisson and huber)"
    if loss is not None and loss.name != "ls":
        from ...losses import Huber, PoissonML

        if type(loss) not in (Huber, PoissonML):  # a wrapper (e.g. one that records a trace) sees every call
            return f"loss {type(loss).__name__} (the kernel runs the plain PoissonML and Huber losses)"
    ndim = len(problem.coords)
    psf = _psf_tables(problem)
    if isinstance(psf, str):
        return psf
    if len(problem.segments) > 1:
        return "several datasets"
    if ndim not in (1, 2):
        return f"{ndim} coordinates (the kernel runs 1 or 2)"
    if problem.grad not in ("auto", "analytical"):
        return f"grad={problem.grad!r} (finite differences asked for)"
    kinds_of = _kinds()
    kinds, programs, cexpr = [], [], []
    must_fix = []  # (component, parameter index): step positions (their derivative is a delta)
    for c, comp in enumerate(problem.components):
        where = f"component {c} ({type(comp).__name__})"
        form = declared_form(type(comp))
        if isinstance(form, str):
            return f"{where}: {form}"
        how, name = form
        if getattr(comp, "_ndim", 1) != ndim:
            return f"{where}: {getattr(comp, '_ndim', 1)}-D in a {ndim}-D problem"
        cexpr.append(-1)
        if how == "expression":
            if ndim != 1:
                return f"{where}: a declared formula in a 2-D problem"
            prog = _declared_program(name, tuple(p.name for p in comp.parameters))
            if isinstance(prog, str):
                return f"{where}: {prog}"
            prog, deltas = prog
            must_fix.extend((c, i) for i in deltas)
            kind = kinds_of["expression"]
        else:
            kind = kinds_of.get(name)
            if kind is None:
                return f"{where}: compiled_kind {name!r} is not a kernel kind ({sorted(kinds_of)})"
            if kind == kinds_of["expression"]:
                if not hasattr(comp, "_internal_expr"):
                    return f"{where}: compiled_kind 'expression' on a component that is not an Expression"
                if not comp.compute_gradients:
                    return f"{where}: an Expression with compute_gradients=False"
                prog = _program(comp._internal_expr, tuple(comp._grad_exprs), tuple(comp._internal_symbols), ndim)
                if prog is None:
                    return f"{where}: its expression uses what the register machine does not run"
            elif kind == kinds_of["powerlaw"]:
                must_fix.append((c, 3))  # a free left cut-off: its derivative is a delta
            elif kind == kinds_of["spline"]:
                prog = _spline_tables(comp, problem.N)
                if isinstance(prog, str):
                    return f"{where}: {prog}"
        if kind in (kinds_of["expression"], kinds_of["spline"]):
            cexpr[-1] = len(programs)
            programs.append(prog)
        kinds.append(kind)
    nq = np.array([len(s) for s in problem.slots], dtype=np.int64)
    qoff = np.array([s[0] if s else 0 for s in problem.slots], dtype=np.int64)
    col = np.full(len(problem.plans), -1, dtype=np.int64)
    fixed = np.array(problem.fixed, dtype=float, order="C")
    P = problem.P
    ties, tdeps, tcols, reach = [], [], [], {}  # reach: a tie's row -> the free columns it depends on
    for i in problem.order:
        plan = problem.plans[i]
        if plan.kind == "free":
            col[i] = plan.column
        elif plan.kind == "twin" and _is_identity(plan):
            col[i] = col[plan.source]
            fixed[:, i] = fixed[:, plan.source]
        elif plan.kind in ("twin", "expr"):
            # a twin through a function or an expr tie: its value and partial
            # derivatives by a register program, its Jacobian row P + 1 + t
            # folded into its dependencies' (model._ties, model._fold_ties; on
            # a 2-D raster's boxes too)
            deps = [plan.source] if plan.kind == "twin" else list(plan.deps)
            prog = _tie_program(plan.sym, len(deps))
            if isinstance(prog, str):
                return f"parameter {i}: its {plan.kind} tie {prog}"
            cols = set()
            for d in deps:
                cols |= {int(col[d])} if 0 <= col[d] < P else reach.get(int(col[d]), set())
            col[i] = P + 1 + len(ties)
            reach[int(col[i])] = cols
            ties.append((i, len(programs), len(tdeps), len(deps), len(tcols), len(cols)))
            tdeps.extend(deps)
            tcols.extend(sorted(cols))
            programs.append(prog)
        elif plan.kind != "fixed":
            return f"parameter {i}: a {plan.kind} parameter"
    powerlaws = [c for c, kind in enumerate(kinds) if kind == kinds_of["powerlaw"]]
    for c in powerlaws:
        table = _powerlaw_table(problem, fixed[:, qoff[c] + 2])
        if table is not None:
            cexpr[c] = len(programs)
            programs.append(table)
    tables, n_reg = _expression_tables(programs)
    if powerlaws:
        n_reg = max(n_reg, 4)  # forms1d._powerlaw's scratch rows
    ex = (*tables, np.array(cexpr, dtype=np.int64), np.array(ties, dtype=np.int64).reshape(-1, 6),
          np.array(tdeps, dtype=np.int64), np.array(tcols, dtype=np.int64), *psf[0])
    for c, i in must_fix:
        if col[qoff[c] + i] >= 0:
            # its derivative is a delta: the NumPy path takes finite differences
            return f"component {c}: its parameter {i} is a step position and free"
    # with a PSF the components are evaluated on the operator's grid (ex[11:13]);
    # x, xy are then the data points' pixel centres on the image
    x = np.ascontiguousarray(problem.coords[0] if psf[1] is None else psf[1], dtype=float)
    if x.ndim != 1 or x.size != problem.N:
        return "coordinates that are not one flat array per pixel"
    xy, grid = np.empty(0), np.zeros(7)
    if ndim == 2:
        xy = np.ascontiguousarray(problem.coords[1] if psf[2] is None else psf[2], dtype=float)
        if xy.shape != x.shape:
            return "a second coordinate not shaped as the first"
        grid = _raster(x, xy)
        n_reg = max(n_reg, 2)  # model2d's separable Gaussian2D keeps its factors in R[0], R[1]
    bs = np.ascontiguousarray(np.broadcast_to(np.asarray(problem.binscale, dtype=float), x.shape))
    step = np.diff(x)
    ascending = bool(np.all(step > 0))
    # a uniform grid lets Gaussians be evaluated by a recurrence (see kernels._gauss_shape)
    uniform = ascending and x.size > 1 and bool(np.allclose(step, step[0], rtol=1e-9, atol=0.0))
    return dict(bounded=bool(bounded and problem.bounded), x=x, xy=xy, grid=grid, ascending=ascending, dx=float(step[0]) if uniform else 0.0, bs=bs, kinds=np.array(kinds, dtype=np.int64), qoff=qoff, nq=nq,
                fixed=fixed, col=col, active=np.ascontiguousarray(problem.active, dtype=np.bool_), ex=ex, n_reg=n_reg)


def _weights(problem: Problem):
    if problem.weights is None:
        return np.ones((1, problem.N)), False
    return np.ascontiguousarray(problem.weights, dtype=float), True


def evaluate(problem: Problem, theta: np.ndarray, low=None, dense: bool = True, norms: bool = False):
    """Model, weighted residuals, ``JᵀJ``, ``Jᵀr`` and ``J`` (unless ``dense``
    is False: then an empty (B, 0, P) array) from the kernel, and with
    ``norms`` the unweighted Jacobian's column norms (the tests compare them
    with the NumPy path).
    """
    _refresh_kernel_cache()
    from . import probe

    low = lower(problem) if low is None else low
    W, use_w = _weights(problem)
    out = probe.evaluate_pixels(low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"], np.ascontiguousarray(problem.data, dtype=float),
                             W, use_w, low["kinds"], low["qoff"], low["nq"], low["active"], low["fixed"], low["col"],
                             np.ascontiguousarray(theta, dtype=float), low["ex"], low["n_reg"], dense)
    return out if norms else out[:5]


def _bounds(problem: Problem):
    P = problem.P
    return _vector(problem.lower, P), _vector(problem.upper, P)


def _vector(v, P: int) -> np.ndarray:
    """``v`` as a contiguous float vector of ``P`` (broadcast): a read-only view
    of it when it is one already (compile's bounds) — read-only as
    ``broadcast_to``'s view was, so the kernel's compiled signature is the
    same — without ``broadcast_to``'s ~4 µs.
    """
    if type(v) is np.ndarray and v.shape == (P,) and v.dtype == np.float64 and v.flags.c_contiguous:
        out = v.view()
        out.flags.writeable = False
        return out
    return np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=float), (P,)))


def _relevant(low: dict, B: int, P: int, everywhere: bool | None = None) -> np.ndarray:
    """(B, P): the columns the kernel counts as reaching the model (a free
    parameter of a component active at the pixel), as ``problem.relevance``.
    ``everywhere``: ``low["active"].all()`` when the caller knows it.
    """
    active = low["active"]
    if everywhere is None:
        everywhere = bool(active.all())
    if everywhere:  # every component active everywhere: the union of their columns at every pixel
        rel = np.empty((B, P), dtype=bool)
        rel[:] = _union_row(low, P)
        return rel
    rel = np.zeros((B, P), dtype=bool)
    for c, cols in enumerate(_component_columns(low, P)):
        if cols:
            rel[:, cols] |= active[:, c, None]
    return rel


def _reach_counts(reach: np.ndarray, active: np.ndarray, everywhere: bool | None = None) -> np.ndarray:
    """``reach.sum(axis=1)``: with every component active everywhere each row is
    the union of their columns (:func:`_relevant`), one count for all; else
    :func:`~swiftfit.problem.fastops.row_counts`. ``everywhere``: ``active.all()``
    when the caller knows it.
    """
    if reach.shape[0] and (active.all() if everywhere is None else everywhere):
        return np.full(reach.shape[0], int(np.count_nonzero(reach[0])), dtype=int)
    return row_counts(reach)


_COMPONENT_COLUMNS: dict = {}  # id(low["col"]) -> (col, P, columns, union row): kept with the cached tables


def _component_columns(low: dict, P: int) -> list:
    """Each component's free columns (a tie's: the columns it reaches), from
    the structural tables (``col``, ``qoff``, ``nq``, ties); computed once per
    ``col`` array (the lowering cache hands the same one to every call).
    """
    return _columns(low, P)[0]


def _union_row(low: dict, P: int) -> np.ndarray:
    """The union of every component's free columns, (P,) bool, read-only;
    computed once per ``col`` array, with :func:`_component_columns`.
    """
    return _columns(low, P)[1]


def _columns(low: dict, P: int) -> tuple:
    col = low["col"]
    memo = _COMPONENT_COLUMNS.get(id(col))
    if memo is not None and memo[0] is col and memo[1] == P:
        return memo[2], memo[3]
    qoff, nq = low["qoff"], low["nq"]
    ties, tcols = low["ex"][7], low["ex"][9]
    out = []
    for c in range(len(nq)):
        cols = []
        for j in col[qoff[c]:qoff[c] + nq[c]]:
            if 0 <= j < P:
                cols.append(int(j))
            elif j > P:  # a tie's row: the free columns it reaches
                t = ties[j - P - 1]
                cols.extend(int(v) for v in tcols[t[4]:t[4] + t[5]])
        out.append(cols)
    row = np.zeros(P, dtype=bool)
    for cols in out:
        row[cols] = True
    row.flags.writeable = False
    if len(_COMPONENT_COLUMNS) >= 64:
        _COMPONENT_COLUMNS.clear()
    _COMPONENT_COLUMNS[id(col)] = (col, P, out, row)  # holds col: its id is not reused while kept
    return out, row


def checks(problem: Problem, theta: np.ndarray, low=None):
    """What the compiled kernel hands the verification, at any ``theta``.

    A dict (see :func:`swiftfit.problem.verify.verify`'s ``checks``): ``gram``
    ``JwᵀJw`` (B, P, P), ``model_sq`` ``Σ (w·model)²`` (B,), ``gap`` the Newton
    gap (B,) and ``relevant`` (B, P), computed by the same code as at the end of
    each pixel's fit; None when ``problem`` cannot be lowered. The tests hold it
    to the NumPy verification.
    """
    _refresh_kernel_cache()
    from . import probe

    low = lower(problem) if low is None else low
    if low is None:
        return None
    W, use_w = _weights(problem)
    lo, hi = _bounds(problem)
    gram, check, rel = probe.check_pixels(
        low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"],
        np.ascontiguousarray(problem.data, dtype=float), W, use_w,
        low["kinds"], low["qoff"], low["nq"], low["active"], low["fixed"], low["col"],
        np.ascontiguousarray(theta, dtype=float), low["ex"], low["n_reg"], lo, hi)
    return {"gram": gram, "model_sq": check[:, 0], "gap": check[:, 1], "relevant": rel}


def fused_lm(problem: Problem, low: dict, *, ftol: float, xtol: float, max_nfev: int | None,
             radius0: float, linear_start: bool = True) -> Solution:
    """Levenberg–Marquardt on every pixel of ``problem`` by the compiled kernel
    (``linear_start``: the linear projection of :mod:`.linear_start`).
    """
    _refresh_kernel_cache()
    from . import driver as k

    bounded = low.get("bounded", False)
    # steps.start's limit and start (p0 moved into the box), without its counters; one
    # layout for every caller (a model's p0 is column-major): one compiled signature,
    # the one the background compile caches (engines/numba/warmup.py)
    limit = steps.nfev_limit(problem.P, max_nfev)
    theta = steps.start_point(problem, bounded, order="C")
    W, use_w = _weights(problem)
    lo, hi = _bounds(problem)
    status, nfev, njev, nit, cost, cov, nsvd, gram, check = k.fit_pixels(
        low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"],
        np.ascontiguousarray(problem.data, dtype=float), W, use_w,
        low["kinds"], low["qoff"], low["nq"], low["active"], low["fixed"], low["col"], theta,
        float(ftol), float(xtol), limit, float(radius0), low["ex"], low["n_reg"], lo, hi, bounded,
        *_linear(problem, linear_start))
    # rank-deficient and ill-conditioned Jacobians are solved in the kernel
    # too (SVD of J D⁻¹, see engines/numba/svd.py): no pixel is handed back to NumPy
    status = status.astype(int, copy=False)  # the kernel's fresh int64 arrays: no copies needed
    # the columns that reach the model: the kernel's own count without ties (the
    # same as problem.relevance there), problem.relevance's derivatives with them
    everywhere = bool(low["active"].all())  # read once for both below
    reach = _relevant(low, problem.B, problem.P, everywhere)
    # an identity twin reads its source's column (lower: col[i] == col[source]): its
    # derivative is its source's, so problem.relevance is the kernel's count there too
    col = low["col"]
    tied = any(plan.kind == "expr" or (plan.kind == "twin" and col[i] != col[plan.source])
               for i, plan in enumerate(problem.plans))
    # .any(axis=1), exactly: NumPy reduces a short trailing axis one tiny loop per pixel
    counts = None if tied else _reach_counts(reach, low["active"], everywhere)
    nan_blocks = all_nan_blocks(cov)  # np.isnan(cov).all(axis=(1, 2)), exactly
    if nan_blocks.any():  # (no all-NaN covariance: nothing to mark, the columns reaching the model not needed)
        relevant = (row_counts(relevance(problem, theta)) if tied else counts) > 0
        status[nan_blocks & (status > 0) & relevant] = _SINGULAR  # an int (an IntEnum costs NumPy a slow conversion)
    info = {"chisq": cost.copy(), "kernel": "numba", "compiled": np.ones(problem.B, dtype=bool),
            "svd_factorizations": nsvd.astype(int, copy=False),
            # the write-back's singular test reads it again (kept with the matrix it describes)
            "cov_nan_blocks": (cov, nan_blocks)}
    if not tied:  # problem.relevance at the answer and its row counts, for the write-back (never written to)
        info["relevance"] = reach
        info["relevance_counts"] = counts
    # the verification's inputs at the answer (problem.verify's `checks`); the kernel's
    # column norms divide by the weights, so only where every weight is positive
    if problem.weights is None or (np.asarray(problem.weights) > 0).all():
        info["checks"] = {"gram": gram, "model_sq": check[:, 0], "gap": check[:, 1], "relevant": reach}
    _warmup.loaded(low)
    return Solution(theta, status, nfev.astype(int, copy=False), cost, cov, njev.astype(int, copy=False),
                    nit.astype(int, copy=False), info=info)


_SINGULAR = int(Status.SINGULAR)
_LINEAR_COLUMNS: dict = {}  # structure -> linear_columns' answer (see _linear_key)


def _linear_key(problem: Problem):
    """What :func:`.linear_start.linear_columns` reads of a problem without ties:
    each plan's kind and column (a twin through ``"x"``: its source), each
    component's compiled form and its parameters' ``_linear`` flags, ``P``
    and the gradient mode; None with other ties (their derivatives are
    evaluated at the start values) or another problem type.
    """
    if type(problem) is not Problem:
        return None
    plans = []
    for plan in problem.plans:
        if plan.kind in ("free", "fixed"):
            plans.append((plan.kind, plan.column))
        elif plan.kind == "twin" and plan.sym is not None and getattr(plan.sym[0], "is_Symbol", False):
            # twin_function_expr "x": the source's value and derivative (1) at any value
            plans.append(("twin", plan.source))
        else:
            return None
    comps = tuple((type(c), getattr(c, "compiled_kind", None), tuple(bool(getattr(p, "_linear", False))
                                                                      for p in c.parameters))
                  for c in problem.components)
    return tuple(plans), comps, tuple(len(s) for s in problem.slots), problem.P, problem.grad


def _linear(problem: Problem, on: bool):
    """The kernel's ``(linear, lin_tau)`` arguments (see :mod:`.linear_start`);
    the linear columns of a structure without ties are found once (varpro's
    analysis, ~0.3 ms, evaluates the model) and kept.
    """
    from .linear_start import LINEAR_TAU, linear_columns

    if not on:
        return np.zeros(problem.P, dtype=bool), np.inf
    key = _linear_key(problem)
    cols = None if key is None else _LINEAR_COLUMNS.get(key)
    if cols is None:
        cols = linear_columns(problem)
        if key is not None:
            if len(_LINEAR_COLUMNS) >= 64:
                _LINEAR_COLUMNS.clear()
            _LINEAR_COLUMNS[key] = cols
    return cols.copy(), LINEAR_TAU


def fused_newton(problem: Problem, low: dict, loss, *, xtol: float = 1e-10, dtol: float = 1e-12,
                 max_nfev: int | None = None, lambda0: float = 1e-3) -> Solution:
    """``ML-poisson`` and ``huber`` by the compiled damped Gauss–Newton
    (:mod:`.newton_loss`), the twin of :func:`swiftfit.optimizers.damped_newton.damped_newton`
    (same options, same Solution: no covariance, the loss computes it).
    """
    _refresh_kernel_cache()
    from . import newton_loss as nl

    bounded = low.get("bounded", False)
    lo, hi, limit, theta, *_ = steps.start(problem, bounded, max_nfev)
    # one layout for every caller (a model's p0 is column-major): the signature the
    # background compile caches (engines/numba/warmup.py), as in fused_lm
    theta = np.ascontiguousarray(theta)
    lo = np.ascontiguousarray(np.broadcast_to(np.asarray(lo, dtype=float), (problem.P,)))
    hi = np.ascontiguousarray(np.broadcast_to(np.asarray(hi, dtype=float), (problem.P,)))
    poisson = loss.name == "ML-poisson"
    W, use_w = _weights(problem)
    if poisson:  # the Poisson variance is the model: weights are ignored
        W, use_w = np.ones((1, problem.N)), False
    status, nfev, njev, nit, value = nl.newton_pixels(
        low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"],
        np.ascontiguousarray(problem.data, dtype=float), W, use_w,
        low["kinds"], low["qoff"], low["nq"], low["active"], low["fixed"], low["col"], theta,
        low["ex"], low["n_reg"], lo, hi, nl.POISSON if poisson else nl.HUBER,
        float(getattr(loss, "delta", 1.0)), float(loss.errordef), float(xtol), float(dtol), int(limit),
        float(lambda0))
    info = {"kernel": "numba", "compiled": np.ones(problem.B, dtype=bool)}
    _warmup.loaded(low, "newton")
    return Solution(theta, status.astype(int), nfev.astype(int), value, None, njev.astype(int), nit.astype(int),
                    info=info)
