"""Batched machinery of the linear optimizers (see :mod:`swiftfit.optimizers.linear`).

Three pieces, each chosen for speed on whole spectrum images:

* :func:`verify` — the numerical affinity check, its model evaluations
  stacked into one call (a few pixels cost two passes over the components,
  not six).
* :func:`prepare` — the weighted linear system ``yw ≈ Xw θ`` of a chunk as a
  :class:`Design`. When the fixed values and the active components are the
  same at every pixel, so is the design: it is built and verified from one
  pixel, and kept (validated before each reuse) for the next chunks; with
  identical weights every pixel then shares one weighted design. Otherwise
  each pixel's design is built by :func:`fast_design` with one evaluation of
  each component and checked at a sample of pixels (:func:`sample_rows`).
* :func:`normal_solve` — the normal equations ``(XᵀWX + αI) θ = XᵀW y`` of
  every pixel at once (batched, on the column-scaled Gram matrix, with a
  refinement step where needed); pixels whose scaled Gram matrix is
  ill-conditioned are left to the caller's SVD.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import NotLinearError
from ..problem.problem import Problem, relevance
from ..problem.rows import finite_rows
from ..problem.solution import Status

__all__ = ["GRAM_COND", "Design", "fast_design", "normal_solve", "prepare", "verify"]

_TOL = 1e-9  # relative tolerance of the affinity check
# normal equations are trusted while the column-scaled Gram matrix has a
# condition number below this; with one refinement step the solution then
# matches the SVD one to ~eps·cond(X) (the covariance to ~eps·cond(Gram))
GRAM_COND = 1e10
# refine the normal-equations solution where eps·cond(Gram) could exceed ~1e-12
_REFINE = 1e4
# a difference of terms at most 1e4 times larger than itself keeps ~1e-12
# relative accuracy: a design column f(e_j) − f(0), χ² = ‖y‖² − 2θᵀb + θᵀGθ
_CANCEL = CANCEL = 1e4
_SAMPLE = 2  # pixels of a chunk on which a per-pixel design is verified (plus coverage rows)
_HINT = (
    "make them not free, e.g. m.set_parameters_not_free(only_nonlinear=True), "
    "or use a non-linear optimizer such as 'lm'"
)


# ------------------------------------------------------------ affinity
def _unit_row(P: int) -> np.ndarray:
    """Deterministic, distinct factors in [0.6, 1.4): generic perturbation directions."""
    return 0.6 + 0.8 * (((np.arange(P) + 1) * 0.6180339887498949) % 1.0)


def _stacked(problem, points, method):
    """``method`` of ``problem`` at several θ arrays in one call: ``(len(points), B, ...)``."""
    K, B = len(points), problem.B
    if isinstance(problem, Problem) and K > 1:
        # one pass over the components for every point (tiling the pixels)
        tiled = problem.take(np.tile(np.arange(B), K))
        out = getattr(tiled, method)(np.concatenate(points))
        return out.reshape((K, B) + out.shape[1:])
    return np.stack([getattr(problem, method)(t) for t in points])


def verify(problem, name: str = "lstsq"):
    """The affine form ``m(θ) = h + X θ`` of ``problem`` at all its pixels, verified.

    ``X`` is the Jacobian at ``θ = 0`` (for ``grad="fd"`` a central
    difference with unit steps, exact for an affine model), ``h`` the model
    at ``θ = 0``. The model must equal ``h + X θ`` at the starting values and
    at two points perturbed from them, and the Jacobian at one of them must
    equal ``X``, both to ``1e-9`` relative.

    Returns ``X (B, N, P)``, ``h (B, N)``, ``bad (B,)`` (pixels where the model
    is not finite), ``nfev``, ``njev`` (per pixel).

    Raises
    ------
    NotLinearError
        An ``OptimizerError`` and a ``RuntimeError``: the model is not affine
        in its free parameters; the message names the non-linear ones.
    """
    B, P = problem.B, problem.P
    zero = np.zeros((B, P))
    points, d = _points(problem)
    analytic = problem.grad != "fd"
    F = _stacked(problem, (zero,) + points, "evaluate")
    h, nfev, njev = F[0], 4, 0
    if analytic:
        J = _stacked(problem, (zero, points[1]) if P else (zero,), "jacobian")
        X, njev = J[0], 2
    else:
        X = _unit_steps(problem).transpose(0, 2, 1)
        nfev += 2 * P
    nonlinear, model_bad = _affine_test(F[1:], points, h, X)
    if analytic and P:
        with np.errstate(invalid="ignore"):
            dj = np.abs(J[1] - X).max(axis=1, initial=0.0)  # (B, P)
            cs = np.maximum(np.abs(J[1]).max(axis=1, initial=0.0), np.abs(X).max(axis=1, initial=0.0))
        nonlinear |= ~(dj <= _TOL * cs).all(axis=1) & ~model_bad
    if nonlinear.any():
        names = _nonlinear_names(problem, X, d, np.flatnonzero(nonlinear))
        shown = ", ".join(f"<Parameter {n.rpartition('.')[2]} of {n.rpartition('.')[0]} component>"
                          for n in names)  # the parameters' repr, as HyperSpy's message shows them
        raise NotLinearError(
            f"optimizer {name!r} needs a model that is linear in its free parameters "
            f"(every free parameter scaling a component, y = a·f(x)); not linear: {names} ({shown}); {_HINT}"
        )
    return X, h, model_bad, nfev, njev


def _affine_test(F, points, h, X):
    """Per pixel: ``F[k] ≠ h + X·points[k]`` (``nonlinear``); the model not finite
    at the start and at 0 (``model_bad``).
    """
    finite0 = np.isfinite(h).all(axis=1) & np.isfinite(X).all(axis=(1, 2))
    nonlinear = np.zeros(h.shape[0], dtype=bool)
    model_bad = np.zeros(h.shape[0], dtype=bool)
    for k, t in enumerate(points):
        f = F[k]
        fin = np.isfinite(f).all(axis=1)
        if k == 0:
            model_bad = ~fin & ~finite0
        pred = h + np.einsum("bnp,bp->bn", X, t)
        scale = np.abs(h) + np.einsum("bnp,bp->bn", np.abs(X), np.abs(t)) + np.abs(f)
        with np.errstate(invalid="ignore"):
            err = np.max(np.abs(f - pred), axis=1, initial=0.0)
        nonlinear |= ~(err <= _TOL * np.max(scale, axis=1, initial=0.0)) | ~fin
    nonlinear &= ~model_bad
    nonlinear |= ~finite0 & ~model_bad
    return nonlinear, model_bad


def _points(problem):
    """The starting values and two points perturbed from them, and the step."""
    p0 = np.where(np.isfinite(problem.p0), problem.p0, 0.0)
    d = 0.1 * np.maximum(np.abs(p0), 1.0) * _unit_row(problem.P)
    return (p0, p0 + d, p0 - 0.7 * d), d


def _nonlinear_names(problem, X, d, rows) -> list[str]:
    """Which free parameters make the model non-affine (at the failing pixels)."""
    sub = problem.take(rows)
    XX, dd = X[rows], d[rows]
    p0 = np.where(np.isfinite(sub.p0), sub.p0, 0.0)
    base = p0 + dd
    f0 = sub.evaluate(base)
    curved, sloped = [], []
    for j, name in enumerate(sub.names):
        up, dn = base.copy(), base.copy()
        up[:, j] += dd[:, j]
        dn[:, j] -= dd[:, j]
        fu, fd = sub.evaluate(up), sub.evaluate(dn)
        scale = np.abs(f0) + np.abs(fu) + np.abs(fd)
        with np.errstate(invalid="ignore"):
            second = np.abs(fu - 2 * f0 + fd)
            slope = np.abs((fu - fd) / 2 - XX[:, :, j] * dd[:, j, None])
            tol = _TOL * scale.max(axis=1, keepdims=True)
        if not (second <= tol).all():
            curved.append(name)  # not linear in itself (e.g. a Gaussian centre)
        elif not (slope <= tol).all():
            sloped.append(name)  # linear alone, not jointly (e.g. a product a·b)
    return curved or sloped or list(sub.names)


# ---------------------------------------------------- building designs
def shared_design(problem) -> bool:
    """Is the (unweighted) design the same at every pixel of ``problem``?

    True when the values of the fixed parameters and the active components
    are identical at every pixel: ``h`` and ``X`` are functions of those only
    (the free parameters' starting values do not enter an affine model's
    design). The weights may still differ per pixel.
    """
    if problem.B == 1:
        return True
    if not isinstance(problem, Problem):
        return False
    cols = [i for i, plan in enumerate(problem.plans) if plan.kind == "fixed"]
    fixed = problem.fixed[:, cols]
    same = (fixed == fixed[:1]) | (np.isnan(fixed) & np.isnan(fixed[:1]))
    return bool(same.all() and (problem.active == problem.active[:1]).all())


def sample_rows(problem) -> np.ndarray:
    """Pixels of a chunk on which a per-pixel design is verified: its first and
    last, plus one pixel where each component is active when
    none of those has it active (so every component is checked somewhere).
    """
    B = problem.B
    rows = set(np.unique(np.linspace(0, B - 1, min(B, _SAMPLE)).round().astype(int)).tolist())
    act = problem.active
    picked = act[sorted(rows)].any(axis=0)
    for c in np.flatnonzero(act.any(axis=0) & ~picked):
        rows.add(int(np.argmax(act[:, c])))
    return np.array(sorted(rows))


class _NotFast(Exception):
    """The fast design does not apply; use the exact one."""


def fast_design(problem: Problem):
    """``X`` as ``(B, P, N)``, ``h`` ``(B, N)`` and the relevance mask ``(B, P)``
    of an affine problem, at every pixel.

    Each component is evaluated once, on a stack of points: at ``θ = 0``
    (its part of ``h``) and at ``θ = e_j`` for every free column ``j`` that
    reaches it. A parameter value that does not change along the stack (or
    across the pixels) is passed once, so numpy broadcasting computes the
    costly part of a component (e.g. a Gaussian's exponential) once for the
    whole stack. The column is ``f(e_j) − f(0)``, exact for an affine
    component — unless ``f(0)`` dwarfs the column (cancellation), when
    :class:`_NotFast` sends the caller to the exact Jacobian.
    """
    B, N, P = problem.B, problem.N, problem.P
    zero = np.zeros((B, P))
    values, dvals = problem.parameter_values(zero, derivatives=True)
    h = np.zeros((B, N))
    Xt = np.zeros((B, P, N))
    rel = relevance(problem, zero, dvals)
    at_unit: dict[int, list] = {}  # column j -> parameter values at θ = e_j (ties only)

    def unit_values(j):
        if j not in at_unit:
            e = zero.copy()
            e[:, j] = 1.0
            at_unit[j] = problem.parameter_values(e)
        return at_unit[j]

    offset = 0
    written: set = set()
    with np.errstate(all="ignore"):
        for seg in problem.segments:
            size = problem._segment_size(seg)
            for c in seg.components:
                act = problem.active[:, c]
                slots = problem.slots[c]
                if not act.any():
                    continue
                cols = sorted({int(j) for i in slots if dvals[i] is not None
                               for j in np.flatnonzero((dvals[i] != 0).any(axis=0))})
                K = 1 + len(cols)
                stacks = []
                for i in slots:
                    v0 = np.broadcast_to(np.asarray(values[i], dtype=float), (B,))
                    if dvals[i] is None or not cols:
                        s = v0[None, :]
                    else:
                        plan = problem.plans[i]
                        s = np.empty((K, B))
                        s[0] = v0
                        for m, j in enumerate(cols):
                            s[m + 1] = (v0 + (plan.column == j)) if plan.kind == "free" else unit_values(j)[i]
                    # a value the same at every pixel is passed once: a component
                    # whose values are all alike (a background with every
                    # coefficient free) is then evaluated once for the chunk
                    stacks.append(s[:, :1, None] if (s == s[:, :1]).all() else s[:, :, None])
                F = _evaluate_stack(problem.components[c], seg.coords, stacks, K, B, seg.M)
                if not act.all():
                    F = F * act[:, None]
                if seg.transform is not None or np.ndim(seg.binscale) or seg.binscale != 1.0:
                    F = seg.finish(F.reshape(K * B, seg.M)).reshape(K, B, -1)
                if F.shape[2] != size:
                    raise _NotFast
                block = slice(offset, offset + size)
                # a peak's part of h is usually exactly zero: no subtraction then
                zero0 = not F[0].any()
                if not zero0:
                    h[:, block] += F[0]
                    big = np.abs(F[0]).max(axis=1)
                for m, j in enumerate(cols):
                    target = Xt[:, j, block]
                    col = F[m + 1] if zero0 else F[m + 1] - F[0]
                    # f(e_j) − f(0) keeps ~eps·|f(0)| of rounding: fine below 1e4·|column|
                    if not zero0 and not (big <= _CANCEL * np.abs(col).max(axis=1)).all():
                        raise _NotFast
                    if (j, offset) in written:
                        target += col
                    else:  # first write: no need to add to zeros
                        written.add((j, offset))
                        np.copyto(target, col)
            offset += size
    return Xt, h, rel


def _evaluate_stack(comp, coords, stacks, K, B, M):
    """``(K, B, M)`` values of ``comp`` at a stack of parameter values."""
    if comp._pure:
        try:
            F = type(comp).function(*coords, *stacks)
            return np.broadcast_to(F, (K, B, M))
        except Exception as exc:  # a function that assumes 2-D parameters
            raise _NotFast from exc
    # components evaluated through ``function(self, x)``: one point at a time
    full = [np.broadcast_to(s, (s.shape[0], B, 1)) for s in stacks]
    return np.stack([comp._function_nd(coords, [s[min(k, s.shape[0] - 1)] for s in full]) for k in range(K)])


def _unit_steps(problem):
    """``X`` as ``(B, P, N)`` by central differences with unit steps at 0 (``grad="fd"``)."""
    B, P = problem.B, problem.P
    Xt = np.empty((B, P, problem.N))
    for j in range(P):
        e = np.zeros((B, P))
        e[:, j] = 1.0
        Xt[:, j] = 0.5 * (problem.evaluate(e) - problem.evaluate(-e))
    return Xt


def _plain_design(problem):
    """``(X (B, P, N), h (B, N))`` from the problem's Jacobian at 0 (exact, slower)."""
    zero = np.zeros((problem.B, problem.P))
    if problem.grad == "fd":
        return _unit_steps(problem), problem.evaluate(zero)
    return np.ascontiguousarray(problem.jacobian(zero).transpose(0, 2, 1)), problem.evaluate(zero)


def _check_fast(problem, rows, Xt_s, h_s):
    """Verify the fast design at the sample pixels ``rows``: the model must
    equal ``h + X θ`` at the starting values and at a point perturbed from
    them (to 1e-9, as in :func:`verify`). Returns ``model_bad`` there, or None
    when the fast design is not to be trusted (the caller then verifies and
    builds the exact design, and names any non-linear parameter).
    """
    sub = problem.take(rows)
    points = _points(sub)[0][:2]
    X = Xt_s.transpose(0, 2, 1)
    nonlinear, model_bad = _affine_test(_stacked(sub, points, "evaluate"), points, h_s, X)
    if nonlinear.any() or model_bad.any():
        return None
    return model_bad


# verified shared designs, reused by the next chunks of a multifit: a FIFO of
# at most 8 designs and ~256 MB (design, its h and up to 4 factorisations each)
_CACHE: dict = {}
_CACHE_SIZE = 8
_CACHE_BYTES = 256e6
_LOCK = threading.Lock()


def _design_key(problem: Problem):
    """Everything a shared design depends on, but the components' own code and
    state: identities stand for those, and a cached design is re-checked
    against the model before every use (:func:`_shared_entry`).
    """
    fixed = [i for i, plan in enumerate(problem.plans) if plan.kind == "fixed"]
    segs = tuple(
        (tuple(seg.components), tuple(np.asarray(c, dtype=float).tobytes() for c in seg.coords),
         np.asarray(seg.binscale, dtype=float).tobytes(), None if seg.transform is None else id(seg.transform),
         seg.n_points)
        for seg in problem.segments
    )
    return (
        tuple((id(c), type(c)) for c in problem.components), tuple(map(tuple, problem.slots)),
        tuple((p.kind, p.column, p.source, tuple(p.deps)) for p in problem.plans),
        problem.fixed[0, fixed].tobytes(), problem.active[0].tobytes(), problem.grad, problem.fd_scheme,
        tuple(problem.names), segs, problem.N, problem.P,
    )


def _shared_entry(problem: Problem, name: str) -> dict:
    """The verified design of a problem whose pixels share it (from pixel 0).

    A cached design is used only after the model, evaluated at a generic
    point, still equals ``h + X θ`` there (so a component changed in place
    since is noticed); otherwise it is verified afresh.
    """
    one = problem.take([0])
    key = _design_key(problem)
    with _LOCK:
        entry = _CACHE.get(key)
    if entry is not None:
        (_, t, _), _ = _points(one)
        with np.errstate(all="ignore"):
            f = one.evaluate(t)
            pred = entry["h"] + t @ entry["X0t"]
            scale = np.abs(entry["h"]) + np.abs(t) @ np.abs(entry["X0t"]) + np.abs(f)
            if np.max(np.abs(f - pred), initial=0.0) <= _TOL * np.max(scale, initial=0.0):
                return entry
    X, h, bad, nfev, njev = verify(one, name)
    P = problem.P
    rel = relevance(one, np.zeros((1, P)))[0] if P else np.zeros(0, dtype=bool)
    entry = {"X0t": np.ascontiguousarray(X[0].T), "h": h[0], "bad": bool(bad[0]), "rel": rel,
             "nfev": nfev, "njev": njev, "memo": {}}
    size = 6 * entry["X0t"].nbytes  # the design and up to 4 factorisations (U, same size)
    if not entry["bad"] and size <= _CACHE_BYTES / 2:
        with _LOCK:
            _CACHE[key] = entry
            while len(_CACHE) > _CACHE_SIZE or 6 * sum(e["X0t"].nbytes for e in _CACHE.values()) > _CACHE_BYTES:
                _CACHE.pop(next(iter(_CACHE)))
    return entry


# ------------------------------------------------------------- systems
class Design:
    """The weighted linear system ``yw ≈ Xw θ`` of a chunk of pixels.

    One of: ``Xt`` ``(B, P, N)``, a design per pixel (weights applied); or
    ``X0t`` ``(P, N)`` shared by every pixel, weighted when ``w`` is None, else
    unweighted with per-pixel weights ``w`` ``(B, N)``. ``y`` ``(B, N)`` is
    always weighted. Columns of parameters that do not reach the model at a
    pixel are zero; ``y`` is zero at pixels that cannot be solved (``ok``
    False, ``status`` -2 or -4).
    """

    def __init__(self, y, rel, ok, status, theta, nfev, njev, Xt=None, X0t=None, w=None, memo=None, h=None,
                 no_fixed=False):
        self.y, self.rel, self.ok, self.status, self.theta = y, rel, ok, status, theta
        self.nfev, self.njev = nfev, njev
        self.Xt, self.X0t, self.w = Xt, X0t, w
        # a shared design's fixed part (N,), weighted as X0t is: the model is h + θ X0t
        self.h = h
        # a per-pixel design whose model has no fixed part (model = θ X at every pixel)
        self.no_fixed = no_fixed
        # factorisations of a shared design, kept with it for the next chunks
        self.memo = {} if memo is None else memo

    @property
    def shared(self) -> bool:
        """One weighted design for every pixel."""
        return self.X0t is not None and self.w is None

    def gram(self):
        """``XᵀWX`` ``(B, P, P)`` and ``XᵀW y`` ``(B, P)``; pixels whose design is
        not finite (its Gram diagonal is not: no pass over X) get status -2.
        """
        if self.Xt is not None:
            G = np.matmul(self.Xt, self.Xt.transpose(0, 2, 1))
            with np.errstate(invalid="ignore"):
                bad = self.ok & ~np.isfinite(np.einsum("bpp->bp", G)).all(axis=1)
            if bad.any():
                self.status[bad] = Status.NONFINITE
                self.ok &= ~bad  # in place: the solvers hold this array
                self.y[bad] = 0.0
            return G, np.matmul(self.Xt, self.y[:, :, None])[:, :, 0]
        X0t, P = self.X0t, self.X0t.shape[0]
        if self.w is None:
            G = np.broadcast_to(X0t @ X0t.T, (self.y.shape[0], P, P)).copy()
            return G, self.y @ X0t.T
        # per-pixel weights on one design: G_b = Σ_n w²_bn x_n x_nᵀ is one matrix
        # product with the products of column pairs (upper triangle)
        w2 = self.w * self.w
        iu, ju = np.triu_indices(P)
        upper = w2 @ (X0t[iu] * X0t[ju]).T
        G = np.empty((w2.shape[0], P, P))
        G[:, iu, ju] = upper
        G[:, ju, iu] = upper
        return G, (self.w * self.y) @ X0t.T

    def matvec(self, theta):
        """``Xw θ`` ``(B, N)``."""
        if self.Xt is not None:
            return np.matmul(theta[:, None, :], self.Xt)[:, 0, :]
        out = theta @ self.X0t
        return out if self.w is None else out * self.w

    def rmatvec(self, r):
        """``Xwᵀ r`` ``(B, P)``."""
        if self.Xt is not None:
            return np.matmul(self.Xt, r[:, :, None])[:, :, 0]
        return (r if self.w is None else r * self.w) @ self.X0t.T

    def dense(self, rows):
        """Weighted designs ``(R, N, P)`` of some pixels."""
        if self.Xt is not None:
            return self.Xt[rows].transpose(0, 2, 1)
        X = np.broadcast_to(self.X0t.T, (len(rows),) + self.X0t.T.shape)
        return X if self.w is None else X * self.w[rows, :, None]

    def chisq(self, theta, rows=None):
        """Weighted Σ r² at ``theta`` (NaN where not solved); only at ``rows`` if given."""
        if rows is not None:
            fit = np.where(np.isfinite(theta[rows]) & self.rel[rows], theta[rows], 0.0)
            r = self.y[rows] - np.einsum("bnp,bp->bn", self.dense(rows), fit)
            return np.where(self.ok[rows], np.einsum("bn,bn->b", r, r), np.nan)
        r = self.residuals(theta)
        return np.where(self.ok, np.einsum("bn,bn->b", r, r), np.nan)

    def residuals(self, theta):
        """Weighted residuals ``yw − Xw θ`` ``(B, N)`` (meaningless where not ``ok``)."""
        fit = np.where(np.isfinite(theta) & self.rel, theta, 0.0)
        return self.y - self.matvec(fit)

    def model_sq(self, theta, G=None):
        """``Σ (w·model)²`` per pixel ``(B,)`` of a shared design from its quadratic
        form ``‖h‖² + 2θ·(X h) + θᵀ(X Xᵀ)θ`` — no pass over the points, so the
        verification needs no residuals — or of a per-pixel design without a
        fixed part from its Gram matrix ``G`` (B, P, P), ``θᵀGθ``; else None.

        Examples
        --------
        >>> X0t = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])   # offset and slope
        >>> d = Design(np.zeros((1, 3)), np.ones((1, 2), bool), np.ones(1, bool), np.zeros(1, int),
        ...            np.zeros((1, 2)), 1, 1, X0t=X0t, h=np.zeros(3))
        >>> d.model_sq(np.array([[1.0, 2.0]]))                   # model 1, 3, 5
        array([35.])
        """
        if not self.shared or self.h is None:
            if G is None or not self.no_fixed or self.Xt is None:
                return None
            fit = np.where(np.isfinite(theta) & self.rel, theta, 0.0)
            with np.errstate(all="ignore"):
                return np.maximum(np.einsum("bp,bpq,bq->b", fit, G, fit), 0.0)
        fit = np.where(np.isfinite(theta) & self.rel, theta, 0.0)
        X, h = self.X0t, self.h
        with np.errstate(all="ignore"):
            sq = float(h @ h) + 2 * fit @ (X @ h) + np.einsum("bp,pq,bq->b", fit, X @ X.T, fit)
        return np.maximum(sq, 0.0)

    def column_norms(self, G=None):
        """Norms of the weighted design's columns ``(B, P)`` (the Gram matrix's
        diagonal, square-rooted), without forming the Gram matrix; from ``G``
        (B, P, P) when the solver formed it (a per-pixel design: no pass over X).
        """
        if G is not None and self.Xt is not None:
            return np.sqrt(np.maximum(np.einsum("bpp->bp", G), 0.0))
        if self.Xt is not None:
            return np.sqrt(np.einsum("bpn,bpn->bp", self.Xt, self.Xt))
        sq = self.X0t * self.X0t
        if self.w is None:
            return np.broadcast_to(np.sqrt(sq.sum(axis=1)), (self.y.shape[0], sq.shape[0]))
        return np.sqrt((self.w * self.w) @ sq.T)


def prepare(problem, name: str) -> Design:
    """Verify affinity and build the weighted system of ``problem`` (module docstring)."""
    B, P = problem.B, problem.P
    X0t = Xt = entry = None
    if isinstance(problem, Problem) and shared_design(problem):
        entry = _shared_entry(problem, name)
        X0t, h, rel0 = entry["X0t"], entry["h"], entry["rel"]
        nfev, njev = entry["nfev"], entry["njev"]
        model_bad = np.full(B, entry["bad"])
        rel = np.broadcast_to(rel0, (B, P))
    elif isinstance(problem, Problem):
        rows = sample_rows(problem)
        nfev, njev = 4, 0
        try:
            Xt, h, rel = fast_design(problem)
            bad_s = _check_fast(problem, rows, Xt[rows], h[rows])
        except _NotFast:
            bad_s = None
        if bad_s is None:
            _X, _h, bad_s, nfev, njev = verify(problem.take(rows), name)
            Xt, h = _plain_design(problem)
            rel = relevance(problem, np.zeros((B, P))) if P else np.zeros((B, 0), dtype=bool)
        # (a design that is not finite is found from its Gram matrix: Design.gram)
        model_bad = ~np.isfinite(h).all(axis=1)
        model_bad[rows] = bad_s
    else:  # a problem not built from components: verify every pixel
        X, h, model_bad, nfev, njev = verify(problem, name)
        rel = relevance(problem, np.zeros((B, P))) if P else np.zeros((B, 0), dtype=bool)
        if B == 1:
            X0t, h = X[0].T, h[0]
        else:
            Xt = np.ascontiguousarray(X.transpose(0, 2, 1))
    w = problem.weights
    data_bad = ~finite_rows(problem.data)
    if w is not None:
        data_bad |= ~(np.isfinite(w).all(axis=1) & (w >= 0).all(axis=1))
    status = np.zeros(B, dtype=int)
    status[model_bad] = Status.NONFINITE
    status[data_bad] = Status.BAD_DATA
    ok = status == Status.NOT_FITTED
    theta = np.array(problem.p0, dtype=float)
    if X0t is not None and w is None and not np.any(h):
        # a design without a fixed part or weights: the system's right-hand side is
        # the data themselves (read-only: nothing may write into the user's data)
        y = problem.data.view()
        y.flags.writeable = False
    else:
        y = problem.data - h
    if X0t is not None:
        X0t = np.where(rel[0][:, None], X0t, 0.0)
        if w is not None and B > 1 and not (w == w[:1]).all():
            w = np.where(ok[:, None], w, 0.0)
            y *= w
            y[~ok] = 0.0
            return Design(y, rel, ok, status, theta, nfev, njev, X0t=X0t, w=w)
        memo: dict = {}
        if entry is not None:  # factorisations kept for the next chunks (per weighting)
            memos = entry["memo"]
            wkey = None if w is None else w[0].tobytes()
            with _LOCK:
                if wkey not in memos and len(memos) >= 4:
                    memos.pop(next(iter(memos)))
                memo = memos.setdefault(wkey, {})
        hw = np.broadcast_to(np.asarray(h, dtype=float), (problem.N,))
        if w is not None:
            X0t = X0t * w[0]
            y *= w[0]
            hw = hw * w[0]
        if not ok.all():
            y = np.where(ok[:, None], y, 0.0)
        return Design(y, rel, ok, status, theta, nfev, njev, X0t=X0t, memo=memo, h=hw)
    if w is not None:
        Xt *= w[:, None, :]
        y = y * w
    Xt[~ok] = 0.0  # (non-finite where the model or the weights are)
    if not rel.all():
        Xt *= rel[:, :, None]
    y = np.where(ok[:, None], y, 0.0)
    return Design(y, rel, ok, status, theta, nfev, njev, Xt=Xt, no_fixed=not np.any(h))


# ------------------------------------------------------------- solving
def normal_solve(design: Design, alpha: float = 0.0, errors: bool = True, cond: float = GRAM_COND):
    """Solve ``(XᵀWX + αI) θ = XᵀW y`` at every pixel through the Gram matrix.

    The matrix is scaled to a unit diagonal (its condition number is then
    that of the column-scaled design, squared, for α = 0); columns that do
    not reach the model at a pixel get a unit diagonal and a zero right-hand
    side (θ = 0 there). Pixels whose scaled matrix has a condition number
    above ``cond`` (or is not finite, or singular) are *not* solved:
    ``accepted`` is False there and the caller solves them by SVD. One step
    of iterative refinement, ``θ += A⁻¹ (XᵀW(y − Xθ) − αθ)``, removes the
    error the Gram matrix's rounding put into θ (skipped when every scaled
    matrix has a condition number below 1e4: θ is then accurate to ~1e-12
    already); the χ² at the refined θ follows from the residual before the
    step, ``‖r − Xδ‖² = ‖r‖² − 2δᵀXᵀr + δᵀ(XᵀWX)δ`` (δ is tiny: no
    cancellation), or without refinement from ``‖y‖² − 2θᵀXᵀy + θᵀGθ`` where
    that loses less than 4 digits (else from the residual).

    Returns
    -------
    theta : ndarray (B, P)  — 0 where not accepted
    accepted : ndarray (B,) of bool
    inv : ndarray (B, P, P) or None — ``A⁻¹`` (None unless ``errors``)
    G : ndarray (B, P, P) — ``XᵀWX``
    chisq : ndarray (B,) — the weighted χ² at ``theta`` (NaN where not accepted)
    """
    G, b = design.gram()
    P = b.shape[1]
    rel = design.rel
    diag = np.arange(P)
    A = G.copy()
    A[:, diag, diag] += alpha + np.where(rel, 0.0, 1.0)
    with np.errstate(all="ignore"):
        dd = np.sqrt(A[:, diag, diag])
        good = design.ok & np.isfinite(A).all(axis=(1, 2)) & (dd > 0).all(axis=1)
        dd = np.where(good[:, None], dd, 1.0)
        As = A / (dd[:, :, None] * dd[:, None, :])
    eye = np.eye(P)
    As[~good] = eye
    ev = np.linalg.eigvalsh(As)
    good &= ev[:, 0] > ev[:, -1] / cond
    As[~good] = eye
    mask = good[:, None] & rel
    inv = np.linalg.inv(As)
    theta = np.einsum("bpq,bq->bp", inv, np.where(mask, b / dd, 0.0)) / dd
    yy = np.einsum("bn,bn->b", design.y, design.y)
    with np.errstate(invalid="ignore"):
        if (good & (ev[:, -1] > _REFINE * ev[:, 0])).any():
            r = design.y - design.matvec(theta)
            xr = np.where(mask, design.rmatvec(r), 0.0)
            delta = np.einsum("bpq,bq->bp", inv, (xr - alpha * theta) / dd) / dd
            delta = np.where(mask, delta, 0.0)
            theta = theta + delta
            chisq = (np.einsum("bn,bn->b", r, r) - 2 * np.einsum("bp,bp->b", delta, xr)
                     + np.einsum("bp,bpq,bq->b", delta, G, delta))
        else:
            # well-conditioned everywhere: θ is accurate to ~eps·cond already, and
            # χ² = ‖y‖² − 2θᵀXᵀy + θᵀGθ loses only ‖y‖²/χ² in relative accuracy
            chisq = yy - 2 * np.einsum("bp,bp->b", theta, b) + np.einsum("bp,bpq,bq->b", theta, G, theta)
            if not (chisq[good] * _CANCEL >= yy[good]).all():
                r = design.y - design.matvec(theta)
                chisq = np.einsum("bn,bn->b", r, r)
    theta = np.where(good[:, None], theta, 0.0)
    chisq = np.where(good, chisq, np.nan)
    out_inv = inv / (dd[:, :, None] * dd[:, None, :]) if errors else None
    return theta, good, out_inv, G, chisq
