"""Small column tables for ``Fit`` results: the trace and the parameter table.

No pandas/astropy dependency: a :class:`Table` is an ordered dict of equally
long columns (NumPy arrays or lists), printed like an astropy table (long
tables show their first and last rows, then ``Length = N rows``).

Examples
--------
>>> t = Table({"total_stat": [3.0, 2.5], "a": [1.0, 1.1]})
>>> t.colnames, len(t), float(t["a"][1])
(['total_stat', 'a'], 2, 1.1)
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

__all__ = ["Table", "parameter_table"]


def _cell(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return "nan" if np.isnan(v) else f"{v:.4e}" if (v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4)) else f"{v:.6g}"
    return "" if v is None else str(v)


class Table:
    """Named columns of equal length.

    Parameters
    ----------
    columns : dict
        ``{name: sequence}``, all of one length.
    max_rows : int
        Rows shown by ``str`` before the middle is elided.

    Examples
    --------
    >>> t = Table({"x": [1, 2, 3]})
    >>> t["x"].tolist()
    [1, 2, 3]
    """

    def __init__(self, columns: dict, max_rows: int = 20):
        self._cols = {}
        lengths = set()
        for name, col in columns.items():
            arr = np.asarray(col) if not isinstance(col, list) or all(
                isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in col) else list(col)
            self._cols[str(name)] = arr
            lengths.add(len(arr))
        if len(lengths) > 1:
            raise InvalidInputError(f"table columns must have one length, got {sorted(lengths)}")
        self._n = lengths.pop() if lengths else 0
        self.max_rows = int(max_rows)

    @property
    def colnames(self) -> list[str]:
        """The column names, in order."""
        return list(self._cols)

    def __len__(self) -> int:
        return self._n

    def __contains__(self, name) -> bool:
        return name in self._cols

    def __getitem__(self, key):
        """A column by name, or a row (as a dict) by integer index."""
        if isinstance(key, str):
            if key not in self._cols:
                raise KeyError(f"no column {key!r}; columns are {self.colnames}")
            return self._cols[key]
        if isinstance(key, (int, np.integer)):
            return {name: col[key] for name, col in self._cols.items()}
        raise InvalidInputError(f"index a Table by column name or row number, got {key!r}")

    def as_array(self) -> np.ndarray:
        """The numeric columns as a structured NumPy array."""
        dtype = [(n, np.asarray(c).dtype) for n, c in self._cols.items()]
        out = np.empty(self._n, dtype=dtype)
        for n, c in self._cols.items():
            out[n] = c
        return out

    def _lines(self, rows) -> list[str]:
        cells = [[_cell(self._cols[n][i]) for n in self._cols] if i is not None else ["..."] * len(self._cols)
                 for i in rows]
        widths = [max([len(n)] + [len(r[k]) for r in cells]) for k, n in enumerate(self._cols)]
        head = " ".join(n.rjust(w) for n, w in zip(self._cols, widths))
        rule = " ".join("-" * w for w in widths)
        return [head, rule] + [" ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]

    def __str__(self) -> str:
        if not self._cols:
            return "<empty Table>"
        if self._n > self.max_rows:
            half = self.max_rows // 2
            rows = list(range(half)) + [None] + list(range(self._n - half, self._n))
            return "\n".join(self._lines(rows) + [f"Length = {self._n} rows"])
        return "\n".join(self._lines(range(self._n)))

    def __repr__(self) -> str:
        return f"<Table length={self._n} columns={self.colnames}>"


def _link(p) -> str:
    """Where a parameter takes its value from: its twin or its expr."""
    twin = getattr(p, "twin", None)
    if twin is not None:
        comp = twin.component.name if twin.component is not None else ""
        return f"{comp}.{twin.name}" if comp else twin.name
    return p.expr or ""


def parameter_table(models, names) -> Table:
    """Gammapy's ``models.to_parameters_table()``: one row per parameter.

    Columns: model, type, name, value, error, unit, min, max, frozen, link,
    prior (the prior's repr, empty when none).
    """
    cols = {k: [] for k in ("model", "type", "name", "value", "error", "unit", "min", "max", "frozen",
                            "link", "prior")}
    for model, mname in zip(models, names):
        for comp in model:
            for p in comp.parameters:
                lo, hi = p._bounds()
                prior = getattr(p, "prior", None)
                cols["model"].append(mname)
                cols["type"].append(comp.name)
                cols["name"].append(p.name)
                cols["value"].append(float(p.value))
                cols["error"].append(np.nan if p.std is None else float(p.std))
                cols["unit"].append(p.units or "")
                cols["min"].append(float(lo) if np.isfinite(lo) else np.nan)
                cols["max"].append(float(hi) if np.isfinite(hi) else np.nan)
                cols["frozen"].append(not p.free and not _link(p))  # tied is not frozen
                cols["link"].append(_link(p))
                cols["prior"].append("" if prior is None else repr(prior))
    return Table(cols, max_rows=200)
