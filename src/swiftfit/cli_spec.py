"""Model specs for the ``swiftfit fit`` command: read, check and build.

A *model spec* is a small YAML or JSON document describing a model::

    signal_range: [100, 900]          # optional: [x1, x2] (1-D), [x1, x2, y1, y2] (2-D)
    components:
      - type: Gaussian                # a class of hs.model.components1D / components2D
        name: peak1                   # optional (default: the type), unique
        parameters:
          A: {value: 1000, bmin: 0}   # a mapping ...
          sigma: 5                    # ... or just the value
          centre: {value: 300, bmin: 290, bmax: 310, free: true}
      - type: Expression
        name: bg
        expression: "a * x + b"       # parsed by swiftfit's whitelist, never eval-ed
        parameters: {a: 0.1, b: 3}
      - type: Gaussian
        name: peak2
        parameters:
          sigma: {twin: peak1.sigma}  # or {twin: ..., twin_function_expr: "2 * x"}
          A: {expr: "0.5 * peak1.A"}

Component keys: ``type``, ``name``, ``active`` and ``parameters``, plus the
type's options: ``order`` (Polynomial, Polynomial2D), ``expression``,
``position``, ``rename_pars``, ``add_rotation``, ``compute_gradients``
(Expression), ``add_rotation`` (Gaussian2D, Lorentzian2D). Parameter keys:
``value``, ``free``, ``bmin``, ``bmax``, ``twin``, ``twin_function_expr``,
``twin_inverse_function_expr`` and ``expr``.

Every mistake raises :class:`SpecError` naming the file, the line and the key
(``model.yaml line 7: components[0].parameters.sigm: unknown parameter 'sigm'
of Gaussian; parameters are A, sigma, centre``). Reading executes nothing:
YAML goes through PyYAML's *composer* with the safe loader and only plain
scalars, lists and mappings are accepted (any ``!!python/...`` or other tag,
alias or merge key is refused); JSON through a small reader of our own that
keeps line numbers; expressions through :mod:`swiftfit._expr`'s whitelist.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Spec", "SpecError", "build_model", "load_spec", "parse_spec"]

Path = tuple  # of str (mapping keys) and int (list indices)

_MAX_BYTES = 1 << 20  # a model spec is a few hundred bytes; refuse anything absurd
_MAX_DEPTH = 32
_MAX_INT_DIGITS = 100  # an order or a count; longer would also meet Python's int-str limit
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_UNSUPPORTED = {"ScalableFixedPattern": "it needs a reference signal, which a spec cannot give"}
_COMMON_KEYS = ("type", "name", "active", "parameters")
_OPTIONS = {  # type-specific constructor options: key -> kind
    "Polynomial": {"order": "int"},
    "Polynomial2D": {"order": "int"},
    "Expression": {"expression": "str", "position": "position", "rename_pars": "rename",
                   "add_rotation": "bool", "compute_gradients": "bool"},
    "Gaussian2D": {"add_rotation": "bool"},
    "Lorentzian2D": {"add_rotation": "bool"},
}
_PARAM_KEYS = ("value", "free", "bmin", "bmax", "twin", "twin_function_expr",
               "twin_inverse_function_expr", "expr")


class SpecError(ValueError):
    """A model spec that cannot be read or built; the message names the
    source, the line and the key.

    Examples
    --------
    >>> str(SpecError("expected a number", source="m.yaml", line=3, key="components[0].type"))
    'm.yaml line 3: components[0].type: expected a number'
    """

    def __init__(self, message: str, *, source: str = "<spec>", line: int | None = None,
                 key: str | None = None) -> None:
        self.message, self.source, self.line, self.key = message, source, line, key
        where = source if line is None else f"{source} line {line}"
        super().__init__(f"{where}: {message}" if not key else f"{where}: {key}: {message}")


def format_path(path: Path) -> str:
    """``("components", 0, "parameters", "A")`` → ``"components[0].parameters.A"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class Spec:
    """A parsed spec: plain data plus the line of every key and list item.

    Attributes
    ----------
    data : Any
        The document as dicts, lists, str, int, float, bool and None.
    lines : dict
        Path tuple (``("components", 0, "name")``) → 1-based line number.
    source : str
        File name (or ``"<spec>"``) used in messages.
    """

    data: Any
    lines: dict = field(default_factory=dict)
    source: str = "<spec>"

    def error(self, path: Path, message: str) -> SpecError:
        """A :class:`SpecError` at ``path`` (line of the nearest recorded ancestor)."""
        probe = tuple(path)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return SpecError(message, source=self.source, line=self.lines.get(probe),
                         key=format_path(path) or None)

    @contextlib.contextmanager
    def at(self, path: Path) -> Iterator[None]:
        """Turn the library's ValueError/TypeError inside into a SpecError at ``path``."""
        try:
            yield
        except SpecError:
            raise
        except (ValueError, TypeError) as exc:
            raise self.error(path, str(exc)) from None


# ----------------------------------------------------------------- reading
def load_spec(path: str | os.PathLike) -> Spec:
    """Read a model spec file (``.yaml``/``.yml``/``.json``; others by content).

    Examples
    --------
    >>> spec = load_spec("model.yaml")              # doctest: +SKIP
    >>> m = build_model(signal, spec)               # doctest: +SKIP
    """
    source = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read the model spec: {exc.strerror or exc}", source=source) from None
    if len(raw) > _MAX_BYTES:
        raise SpecError(f"the model spec is larger than {_MAX_BYTES} bytes", source=source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"the model spec is not UTF-8 text (byte {exc.start})", source=source) from None
    ext = os.path.splitext(source)[1].lower()
    fmt = "json" if ext == ".json" else "yaml" if ext in (".yaml", ".yml") else None
    return parse_spec(text, source=source, fmt=fmt)


def parse_spec(text: str, source: str = "<spec>", fmt: str | None = None) -> Spec:
    """Parse spec text; ``fmt`` is ``"yaml"``, ``"json"`` or None (JSON when
    the text starts with ``{``).

    Examples
    --------
    >>> spec = parse_spec('{"components": [{"type": "Offset"}]}', fmt="json")
    >>> spec.data["components"][0]["type"], spec.lines[("components", 0)]
    ('Offset', 1)
    """
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "yaml"
    if fmt == "json":
        return _JSONReader(text, source).read()
    if fmt == "yaml":
        return _read_yaml(text, source)
    raise ValueError(f"`fmt` must be 'yaml', 'json' or None, got {fmt!r}")


def _tag(tag: str) -> str:
    return "!!" + tag[18:] if tag.startswith("tag:yaml.org,2002:") else repr(tag)


_YAML_TAGS = {"tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null")}


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _depth_limited_loader(yaml):
    """SafeLoader whose composer stops past ``_MAX_DEPTH`` levels: PyYAML
    composes nodes recursively, so ``[[[[...]]]]`` 5,000 deep would end in a
    RecursionError before the walk below could count the levels.
    """

    class Loader(yaml.SafeLoader):
        _depth = 0

        def compose_node(self, parent, index):
            if self._depth >= _MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {_MAX_DEPTH} levels", self.peek_event().start_mark)
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    return Loader


def _read_yaml(text: str, source: str) -> Spec:
    try:
        import yaml
    except ImportError:
        raise ImportError(
            f"{source}: reading a YAML model spec needs PyYAML: pip install pyyaml "
            "(or write the spec as JSON)") from None
    try:
        # compose, never load: nodes carry line numbers and nothing is constructed
        root = yaml.compose(text, Loader=_depth_limited_loader(yaml))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        raise SpecError(f"not valid YAML: {exc.problem or exc.context}", source=source, line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", source=source) from None
    if root is None:
        raise SpecError("the model spec is empty", source=source)
    spec = Spec(None, {(): root.start_mark.line + 1}, source)
    constructor = yaml.constructor.SafeConstructor()
    seen: set[int] = set()

    def walk(node: Any, path: Path, depth: int) -> Any:
        line = node.start_mark.line + 1
        if id(node) in seen:  # compose returns the anchored node again for an alias
            raise spec.error(path, "YAML aliases (*name) are not supported")
        seen.add(id(node))
        if depth > _MAX_DEPTH:
            raise spec.error(path, f"nested deeper than {_MAX_DEPTH} levels")
        if isinstance(node, yaml.MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                raise SpecError(f"YAML tag {_tag(node.tag)} is not allowed (plain data only)",
                                source=source, line=line, key=format_path(path) or None)
            out: dict = {}
            for knode, vnode in node.value:
                kline = knode.start_mark.line + 1
                if not (isinstance(knode, yaml.ScalarNode) and knode.tag == "tag:yaml.org,2002:str"):
                    raise SpecError(f"keys must be plain strings, got {getattr(knode, 'value', '?')!r}",
                                    source=source, line=kline, key=format_path(path) or None)
                key = knode.value
                if key in out:
                    raise SpecError(f"duplicate key {key!r}", source=source, line=kline,
                                    key=format_path((*path, key)))
                spec.lines[(*path, key)] = kline
                out[key] = walk(vnode, (*path, key), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise SpecError(f"YAML tag {_tag(node.tag)} is not allowed (plain data only)",
                                source=source, line=line, key=format_path(path) or None)
            items = []
            for i, item in enumerate(node.value):
                spec.lines[(*path, i)] = item.start_mark.line + 1
                items.append(walk(item, (*path, i), depth + 1))
            return items
        if node.tag not in _YAML_TAGS:  # timestamps, binary, python/... : refused
            raise SpecError(f"YAML tag {_tag(node.tag)} is not allowed (plain data only)",
                            source=source, line=line, key=format_path(path) or None)
        if node.tag.endswith(":int") and len(node.value) > _MAX_INT_DIGITS:
            raise SpecError(f"integer {node.value[:12]}... has {len(node.value)} digits, more than "
                            f"{_MAX_INT_DIGITS}", source=source, line=line, key=format_path(path) or None)
        try:
            return constructor.construct_object(node)
        except ValueError as exc:  # an integer beyond Python's int-str digit limit
            raise SpecError(f"cannot read {_short(node.value)!r}: {exc}", source=source, line=line,
                            key=format_path(path) or None) from None

    spec.data = walk(root, (), 0)
    return spec


class _JSONReader:
    """Strict JSON with the line of every key and list item (no PyYAML needed)."""

    _WS = re.compile(r"[ \t\r\n]*")
    _NUM = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")

    def __init__(self, text: str, source: str) -> None:
        self.text, self.pos = text, 0
        self.spec = Spec(None, {(): 1}, source)

    def line(self, pos: int | None = None) -> int:
        return self.text.count("\n", 0, self.pos if pos is None else pos) + 1

    def fail(self, message: str, pos: int | None = None) -> SpecError:
        return SpecError(f"not valid JSON: {message}", source=self.spec.source, line=self.line(pos))

    def skip(self) -> None:
        self.pos = self._WS.match(self.text, self.pos).end()

    def read(self) -> Spec:
        self.skip()
        if self.pos == len(self.text):
            raise SpecError("the model spec is empty", source=self.spec.source)
        self.spec.lines[()] = self.line()
        self.spec.data = self.value((), 0)
        self.skip()
        if self.pos != len(self.text):
            raise self.fail("extra data after the document")
        return self.spec

    def string(self) -> str:
        try:
            value, self.pos = json.decoder.scanstring(self.text, self.pos + 1, True)
        except json.JSONDecodeError as exc:
            raise self.fail(exc.msg, exc.pos) from None
        return value

    def value(self, path: Path, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise self.fail(f"nested deeper than {_MAX_DEPTH} levels")
        text, pos = self.text, self.pos
        char = text[pos] if pos < len(text) else ""
        if char == "{":
            return self.mapping(path, depth)
        if char == "[":
            return self.sequence(path, depth)
        if char == '"':
            return self.string()
        for word, val in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, pos):
                self.pos += len(word)
                return val
        match = self._NUM.match(text, pos)
        if match:
            self.pos = match.end()
            num = match.group()
            if match.group(1) or match.group(2):
                return float(num)
            if len(num) > _MAX_INT_DIGITS:  # int() would raise Python's int-str limit
                raise self.fail(f"integer {num[:12]}... has {len(num)} digits, more than "
                                f"{_MAX_INT_DIGITS}", pos)
            return int(num)
        raise self.fail("expected a value" if char else "unexpected end of the document")

    def mapping(self, path: Path, depth: int) -> dict:
        out: dict = {}
        self.pos += 1
        self.skip()
        if self.text.startswith("}", self.pos):
            self.pos += 1
            return out
        while True:
            if not self.text.startswith('"', self.pos):
                raise self.fail("expected a key in double quotes")
            kline = self.line()
            key = self.string()
            if key in out:
                raise SpecError(f"duplicate key {key!r}", source=self.spec.source, line=kline,
                                key=format_path((*path, key)))
            self.spec.lines[(*path, key)] = kline
            self.skip()
            if not self.text.startswith(":", self.pos):
                raise self.fail("expected ':' after a key")
            self.pos += 1
            self.skip()
            out[key] = self.value((*path, key), depth + 1)
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                self.skip()
            elif self.text.startswith("}", self.pos):
                self.pos += 1
                return out
            else:
                raise self.fail("expected ',' or '}'")

    def sequence(self, path: Path, depth: int) -> list:
        out: list = []
        self.pos += 1
        self.skip()
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return out
        while True:
            self.spec.lines[(*path, len(out))] = self.line()
            out.append(self.value((*path, len(out)), depth + 1))
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                self.skip()
            elif self.text.startswith("]", self.pos):
                self.pos += 1
                return out
            else:
                raise self.fail("expected ',' or ']'")


# ------------------------------------------------------------ checking
def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _mapping(spec: Spec, path: Path, value: Any, allowed: tuple, required: tuple = (),
             what: str = "") -> dict:
    if not isinstance(value, dict):
        raise spec.error(path, f"expected a mapping{what}, got {_kind(value)}")
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise spec.error((*path, key), f"unknown key {key!r}{hint}; allowed keys are {', '.join(allowed)}")
    for key in required:
        if key not in value:
            raise spec.error(path, f"missing key {key!r}")
    return value


def _number(spec: Spec, path: Path, value: Any, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    # YAML 1.1 reads 1e3 (no dot) as a string: accept numeric text, via float() only
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise spec.error(path, f"expected a number{' or null' if allow_none else ''}, "
                               f"got {value!r} ({_kind(value)})")
    if not math.isfinite(value):
        raise spec.error(path, f"expected a finite number, got {value!r}")
    return float(value)


def _typed(spec: Spec, path: Path, value: Any, kind: str) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise spec.error(path, f"expected true or false, got {value!r} ({_kind(value)})")
    elif kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise spec.error(path, f"expected a non-empty string, got {value!r} ({_kind(value)})")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise spec.error(path, f"expected an integer, got {value!r} ({_kind(value)})")
    elif kind == "position":
        ok = isinstance(value, str) or (isinstance(value, list) and len(value) == 2
                                        and all(isinstance(v, str) for v in value))
        if not ok:
            raise spec.error(path, f"expected a parameter name or a list of two, got {value!r}")
        value = value if isinstance(value, str) else tuple(value)
    elif kind == "rename" and not (isinstance(value, dict)
                                   and all(isinstance(v, str) for v in value.values())):
        raise spec.error(path, f"expected a mapping of names to names, got {value!r}")
    return value


# ------------------------------------------------------------ building
def _namespace(ndim: int) -> Any:
    from .model import components1D, components2D

    return components1D if ndim == 1 else components2D


def _component(spec: Spec, path: Path, cspec: Any, ndim: int) -> tuple[Any, dict]:
    """Build one component from its entry; returns it and its parameter entries."""
    if not isinstance(cspec, dict):
        raise spec.error(path, f"expected a mapping (a component), got {_kind(cspec)}")
    if "type" not in cspec:
        raise spec.error(path, "missing key 'type' (the component class, e.g. Gaussian)")
    ctype = cspec["type"]
    if not isinstance(ctype, str):
        raise spec.error((*path, "type"), f"expected a component type name, got {ctype!r}")
    ns, other = _namespace(ndim), _namespace(3 - ndim)
    known = [n for n in ns.__all__ if n not in _UNSUPPORTED]
    if ctype in _UNSUPPORTED:
        raise spec.error((*path, "type"), f"{ctype} cannot be used in a spec: {_UNSUPPORTED[ctype]}")
    if ctype not in known:
        if ctype in other.__all__:
            msg = f"{ctype} is a {3 - ndim}-D component; the data have {ndim} signal dimension(s)"
        else:
            close = difflib.get_close_matches(ctype, known, n=1)
            msg = f"unknown component type {ctype!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        raise spec.error((*path, "type"), f"{msg}; {ndim}-D types are {', '.join(known)}")
    options = _OPTIONS.get(ctype, {})
    _mapping(spec, path, cspec, (*_COMMON_KEYS, *options))
    kwargs = {key: _typed(spec, (*path, key), cspec[key], kind)
              for key, kind in options.items() if key in cspec}
    name = _typed(spec, (*path, "name"), cspec.get("name", ctype), "str")
    if ctype == "Expression":
        if "expression" not in kwargs:
            raise spec.error(path, "missing key 'expression' (an Expression needs one)")
        kwargs["name"] = name
    with spec.at((*path, "expression") if ctype == "Expression" else (*path, "type")):
        comp = getattr(ns, ctype)(**kwargs)
    comp.name = name
    if "active" in cspec:
        comp.active = _typed(spec, (*path, "active"), cspec["active"], "bool")
    params = cspec.get("parameters", {})
    ppath = (*path, "parameters")
    if not isinstance(params, dict):
        raise spec.error(ppath, f"expected a mapping of parameter names, got {_kind(params)}")
    names = [p.name for p in comp.parameters]
    for pname, pspec in params.items():
        if pname not in names:
            close = difflib.get_close_matches(pname, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise spec.error((*ppath, pname), f"unknown parameter {pname!r} of {ctype}{hint}; "
                                              f"parameters are {', '.join(names)}")
        if not isinstance(pspec, dict):
            pspec = {"value": pspec}  # a bare number is the value
            spec.lines.setdefault((*ppath, pname, "value"), spec.lines.get((*ppath, pname)))
        _mapping(spec, (*ppath, pname), pspec, _PARAM_KEYS, what=" or a number")
        _set_plain(spec, (*ppath, pname), getattr(comp, pname), pspec)
    return comp, params


def _set_plain(spec: Spec, path: Path, p: Any, pspec: dict) -> None:
    """value, free and bounds (ties come once every component exists)."""
    for key in ("bmin", "bmax"):
        if key in pspec:
            value = _number(spec, (*path, key), pspec[key], allow_none=True)
            with spec.at((*path, key)):
                setattr(p, key, value)
    if "free" in pspec:
        p.free = _typed(spec, (*path, "free"), pspec["free"], "bool")
    if "value" in pspec:
        value = _number(spec, (*path, "value"), pspec["value"])
        # only bounds written next to the value: a component's own default
        # bounds (Gaussian A >= 0) do not bind unbounded fits
        lo = p.bmin if "bmin" in pspec else None
        hi = p.bmax if "bmax" in pspec else None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise spec.error((*path, "value"), f"value {value:g} is outside the bounds "
                                               f"[{lo if lo is not None else '-inf'}, "
                                               f"{hi if hi is not None else 'inf'}]")
        with spec.at((*path, "value")):
            p.value = value
    for key in ("twin", "twin_function_expr", "twin_inverse_function_expr", "expr"):
        if key in pspec:
            _typed(spec, (*path, key), pspec[key], "str")
    if "twin" in pspec and "expr" in pspec:
        raise spec.error((*path, "expr"), "a parameter takes either 'twin' or 'expr', not both")
    for key in ("twin_function_expr", "twin_inverse_function_expr"):
        if key in pspec and "twin" not in pspec:
            raise spec.error((*path, key), f"{key!r} needs 'twin' (the parameter it applies to)")


def _find_parameter(spec: Spec, path: Path, ref: str, by_name: dict) -> Any:
    cname, dot, pname = ref.rpartition(".")
    if not dot or not cname:
        raise spec.error(path, f"expected 'component.parameter', got {ref!r}")
    if cname not in by_name:
        raise spec.error(path, f"{ref!r}: unknown component {cname!r}; components are "
                               f"{', '.join(by_name)}")
    names = [p.name for p in by_name[cname].parameters]
    if pname not in names:
        raise spec.error(path, f"{ref!r}: unknown parameter {pname!r} of {cname}; "
                               f"parameters are {', '.join(names)}")
    return getattr(by_name[cname], pname)


def build_model(signal: Any, spec: Spec) -> Any:
    """Build the model described by ``spec`` on ``signal`` (Signal1D or Signal2D).

    Initial values are set at every navigation position, so a multifit starts
    from them everywhere.

    Raises
    ------
    SpecError
        For anything wrong in the spec, naming the line and the key.

    Examples
    --------
    >>> import numpy as np, swiftfit as hs
    >>> s = hs.signals.Signal1D(np.ones(50))
    >>> spec = parse_spec("components:\\n  - type: Offset\\n    parameters: {offset: 2}\\n")
    >>> m = build_model(s, spec)
    >>> m[0].offset.value
    2.0
    """
    data = _mapping(spec, (), spec.data, ("signal_range", "components"), ("components",))
    comps = data["components"]
    if not isinstance(comps, list) or not comps:
        raise spec.error(("components",), f"expected a non-empty list of components, got {comps!r}")
    ndim = signal.axes_manager.signal_dimension
    m = signal.create_model()
    built, by_name = [], {}
    for i, cspec in enumerate(comps):
        comp, params = _component(spec, ("components", i), cspec, ndim)
        if comp.name in by_name:
            key = ("components", i, "name") if "name" in cspec else ("components", i)
            raise spec.error(key, f"duplicate component name {comp.name!r}; give each a unique 'name'")
        by_name[comp.name] = comp
        with spec.at(("components", i)):
            m.append(comp)
        built.append((i, comp, params))
    for i, comp, params in built:  # twins may point to any component, earlier or later
        for pname, pspec in params.items():
            if not isinstance(pspec, dict) or "twin" not in pspec:
                continue
            path = ("components", i, "parameters", pname)
            p = getattr(comp, pname)
            with spec.at((*path, "twin")):
                p.twin = _find_parameter(spec, (*path, "twin"), pspec["twin"], by_name)
            for key in ("twin_function_expr", "twin_inverse_function_expr"):
                if key in pspec:
                    with spec.at((*path, key)):
                        setattr(p, key, pspec[key])
    for i, comp, params in built:  # expr needs every component in the model
        for pname, pspec in params.items():
            if isinstance(pspec, dict) and "expr" in pspec:
                with spec.at(("components", i, "parameters", pname, "expr")):
                    getattr(comp, pname).expr = pspec["expr"]
    if "signal_range" in data:
        _signal_range(spec, m, data["signal_range"], ndim)
    m.assign_current_values_to_all()
    return m


def _signal_range(spec: Spec, m: Any, value: Any, ndim: int) -> None:
    size = 2 * ndim
    path = ("signal_range",)
    if not isinstance(value, list) or len(value) != size:
        shape = "[x1, x2]" if ndim == 1 else "[x1, x2, y1, y2]"
        raise spec.error(path, f"expected {shape} (numbers or null), got {value!r}")
    bounds = [_number(spec, (*path, k), v, allow_none=True) for k, v in enumerate(value)]
    with spec.at(path):
        m.set_signal_range(*bounds)
