"""Problem: a model compiled, for a set of pixels, into arrays and pure functions.

Everything on the numeric path has a leading pixel axis ``B`` (also when
``B == 1``): ``data`` and ``weights`` are ``(B, N)``, ``p0`` is ``(B, P)``,
``evaluate(theta)`` returns ``(B, N)`` and ``jacobian(theta)`` ``(B, N, P)``.
Twins and ``expr`` ties are resolved here, once, into a map from the free
values to every parameter value (with its derivative, for the chain rule);
binned axes scale the model by the bin width here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import sympy

from .. import _expr
from ..errors import InvalidInputError

__all__ = ["Problem", "ProblemShape", "ParamPlan", "Segment", "GRAD_MODES", "FD_SCHEMES"]

GRAD_MODES = ("auto", "analytical", "fd")
FD_SCHEMES = ("2-point", "3-point", "cs")
_EPS = np.finfo(float).eps


@dataclass
class Segment:
    """One dataset's part of a problem: its components (indices), where they
    are evaluated, bin widths, and the operator to its data points.
    """

    components: list
    coords: tuple
    binscale: object = 1.0
    transform: Callable | None = None
    n_points: int = -1  # data points of this dataset (needed when there are several)

    @property
    def M(self) -> int:
        return self.coords[0].shape[0]

    def finish(self, values: np.ndarray) -> np.ndarray:
        """Bin widths, then the operator: evaluation grid → data points."""
        values = values * self.binscale
        if self.transform is None:
            return values
        if np.iscomplexobj(values):
            return self.transform(values.real) + 1j * self.transform(values.imag)
        return self.transform(values)


@dataclass
class ParamPlan:
    """How one model parameter gets its value from the free vector ``theta``."""

    name: str
    kind: str  # "free" | "fixed" | "twin" | "expr"
    column: int = -1  # theta column (free)
    source: int = -1  # parameter index (twin)
    func: Callable | None = None  # twin: f(v); expr: g(*deps)
    dfunc: Callable | list | None = None  # twin: f'(v); expr: [dg/ddep_k]
    deps: list = field(default_factory=list)  # expr: parameter indices
    sym: tuple | None = None  # twin/expr: (sympy expression, names of its dependencies), for compiled engines


class ProblemShape:
    """The sizes every problem reports: ``B`` pixels, ``N`` data points,
    ``P`` free parameters, and whether any bound is finite.
    """

    @property
    def B(self) -> int:
        return self.data.shape[0]

    @property
    def N(self) -> int:
        return self.data.shape[1]

    @property
    def P(self) -> int:
        return self.p0.shape[1]

    @property
    def bounded(self) -> bool:
        return bool(np.isfinite(self.lower).any() or np.isfinite(self.upper).any())


class Problem(ProblemShape):
    """A fit problem over ``B`` pixels (see the module docstring).

    Built by :func:`swiftfit.model.base.BaseModel._problem`; solvers use only
    the public attributes and methods below.

    Attributes
    ----------
    coords : tuple of ndarray (N,)
    data : ndarray (B, N)
    weights : ndarray (B, N) or None  — ``1/σ`` of each point
    p0 : ndarray (B, P)
    lower, upper : ndarray (P,)
    names : list of str — ``"Component.parameter"`` of the free parameters
    """

    def __init__(
        self,
        *,
        components: Sequence,
        slots: Sequence[Sequence[int]],
        plans: Sequence[ParamPlan],
        order: Sequence[int],
        fixed: np.ndarray,
        coords: tuple,
        data: np.ndarray,
        weights: np.ndarray | None,
        binscale: np.ndarray | float,
        active: np.ndarray,
        p0: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        names: list[str],
        grad: str = "auto",
        fd_scheme: str = "2-point",
        transform=None,
        segments=None,
    ):
        if grad not in GRAD_MODES:
            raise InvalidInputError(f"`grad` must be one of {GRAD_MODES} or a callable, got {grad!r}")
        if fd_scheme not in FD_SCHEMES:
            raise InvalidInputError(f"`fd_scheme` must be one of {FD_SCHEMES}, got {fd_scheme!r}")
        self.components = list(components)
        self.slots = [list(s) for s in slots]
        self.plans = list(plans)
        self.order = list(order)
        self.fixed = fixed
        self.coords = coords
        self.data = data
        self.weights = weights
        self.binscale = binscale
        self.active = active
        self.p0 = p0
        self.lower = lower
        self.upper = upper
        self.names = list(names)
        self.grad = grad
        self.fd_scheme = fd_scheme
        # optional linear operator from the evaluation grid (``coords``) to the
        # data points (PSF convolution, oversampling): ``transform(values (K, M)) -> (K, N)``
        self.transform = transform
        # a joint problem stacks several datasets: each segment has its own
        # components, coordinates, bin widths and operator, and its own block
        # of data points (in order)
        # (one dataset: its block is every data point; -1 here made a joint loss drop the last point)
        self.segments = segments if segments is not None else [
            Segment(list(range(len(self.components))), coords, binscale, transform, int(np.shape(data)[-1]))
        ]
        if grad == "analytical":
            missing = [c.name for c in self.components if not c._has_gradients]
            if missing:
                raise InvalidInputError(
                    f"grad='analytical' but components {missing} provide no analytical "
                    "gradients; use grad='fd' or grad='auto'"
                )

    # ------------------------------------------------------- parameters
    def parameter_values(self, theta: np.ndarray, derivatives: bool = False):
        """Values ``(B,)`` of every model parameter, and optionally ``d value/d theta`` ``(B, P)``.

        The derivatives are read-only; those that are the same at every pixel
        (a free parameter's unit row, a linear twin of one) are broadcast views
        of one row, not ``(B, P)`` arrays.
        """
        theta = np.asarray(theta)
        B, P = theta.shape
        values: list = [None] * len(self.plans)
        dvals: list = [None] * len(self.plans)
        unit = np.eye(P) if derivatives else None
        for i in self.order:
            plan = self.plans[i]
            if plan.kind == "free":
                values[i] = theta[:, plan.column]
                if derivatives:
                    dvals[i] = np.broadcast_to(unit[plan.column], (B, P))
            elif plan.kind == "fixed":
                values[i] = np.broadcast_to(self.fixed[:, i], (B,)).astype(theta.dtype)
                if derivatives:
                    dvals[i] = None
            elif plan.kind == "twin":
                src = values[plan.source]
                values[i] = np.broadcast_to(plan.func(src), (B,))
                if derivatives:
                    dsrc = dvals[plan.source]
                    dvals[i] = None if dsrc is None else _chain(np.asarray(plan.dfunc(src)), dsrc)
            else:  # expr
                args = [values[k] for k in plan.deps]
                values[i] = np.broadcast_to(plan.func(*args), (B,))
                if derivatives:
                    acc = None
                    for k, dg in zip(plan.deps, plan.dfunc):
                        if dvals[k] is None:
                            continue
                        term = np.asarray(dg(*args))[..., None] * dvals[k]
                        acc = term if acc is None else acc + term
                    dvals[i] = acc
        return (values, dvals) if derivatives else values

    # ------------------------------------------------------- evaluation
    def component_function(self, c: int):
        """Component ``c``'s evaluation callback, for any array namespace.

        Returns ``(function, key, label)``: ``function(coords, values)`` is the
        component's maths that :meth:`evaluate` broadcasts to ``(B, N)``
        (``coords`` ``(N,)`` arrays, ``values`` one ``(B, 1)`` array or one
        scalar per parameter), written against an array namespace
        (:mod:`swiftfit._xp`) so that it also runs on JAX arrays; ``key`` is a
        hashable structure of it (equal keys, the same maths), None where the
        component has no array-namespace form (a HyperSpy-style
        ``function(self, x)``); ``label`` names the component.
        Engines get the components' maths here, without importing a component class.
        """
        comp = self.components[c]
        cls = type(comp)
        key = comp._array_key()
        fn = comp._array_function() if key is not None else comp._function_nd
        return fn, key, f"{comp.name!r} ({cls.__module__}.{cls.__qualname__})"

    def _component_values(self, values, c):
        return [np.reshape(values[i], (-1, 1)) for i in self.slots[c]]

    def evaluate_components(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each component's contribution ``(B, N)`` (binned scaling and operator
        applied; zero outside its own dataset in a joint problem).
        """
        values = self.parameter_values(theta)
        out = [None] * len(self.components)
        offset = 0
        with np.errstate(all="ignore"):
            for seg in self.segments:
                for c in seg.components:
                    f = self.components[c]._function_nd(seg.coords, self._component_values(values, c))
                    block = seg.finish(np.asarray(f * self.active[:, c, None], dtype=float))
                    full = np.zeros((block.shape[0], self.N))
                    full[:, offset:offset + block.shape[1]] = block
                    out[c] = full
                offset += self._segment_size(seg)
        return out

    def _segment_size(self, seg) -> int:
        if len(self.segments) == 1:
            return self.N
        return seg.n_points

    def evaluate(self, theta: np.ndarray) -> np.ndarray:
        """The model ``(B, N)`` at free values ``theta`` ``(B, P)``.

        Trial points may leave a component's domain; the non-finite values
        that result are the solvers' to reject, so numpy's warnings are off.
        """
        with np.errstate(all="ignore"):
            return self._evaluate(np.asarray(theta))

    def _evaluate(self, theta: np.ndarray) -> np.ndarray:
        values = self.parameter_values(theta)
        blocks = []
        for seg in self.segments:
            total = np.zeros((theta.shape[0], seg.M), dtype=np.result_type(theta.dtype, float))
            for c in seg.components:
                if not self.active[:, c].any():
                    continue
                f = self.components[c]._function_nd(seg.coords, self._component_values(values, c))
                total = total + f * self.active[:, c, None]
            blocks.append(seg.finish(total))
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """Weighted residuals ``(data - model) * weights``, ``(B, N)``."""
        r = self.data - self.evaluate(theta)
        return r if self.weights is None else r * self.weights

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """``d model / d theta``, ``(B, N, P)``: analytic where components give
        gradients (``grad`` "auto"/"analytical"), finite differences otherwise.
        """
        with np.errstate(all="ignore"):
            return self._jacobian(np.asarray(theta, dtype=float))

    def _jacobian(self, theta: np.ndarray) -> np.ndarray:
        if self.grad == "fd":
            return self._fd_jacobian(theta)
        values, dvals = self.parameter_values(theta, derivatives=True)
        blocks = [self._segment_jacobian(seg, values, dvals, theta.shape) for seg in self.segments]
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)

    def _segment_jacobian(self, seg, values, dvals, shape) -> np.ndarray:
        B, P = shape
        M = seg.M
        # built as (B, P, M) so that each column is contiguous, returned as a view (B, M, P)
        Jt = np.zeros((B, P, M))
        for c in seg.components:
            comp = self.components[c]
            act = self.active[:, c]
            if not act.any():
                continue
            slots = self.slots[c]
            if not any(dvals[i] is not None for i in slots):
                continue
            cvals = self._component_values(values, c)
            grads = comp._gradients_nd(seg.coords, cvals) if comp._has_gradients else [None] * len(slots)
            for k, i in enumerate(slots):
                if dvals[i] is None:
                    continue
                g = grads[k]
                if g is None:
                    g = self._component_fd(comp, cvals, k, seg.coords)
                d = dvals[i]
                cols = np.flatnonzero(np.any(d != 0, axis=0))
                gact = np.asarray(g) * act[:, None]
                if cols.size == 1 and np.all(d[:, cols[0]] == 1):  # a free parameter: one column
                    Jt[:, cols[0], :] += gact
                else:
                    Jt[:, cols, :] += d[:, cols, None] * gact[:, None, :]
        Jt *= np.reshape(seg.binscale, (1, 1, -1)) if np.ndim(seg.binscale) else seg.binscale
        J = Jt.transpose(0, 2, 1)
        if seg.transform is None:
            return J
        # the operator is linear: apply it to every column of the Jacobian
        cols = seg.transform(np.moveaxis(J, 2, 1).reshape(B * P, M))
        return np.moveaxis(cols.reshape(B, P, -1), 1, 2)

    def _component_fd(self, comp, cvals, k, coords) -> np.ndarray:
        """Central difference of one component in its k-th parameter (no closed form)."""
        v = cvals[k]
        h = _EPS ** (1 / 3) * np.maximum(1.0, np.abs(v))
        up = list(cvals)
        dn = list(cvals)
        up[k] = v + h
        dn[k] = v - h
        return (comp._function_nd(coords, up) - comp._function_nd(coords, dn)) / (2 * h)

    def _fd_jacobian(self, theta: np.ndarray) -> np.ndarray:
        B, P = theta.shape
        J = np.empty((B, self.N, P))
        if self.fd_scheme == "cs":
            h = 1e-20
            for j in range(P):
                t = theta.astype(complex)
                t[:, j] += 1j * h
                try:
                    f = self.evaluate(t)
                except TypeError as exc:
                    raise InvalidInputError(
                        f"fd_scheme='cs' needs every component to accept complex input: {exc}"
                    ) from exc
                if not np.iscomplexobj(f) and np.ndim(f):
                    raise InvalidInputError(
                        "fd_scheme='cs' needs every component to accept complex input; "
                        "a component returned real values for complex parameters"
                    )
                J[:, :, j] = np.imag(f) / h
            return J
        f0 = self.evaluate(theta) if self.fd_scheme == "2-point" else None
        rel = np.sqrt(_EPS) if self.fd_scheme == "2-point" else _EPS ** (1 / 3)
        for j in range(P):
            h = rel * np.maximum(1.0, np.abs(theta[:, j]))
            up = theta.copy()
            if self.fd_scheme == "2-point":
                # step away from an upper bound instead of crossing it
                h = np.where(theta[:, j] + h > self.upper[j], -h, h)
                up[:, j] += h
                J[:, :, j] = (self.evaluate(up) - f0) / h[:, None]
            else:
                dn = theta.copy()
                up[:, j] += h
                dn[:, j] -= h
                J[:, :, j] = (self.evaluate(up) - self.evaluate(dn)) / (2 * h[:, None])
        return J

    # ------------------------------------------------------------ slices
    def data_norm2(self) -> np.ndarray:
        """``Σ data²`` per pixel (B,), computed once per data array and kept on
        the problem: a multifit chunk's finiteness test computes it and the
        verification reads it (the data must not be changed in place after).

        Examples
        --------
        >>> problem.data_norm2().shape == (problem.B,)   # doctest: +SKIP
        True
        """
        memo = self.__dict__.get("_data_norm2")
        if memo is not None and memo[0] is self.data:
            return memo[1]
        with np.errstate(over="ignore", invalid="ignore"):
            sq = np.einsum("bn,bn->b", self.data, self.data)
        self._data_norm2 = (self.data, sq)  # with the array it belongs to: take() gives new data
        return sq

    def take(self, rows) -> Problem:
        """The same problem restricted to some pixels (a view where possible)."""
        rows = np.asarray(rows)
        new = object.__new__(Problem)
        new.__dict__.update(self.__dict__)
        new.data = self.data[rows]
        new.weights = None if self.weights is None else self.weights[rows]
        new.fixed = self.fixed[rows]
        new.active = self.active[rows]
        new.p0 = self.p0[rows]
        return new


def compile_tie(text_or_expr, dep_names: list[str]):
    """Lambdify an expr tie and its partial derivatives over ``dep_names``."""
    expr = text_or_expr
    syms = [sympy.Symbol(n, real=True) for n in dep_names]
    # symbols named "Comp.param" are not valid Python names: rename for lambdify
    dummies = [sympy.Symbol(f"_d{k}", real=True) for k in range(len(syms))]
    expr = expr.subs(dict(zip(syms, dummies)))
    func = _expr.lambdify(dummies, expr)
    dfuncs = [_expr.lambdify(dummies, sympy.diff(expr, d)) for d in dummies]
    return func, dfuncs


def _same_rows(a: np.ndarray) -> bool:
    """Is ``a`` a broadcast of one row (stride 0 along the pixels)?"""
    return a.ndim == 0 or (a.shape[0] > 0 and a.strides[0] == 0)


def _chain(g: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``g[:, None] * d`` (B, P): one row, broadcast, when both are the same at every pixel."""
    if _same_rows(g) and _same_rows(d) and d.ndim == 2:
        row = np.reshape(g, -1)[:1] if g.ndim else g
        return np.broadcast_to(row * d[0], d.shape)
    return g[..., None] * d


def relevance(problem: Problem, theta: np.ndarray, dvals=None) -> np.ndarray:
    """``(B, P)`` mask: does free column ``j`` reach the model at pixel ``b``?

    A column is irrelevant where every component using it is inactive there;
    solvers hold such columns still instead of calling the Jacobian singular.
    Problems not built from components (e.g. a user's residual function)
    provide their own ``_relevance(theta)``.
    """
    if hasattr(problem, "_relevance"):
        return problem._relevance(theta)
    plans = problem.plans
    if all(plan.kind in ("free", "fixed") for plan in plans):
        # no ties: a free column reaches the model where its component is active
        # (what the derivatives below say, without computing them)
        rel = np.zeros(np.shape(theta), dtype=bool)
        for c, slot in enumerate(problem.slots):
            cols = [plans[i].column for i in slot if plans[i].kind == "free"]
            if cols:
                rel[:, cols] |= problem.active[:, c, None]
        return rel
    if dvals is None:  # a caller that has them already passes parameter_values' derivatives
        _, dvals = problem.parameter_values(np.asarray(theta, dtype=float), derivatives=True)
    B, P = np.shape(theta)
    rel = np.zeros((B, P), dtype=bool)
    for c in range(len(problem.components)):
        act = problem.active[:, c]
        for i in problem.slots[c]:
            d = dvals[i]
            if d is None:
                continue
            if _same_rows(d) and np.ndim(d) == 2:  # one row for every pixel: its columns
                cols = np.flatnonzero(d[0] != 0)
                rel[:, cols] |= act[:, None]
            else:
                rel |= (d != 0) & act[:, None]
    return rel


def nonzero_columns(d: np.ndarray) -> np.ndarray:
    """``(d != 0).any(axis=0)`` of a derivative ``(B, P)``, from one row when
    it is the same at every pixel (:meth:`Problem.parameter_values`).

    Examples
    --------
    >>> nonzero_columns(np.broadcast_to([0.0, 2.0, 0.0], (4, 3)))
    array([False,  True, False])
    """
    d = np.asarray(d)
    if _same_rows(d) and d.ndim == 2:
        return d[0] != 0
    return (d != 0).any(axis=0)
