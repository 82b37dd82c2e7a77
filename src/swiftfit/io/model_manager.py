"""Models stored in a signal: ``m.store()``, ``s.models`` (HyperSpy's ``ModelManager``).

Every stored model lives in the dict ``signal.models_stored`` (name -> entry
with a ``restore()`` method):

* :class:`MemoryStoredModel` - made by ``m.store()``: the model written by
  :func:`~swiftfit.io.hdf5_model._write_model` into an in-memory HDF5 image
  (plain bytes), so later changes of the live model never reach the copy;
* :class:`~swiftfit.io.hdf5_model.StoredModel` - a model in a swiftfit file,
  listed by :func:`swiftfit.load`;
* any other object with ``restore()`` (e.g. a model of a HyperSpy ``.hspy``
  file); it may also have ``info()`` returning ``{"components": [...],
  "date": str, "dimensions": str}`` for the tree print.

:class:`ModelManager` (``s.models``) is a view of that dict, so the two stay
in step whichever one is used.
"""

from __future__ import annotations

import io
import itertools
import string
from collections.abc import Iterator
from typing import Any

import h5py

from ..errors import InvalidInputError, InvalidTypeError, UnknownKeyError, UnknownKeyTypeError

__all__ = ["MemoryStoredModel", "ModelManager", "ModelStub"]

_ROOT = "model"


class MemoryStoredModel:
    """A frozen copy of a model, kept as an in-memory HDF5 image.

    Examples
    --------
    >>> m.store("first")                         # doctest: +SKIP
    >>> s.models_stored["first"]                 # doctest: +SKIP
    <MemoryStoredModel 'first'>
    """

    def __init__(self, model: Any, name: str) -> None:
        from .hdf5_model import _write_model

        self.name = name
        self._signal = model.signal
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            _write_model(f.create_group(_ROOT), model)
        # bytes are immutable: the stored copy cannot change afterwards
        self._image = buffer.getvalue()

    def _open(self) -> h5py.File:
        return h5py.File(io.BytesIO(self._image), "r")

    def restore(self) -> Any:
        """A new model equal to the stored one, on the signal it was stored in."""
        from .hdf5_model import _build_model

        with self._open() as f:
            return _build_model(self._signal, f[_ROOT], f"models.{self.name}", False)

    __call__ = restore

    def info(self) -> dict:
        """Component names (model order), store date and dimensions."""
        from .hdf5_model import _model_info

        with self._open() as f:
            return _model_info(f[_ROOT], f"models.{self.name}")

    def _copy_into(self, models: Any, name: str) -> None:
        """Copy the stored model into the HDF5 group ``models`` as ``name``."""
        with self._open() as f:
            f.copy(f[_ROOT], models, name=name)

    def __repr__(self) -> str:
        return f"<MemoryStoredModel {self.name!r}>"


def next_name(taken: Any) -> str:
    """HyperSpy's automatic model name: a, b, ..., z, aa, ab, ..., az, ba, ...

    Like HyperSpy, the name length is the number of letters needed to count
    the stored models, and the first free name of that length is taken.

    Examples
    --------
    >>> next_name([]), next_name(["a"]), next_name(list("abcdefghijklmnopqrstuvwxyz"))
    ('a', 'b', 'aa')
    """
    taken = set(taken)
    if not taken:
        return "a"
    # int(log26(len)) + 1, in integers (HyperSpy's float logarithm is exact here)
    order = 1
    while 26**order <= len(taken):
        order += 1
    for letters in itertools.product(string.ascii_lowercase, repeat=order):
        guess = "".join(letters)
        if guess not in taken:
            return guess
    raise AssertionError("unreachable: fewer names are taken than exist")  # pragma: no cover


def _tree_lines(node: dict, padding: str = "") -> list[str]:
    """DictionaryTreeBrowser's layout: sorted keys, sub-dicts indented."""
    lines = []
    keys = sorted(node)
    for j, key in enumerate(keys):
        last = j == len(keys) - 1
        symbol = "└── " if last else "├── "
        value = node[key]
        if isinstance(value, dict):
            lines.append(f"{padding}{symbol}{key}")
            lines += _tree_lines(value, padding + ("    " if last else "│   "))
        else:
            lines.append(f"{padding}{symbol}{key} = {value}")
    return lines


class ModelStub:
    """``s.models.<name>``: ``restore()``, ``remove()``, ``pop()`` of one stored model."""

    def __init__(self, manager: ModelManager, name: str) -> None:
        self._manager = manager
        self._name = name
        self._entry = manager._stored[name]

    def restore(self) -> Any:
        """Return the stored model (a new model each call)."""
        return self._manager.restore(self._name)

    def remove(self) -> None:
        """Remove the stored model."""
        self._manager.remove(self._name)

    def pop(self) -> Any:
        """Return the stored model and remove it from storage."""
        return self._manager.pop(self._name)

    def __repr__(self) -> str:
        return "".join(line + "\n" for line in _tree_lines(self._manager._node(self._name)))


class ModelManager:
    """The models stored in a signal (``s.models``); printing shows them as a tree.

    Examples
    --------
    >>> m.store("peaks")                   # doctest: +SKIP
    >>> s.models                           # doctest: +SKIP
    └── peaks
        ├── components
        │   └── Gaussian
        ├── date = 2025-01-31 12:00:00
        └── dimensions = (|100)
    >>> m2 = s.models.restore("peaks")     # or s.models.peaks.restore()  # doctest: +SKIP
    """

    def __init__(self, signal: Any) -> None:
        self._signal = signal

    @property
    def _stored(self) -> dict:
        # the one place stored models live, shared with swiftfit.load's entries
        stored = self._signal.__dict__.get("models_stored")
        if stored is None:
            stored = self._signal.__dict__["models_stored"] = {}
        return stored

    # ------------------------------------------------------------- names
    @property
    def names(self) -> list[str]:
        """The stored model names, sorted (the order of the tree print)."""
        return sorted(self._stored)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self._stored)

    def __contains__(self, name: object) -> bool:
        return name in self._stored

    def _check_existing(self, name: Any) -> str:
        if not isinstance(name, str):
            raise UnknownKeyTypeError(f"`name` must be a str, got {type(name).__name__} {name!r}")
        if name not in self._stored:
            raise UnknownKeyError(
                f"`name`: no model named {name!r} is stored; stored models are {self.names}"
            )
        return name

    def _check_new(self, name: Any) -> str:
        if not isinstance(name, str):
            raise InvalidTypeError(f"`name` must be a str, got {type(name).__name__} {name!r}")
        # s.models.<name> must reach the model, and HDF5 paths cannot hold "/" or "."
        if not name.isidentifier() or name.startswith("_"):
            raise InvalidInputError(
                f"`name` must be a Python identifier not starting with '_', got {name!r}"
            )
        if hasattr(type(self), name):
            raise InvalidInputError(
                f"`name` {name!r} is a ModelManager attribute; choose another name"
            )
        return name

    # ---------------------------------------------------------- actions
    def store(self, model: Any, name: str | None = None, overwrite: bool = False) -> str:
        """Store a frozen copy of ``model`` (built on this signal) under ``name``.

        Parameters
        ----------
        model : Model1D or Model2D
            A model of this very signal.
        name : str, optional
            A Python identifier; default: the next of a, b, ..., z, aa, ab, ...
        overwrite : bool
            Replace a model already stored under ``name`` (HyperSpy always
            does); by default that raises ``InvalidInputError``.

        Returns
        -------
        str
            The name the model was stored under.

        Examples
        --------
        >>> s.models.store(m, "start")         # doctest: +SKIP
        'start'
        """
        if getattr(model, "signal", None) is not self._signal:
            raise InvalidInputError(
                "`model` was created from a different signal; store it in that signal"
            )
        name = next_name(self._stored) if name is None else self._check_new(name)
        if name in self._stored and not overwrite:
            raise InvalidInputError(
                f"`name`: a model named {name!r} is already stored; remove it first "
                f"(s.models.remove({name!r})) or pass overwrite=True"
            )
        entry = MemoryStoredModel(model, name)  # built first: a failure stores nothing
        self._stored[name] = entry
        return name

    def restore(self, name: str) -> Any:
        """Return a new model equal to the one stored as ``name``.

        Examples
        --------
        >>> m1 = s.models.restore("a")         # doctest: +SKIP
        """
        return self._stored[self._check_existing(name)].restore()

    def remove(self, name: str) -> None:
        """Remove the model stored as ``name``.

        Examples
        --------
        >>> s.models.remove("a")               # doctest: +SKIP
        """
        del self._stored[self._check_existing(name)]

    def pop(self, name: str) -> Any:
        """Return the model stored as ``name`` and remove it from storage."""
        model = self.restore(name)
        self.remove(name)
        return model

    # ------------------------------------------------------- access/print
    def _stub(self, name: str) -> ModelStub:
        # one stub per stored model (``s.models.a is s.models["a"]``, as in HyperSpy)
        stubs = self.__dict__.setdefault("_stubs", {})
        stub = stubs.get(name)
        if stub is None or stub._entry is not self._stored[name]:
            stub = stubs[name] = ModelStub(self, name)
        return stub

    def __getitem__(self, name: str) -> ModelStub:
        return self._stub(self._check_existing(name))

    def __getattr__(self, name: str) -> ModelStub:
        if not name.startswith("_") and name in self._stored:
            return self._stub(name)
        raise AttributeError(f"no attribute or stored model named {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {n for n in self._stored if n.isidentifier()})

    def _node(self, name: str) -> dict:
        entry = self._stored[name]
        info: dict = {}
        if hasattr(entry, "info"):
            try:
                info = entry.info()
            except (OSError, ValueError, KeyError):  # an unreadable file still lists its name
                info = {}
        node: dict = {}
        components = info.get("components")
        if components:
            node["components"] = {str(c): {} for c in components}
        if info.get("date"):
            node["date"] = info["date"]
        node["dimensions"] = info.get("dimensions") or self._signal.axes_manager._dims_string()
        return node

    def __repr__(self) -> str:
        tree = {name: self._node(name) for name in self._stored}
        return "".join(line + "\n" for line in _tree_lines(tree))

    __str__ = __repr__
