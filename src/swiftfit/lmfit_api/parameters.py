"""``Parameter`` and ``Parameters``: the parameters of the function API.

An ordered, dict-like collection of named parameters, each with a value,
bounds, a ``vary`` flag or a constraint expression (``expr``), in the style of
lmfit's ``Parameters``::

    >>> params = Parameters()
    >>> params.add("amp", value=10, min=0)
    >>> params.add("half", expr="amp / 2")
    >>> params["half"].value
    5.0

Expressions are parsed by swiftfit's whitelist parser
(:func:`swiftfit._expr.parse_expression`) — never ``eval``-ed — and may use
other parameters' names, numbers, arithmetic and the whitelisted functions
(``exp``, ``sin``, ``sqrt``, ...). They are checked when they are set: an
unknown name or a cycle of expressions raises ``ValueError`` naming it.

A parameter behaves as its value in arithmetic (``amp * np.exp(-x)``,
``float(amp)``), so a residual function may use parameters directly.
"""

from __future__ import annotations

import copy as _copy
import keyword
import math
import numbers

import numpy as np

from .. import _expr
from ..errors import InvalidInputError, InvalidTypeError

__all__ = ["Parameter", "Parameters"]


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise InvalidTypeError(f"a parameter name must be a string, got {name!r}")
    if not name.isidentifier() or not name.isascii():
        raise InvalidInputError(f"parameter name {name!r} is not a valid identifier (letters, digits and '_')")
    if keyword.iskeyword(name):
        raise InvalidInputError(f"parameter name {name!r} is a reserved Python keyword")
    if name.startswith("_"):
        raise InvalidInputError(
            f"parameter name {name!r} is reserved: names starting with '_' cannot be used in expressions"
        )
    if name in _expr.FUNCTIONS or name in _expr.CONSTANTS:
        raise InvalidInputError(
            f"parameter name {name!r} is reserved: it is a function or constant name of expressions"
        )
    return name


def _check_number(value, what: str, *, allow_inf: bool) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray, Parameter)) \
            or (isinstance(value, np.ndarray) and (value.ndim or not np.isrealobj(value))):
        raise InvalidTypeError(f"{what} must be a real number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"{what} must be a real number, got {value!r}") from None
    if math.isnan(out) or (not allow_inf and math.isinf(out)):
        raise InvalidInputError(f"{what} must be {'a number' if allow_inf else 'finite'}, got {value!r}")
    return out


def _fmt(v, precision: int = 4, fmt: str = "g") -> str:
    if v is None:
        return "None"
    return f"{float(v):.{precision}{fmt}}"


class Parameter:
    """One named parameter.

    Attributes
    ----------
    name : str
    value : float
        Its value, inside ``[min, max]`` (a value set outside is clipped, as
        in lmfit); for a constrained parameter the value of ``expr``.
    min, max : float
        Bounds (``-inf``/``inf``: none).
    vary : bool
        Free in a fit. Setting ``expr`` makes it False; setting it True
        removes ``expr``.
    expr : str or None
        Constraint expression in the names of other parameters.
    stderr : float or None
        Standard error, after a fit.
    correl : dict or None
        Correlation with the other varied parameters, after a fit.
    init_value : float
        The value at creation, or at the start of the fit that produced it.
    brute_step, user_data
        Kept for the user (lmfit's fields); swiftfit does not use them.
    """

    __hash__ = None  # compares by value, like a number

    def __init__(self, name, value=None, vary=True, min=-np.inf, max=np.inf, expr=None,
                 brute_step=None, user_data=None):
        self._name = _check_name(name)
        self._container = None
        self._min = -np.inf if min is None else _check_number(min, f"parameter {name!r}: min", allow_inf=True)
        self._max = np.inf if max is None else _check_number(max, f"parameter {name!r}: max", allow_inf=True)
        self._check_bounds(self._min, self._max)
        self._vary = bool(vary)
        self._expr = None
        self._val = np.nan
        if expr is not None and str(expr).strip():
            self._set_expr(expr)
        elif value is None:
            raise InvalidInputError(f"parameter {name!r} needs a value (or an expr)")
        if value is not None:
            self._val = _check_number(value, f"parameter {name!r}: value", allow_inf=False)
        self.init_value = None if value is None else self.value
        self.stderr = None
        self.correl = None
        self.brute_step = brute_step
        self.user_data = user_data

    # ------------------------------------------------------------ fields
    @property
    def name(self) -> str:
        return self._name

    @property
    def value(self) -> float:
        if self._expr is not None and self._container is not None and self._container._dirty:
            self._container._refresh()
        return self._clipped()

    @value.setter
    def value(self, val):
        self._val = _check_number(val, f"parameter {self._name!r}: value", allow_inf=False)
        self._touch()

    @property
    def min(self) -> float:
        return self._min

    @min.setter
    def min(self, val):
        val = -np.inf if val is None else _check_number(val, f"parameter {self._name!r}: min", allow_inf=True)
        self._check_bounds(val, self._max)
        self._min = val
        self._touch()

    @property
    def max(self) -> float:
        return self._max

    @max.setter
    def max(self, val):
        val = np.inf if val is None else _check_number(val, f"parameter {self._name!r}: max", allow_inf=True)
        self._check_bounds(self._min, val)
        self._max = val
        self._touch()

    @property
    def vary(self) -> bool:
        return self._vary

    @vary.setter
    def vary(self, val):
        val = bool(val)
        if val and self._expr is not None:
            self.expr = None  # varying and constrained cannot both hold (lmfit's rule)
        self._vary = val

    @property
    def expr(self):
        return self._expr

    @expr.setter
    def expr(self, text):
        if text is None or (isinstance(text, str) and not text.strip()):
            old = self._expr
            self._expr = None
            if old is not None and self._container is not None:
                self._container._forget(self._name)
                self._container._validate()
            self._touch()
            return
        old, old_vary = self._expr, self._vary
        self._set_expr(text)
        if self._container is not None:
            try:
                self._container._validate()
            except ValueError:
                self._expr, self._vary = old, old_vary
                self._container._forget(self._name)
                raise
        self._touch()

    def _set_expr(self, text) -> None:
        if not isinstance(text, str):
            raise InvalidTypeError(f"parameter {self._name!r}: expr must be a string, got {text!r}")
        _expr.parse_expression(text)  # whitelist and syntax, before any name is resolved
        self._expr = text.strip()
        self._vary = False
        if self._container is not None:
            self._container._forget(self._name)

    def _check_bounds(self, lo: float, hi: float) -> None:
        if lo > hi:
            raise InvalidInputError(f"parameter {self._name!r}: min ({lo}) is larger than max ({hi})")
        if lo == hi:
            raise InvalidInputError(
                f"parameter {self._name!r}: min == max ({lo}); fix the value with vary=False instead"
            )

    def _clipped(self) -> float:
        v = self._val
        return float(v) if math.isnan(v) else float(min(max(v, self._min), self._max))

    def _touch(self) -> None:
        if self._container is not None:
            self._container._dirty = True

    def set(self, value=None, vary=None, min=None, max=None, expr=None, brute_step=None):
        """Set several fields at once (``None``: unchanged; ``expr=""`` removes the expression)."""
        if min is not None:
            self.min = min
        if max is not None:
            self.max = max
        if expr is not None:
            self.expr = expr
        if vary is not None:
            self.vary = vary
        if value is not None:
            self.value = value
        if brute_step is not None:
            self.brute_step = brute_step

    # --------------------------------------------------------- pickling
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_container"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    # ------------------------------------------------------------- text
    def __repr__(self) -> str:
        parts = [f"value={self.value:.15g}"]
        if self._expr is None and not self._vary:
            parts[0] += " (fixed)"
        elif self.stderr is not None:
            parts[0] += f" +/- {self.stderr:.3g}"
        parts.append(f"bounds=[{self._min:g}:{self._max:g}]")
        if self._expr is not None:
            parts.append(f"expr={self._expr!r}")
        return f"<Parameter {self._name!r}, {', '.join(parts)}>"

    # ------------------------------------------------------ as a number
    def __float__(self) -> float:
        return float(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __index__(self):
        raise TypeError(f"parameter {self._name!r} is not an integer index")

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __round__(self, ndigits=None):
        return round(self.value, ndigits)

    def __abs__(self):
        return abs(self.value)

    def __neg__(self):
        return -self.value

    def __pos__(self):
        return +self.value

    def __add__(self, other):
        return self.value + _num(other)

    def __radd__(self, other):
        return _num(other) + self.value

    def __sub__(self, other):
        return self.value - _num(other)

    def __rsub__(self, other):
        return _num(other) - self.value

    def __mul__(self, other):
        return self.value * _num(other)

    def __rmul__(self, other):
        return _num(other) * self.value

    def __truediv__(self, other):
        return self.value / _num(other)

    def __rtruediv__(self, other):
        return _num(other) / self.value

    def __floordiv__(self, other):
        return self.value // _num(other)

    def __rfloordiv__(self, other):
        return _num(other) // self.value

    def __mod__(self, other):
        return self.value % _num(other)

    def __rmod__(self, other):
        return _num(other) % self.value

    def __divmod__(self, other):
        return divmod(self.value, _num(other))

    def __rdivmod__(self, other):
        return divmod(_num(other), self.value)

    def __pow__(self, other):
        return self.value ** _num(other)

    def __rpow__(self, other):
        return _num(other) ** self.value

    def __eq__(self, other):
        return self.value == _num(other)

    def __ne__(self, other):
        return self.value != _num(other)

    def __lt__(self, other):
        return self.value < _num(other)

    def __le__(self, other):
        return self.value <= _num(other)

    def __gt__(self, other):
        return self.value > _num(other)

    def __ge__(self, other):
        return self.value >= _num(other)


def _num(other):
    return other.value if isinstance(other, Parameter) else other


class Parameters(dict):
    """An ordered dictionary of :class:`Parameter` objects, keyed by name.

    Examples
    --------
    >>> p = Parameters()
    >>> p.add("a", value=1.0, min=0)
    >>> p.add_many(("b", 2.0, True, None, None, None, None), ("c", None, False, None, None, "2*a"))
    >>> p.valuesdict()
    {'a': 1.0, 'b': 2.0, 'c': 2.0}
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        self._dirty = True
        self._compiled: dict = {}
        self._order: list[str] = []
        if args or kwargs:
            self.update(*args, **kwargs)

    # ------------------------------------------------------------ build
    def add(self, name, value=None, vary=True, min=-np.inf, max=np.inf, expr=None, brute_step=None):
        """Add a parameter (or a :class:`Parameter` object given as ``name``)."""
        if isinstance(name, Parameter):
            self[name.name] = name
            return
        self[name] = Parameter(name, value=value, vary=vary, min=min, max=max, expr=expr, brute_step=brute_step)

    def add_many(self, *parlist):
        """Add several parameters, each a :class:`Parameter` or a tuple in lmfit's
        order ``(name, value, vary, min, max, expr, brute_step)`` (shorter tuples
        take the defaults). Expressions may refer to any parameter of the call.
        """
        made = []
        for item in parlist:
            if isinstance(item, Parameter):
                made.append(item)
                continue
            if not isinstance(item, (tuple, list)) or not 1 <= len(item) <= 7:
                raise InvalidInputError(
                    "add_many takes Parameter objects or tuples (name, value, vary, min, max, expr, "
                    f"brute_step); got {item!r}"
                )
            defaults = [None, None, True, None, None, None, None]
            name, value, vary, lo, hi, expr, step = list(item) + defaults[len(item):]
            made.append(Parameter(name, value=value, vary=True if vary is None else vary,
                                  min=lo, max=hi, expr=expr, brute_step=step))
        self._insert_all(made)

    def _insert_all(self, pars) -> None:
        backup = dict(self)
        names = [p.name for p in pars]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise InvalidInputError(f"parameter names given twice: {sorted(dup)}")
        try:
            for p in pars:
                self._attach(p.name, p)
            self._validate()
        except Exception:
            for p in pars:
                p._container = None
            dict.clear(self)
            for k, v in backup.items():
                dict.__setitem__(self, k, v)
                v._container = self
            self._compiled.clear()
            self._validate()
            raise
        for name, old in backup.items():
            if dict.__getitem__(self, name) is not old:
                old._container = None
        for p in pars:
            if p.init_value is None:
                p.init_value = p.value

    def _attach(self, name, par) -> None:
        if not isinstance(par, Parameter):
            raise InvalidTypeError(f"{name!r}: a Parameters entry must be a Parameter, got {type(par).__name__}")
        _check_name(name)
        par._name = name
        par._container = self
        self._compiled.pop(name, None)
        dict.__setitem__(self, name, par)

    def __setitem__(self, name, par):
        self._insert_all([_renamed(par, name)])

    def __delitem__(self, name):
        users = [p.name for p in self.values() if p.name != name and p.expr is not None and name in self._deps(p)]
        if users:
            raise InvalidInputError(f"cannot remove {name!r}: the expressions of {users} use it")
        par = dict.pop(self, name)
        par._container = None
        self._compiled.pop(name, None)
        self._validate()

    def pop(self, name, *default):
        if name not in self:
            if default:
                return default[0]
            raise KeyError(name)
        par = self[name]
        del self[name]
        return par

    def popitem(self):
        name = next(reversed(self))
        return name, self.pop(name)

    def clear(self):
        for p in self.values():
            p._container = None
        dict.clear(self)
        self._compiled.clear()
        self._order = []
        self._dirty = True

    def setdefault(self, name, default=None):
        if name not in self:
            self[name] = default
        return self[name]

    def update(self, *args, **kwargs):
        """Add or replace parameters from another ``Parameters``/mapping or pairs."""
        items = dict(*args, **kwargs)
        self._insert_all([_renamed(p, n) for n, p in items.items()])

    def __ior__(self, other):
        self.update(other)
        return self

    # ------------------------------------------------------ expressions
    def _forget(self, name) -> None:
        self._compiled.pop(name, None)
        self._dirty = True

    def _compile(self, par):
        entry = self._compiled.get(par.name)
        if entry is not None and entry[0] == par.expr:
            return entry
        from ..problem.problem import compile_tie

        symbols: dict = {}
        expr = _expr.parse_expression(par.expr, symbols=symbols)
        deps = _expr.free_symbol_names(expr)
        unknown = [d for d in deps if d not in self]
        if unknown:
            raise InvalidInputError(
                f"parameter {par.name!r}: expr {par.expr!r} uses unknown name(s) {unknown}; "
                f"known parameters are {[n for n in self if n != par.name]}"
            )
        func, dfuncs = compile_tie(expr, deps)
        entry = (par.expr, deps, func, dfuncs)
        self._compiled[par.name] = entry
        return entry

    def _deps(self, par) -> list[str]:
        return self._compile(par)[1]

    def _validate(self) -> None:
        """Every expression parses, names known parameters and no cycle exists."""
        self._order = self._topological()
        self._dirty = True

    def _topological(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name, path):
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = path[path.index(name):] + [name]
                raise InvalidInputError(f"parameter expressions form a cycle: {' -> '.join(cycle)}")
            state[name] = 1
            par = dict.__getitem__(self, name)
            if par.expr is not None:
                for dep in self._deps(par):
                    visit(dep, path + [name])
                order.append(name)
            state[name] = 2

        for name in self:
            visit(name, [])
        return order

    def _refresh(self) -> None:
        """Evaluate every expression, in dependency order."""
        self._dirty = False
        get = dict.__getitem__
        with np.errstate(all="ignore"):
            for name in self._order:
                par = get(self, name)
                if par.expr is None:
                    continue
                _, deps, func, _ = self._compile(par)
                par._val = float(np.real(func(*[get(self, d)._clipped() for d in deps])))

    def update_constraints(self) -> None:
        """Re-evaluate the constraint expressions (done automatically on access)."""
        self._validate()
        self._refresh()

    def _expr_gradients(self, var_names: list[str]) -> dict[str, np.ndarray]:
        """``d value / d (varied values)`` of every expression parameter (chain rule
        through nested expressions); zero where the value is clipped to a bound.
        """
        if self._dirty:
            self._refresh()
        get = dict.__getitem__
        index = {n: k for k, n in enumerate(var_names)}
        grads: dict[str, np.ndarray] = {}

        def grad_of(name):
            if name in grads:
                return grads[name]
            g = np.zeros(len(var_names))
            if name in index:
                g[index[name]] = 1.0
            return g

        with np.errstate(all="ignore"):
            for name in self._order:
                par = get(self, name)
                if par.expr is None:
                    continue
                _, deps, _, dfuncs = self._compile(par)
                vals = [get(self, d)._clipped() for d in deps]
                g = np.zeros(len(var_names))
                for dep, df in zip(deps, dfuncs):
                    g = g + float(np.real(df(*vals))) * grad_of(dep)
                raw = par._val
                if raw < par.min or raw > par.max:
                    g = np.zeros(len(var_names))
                grads[name] = g
        return grads

    # ------------------------------------------------------------- views
    def valuesdict(self) -> dict:
        """``{name: value}`` of every parameter, in order."""
        return {name: par.value for name, par in self.items()}

    def copy(self) -> Parameters:
        """An independent (deep) copy."""
        return _copy.deepcopy(self)

    __copy__ = copy

    def __deepcopy__(self, memo):
        new = Parameters()
        memo[id(self)] = new
        pars = []
        for par in self.values():
            state = {k: _copy.deepcopy(v, memo) for k, v in par.__dict__.items() if k != "_container"}
            q = Parameter.__new__(Parameter)
            q.__dict__.update(state)
            q._container = None
            pars.append(q)
        for q in pars:
            new._attach(q.name, q)
        new._compiled = dict(self._compiled)
        new._order = list(self._order)
        new._dirty = True
        return new

    def __reduce__(self):
        return (_rebuild, (list(self.values()),))

    def __eq__(self, other):
        if not isinstance(other, Parameters) or list(self) != list(other):
            return False
        fields = ("value", "min", "max", "vary", "expr")
        return all(all(_same(getattr(self[n], f), getattr(other[n], f)) for f in fields) for n in self)

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    # -------------------------------------------------------------- text
    def _table_rows(self, precision: int = 4, fmt: str = "g"):
        stderr = any(p.stderr is not None for p in self.values())
        head = ["Name", "Value"] + (["Stderr"] if stderr else []) + ["Init value", "Min", "Max", "Vary", "Expr"]
        rows = []
        for name, p in self.items():
            row = [name, _fmt(p.value, precision, fmt)]
            if stderr:
                row.append(_fmt(p.stderr, precision, fmt))
            row += [_fmt(p.init_value, precision, fmt), _fmt(p.min, precision, fmt), _fmt(p.max, precision, fmt),
                    str(p.vary), "" if p.expr is None else p.expr]
            rows.append(row)
        return head, rows

    def pretty_repr(self, precision: int = 4, fmt: str = "g") -> str:
        """The table of parameters: name, value (stderr after a fit), initial
        value, min, max, vary and expression.
        """
        head, rows = self._table_rows(precision, fmt)
        widths = [max(len(r[k]) for r in [head] + rows) for k in range(len(head))]
        left = {0, len(head) - 1}

        def line(cells):
            out = [c.ljust(w) if k in left else c.rjust(w) for k, (c, w) in enumerate(zip(cells, widths))]
            return "  ".join(out).rstrip()

        return "\n".join([line(head)] + [line(r) for r in rows])

    def pretty_print(self, precision: int = 4, fmt: str = "g") -> None:
        """Print :meth:`pretty_repr`."""
        print(self.pretty_repr(precision, fmt))

    def __repr__(self) -> str:
        return self.pretty_repr() if len(self) else "Parameters()"

    __str__ = __repr__

    def _repr_html_(self) -> str:
        import html

        head, rows = self._table_rows()
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
        )
        return f"<table><tr>{cells}</tr>{body}</table>"


def _renamed(par, name):
    if not isinstance(par, Parameter):
        raise InvalidTypeError(f"{name!r}: a Parameters entry must be a Parameter, got {type(par).__name__}")
    _check_name(name)
    return par if par.name == name else _rename(par, name)


def _rename(par, name):
    par._name = name
    return par


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _rebuild(pars) -> Parameters:
    new = Parameters()
    for p in pars:
        new._attach(p.name, p)
    new._validate()
    return new
