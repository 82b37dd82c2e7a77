"""A small attribute-access tree for signal metadata."""

from __future__ import annotations

import copy
from typing import Any, Iterator

import numpy as np

try:
    from swiftfit.errors import InvalidInputError, InvalidTypeError
except ImportError:  # pragma: no cover - depends on the build stage
    InvalidInputError, InvalidTypeError = ValueError, TypeError

__all__ = ["Metadata"]

_MISSING = object()


def _split(path: str) -> list:
    if not isinstance(path, str) or not path or any(p == "" for p in path.split(".")):
        raise InvalidInputError(
            f"`item_path` must be a dotted string such as 'A.B.c', got {path!r}"
        )
    return path.split(".")


class Metadata:
    """Nested metadata with attribute access.

    Nodes are :class:`Metadata` instances, leaves are any Python objects.
    Assigning a ``dict`` creates a node.

    Parameters
    ----------
    dictionary : dict, optional
        Initial (possibly nested) content.

    Examples
    --------
    >>> md = Metadata({"General": {"title": "spectrum"}})
    >>> md.set_item("Signal.Noise_properties.variance", 2.0)
    >>> md.Signal.Noise_properties.variance
    2.0
    >>> md.has_item("General.title"), "General.missing" in md
    (True, False)
    """

    def __init__(self, dictionary: dict | None = None) -> None:
        object.__setattr__(self, "_dict", {})
        if dictionary is not None:
            self.add_dictionary(dictionary)

    # -- attribute protocol ------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_dict":
            raise AttributeError(name)
        try:
            return self._dict[name]
        except KeyError:
            raise AttributeError(
                f"metadata node has no item {name!r}; items are {list(self._dict)}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, dict):
            value = Metadata(value)
        self._dict[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self._dict[name]
        except KeyError:
            raise AttributeError(f"metadata node has no item {name!r}") from None

    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.__setattr__(key, value)

    def __delitem__(self, key: str) -> None:
        del self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def keys(self):
        return self._dict.keys()

    def values(self):
        return self._dict.values()

    def items(self):
        return self._dict.items()

    def __contains__(self, item_path: str) -> bool:
        return self.has_item(item_path)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Metadata):
            return NotImplemented
        return self._dict.keys() == other._dict.keys() and all(
            _leaf_equal(self._dict[k], other._dict[k]) for k in self._dict
        )

    __hash__ = None  # mutable container

    # -- dotted-path access ----------------------------------------------
    def _lookup(self, path: str) -> Any:
        node: Any = self
        for part in _split(path):
            if not isinstance(node, Metadata) or part not in node._dict:
                return _MISSING
            node = node._dict[part]
        return node

    def has_item(self, item_path: str) -> bool:
        """Return whether the dotted path exists.

        Examples
        --------
        >>> Metadata({"A": {"b": 1}}).has_item("A.b")
        True
        """
        return self._lookup(item_path) is not _MISSING

    def get_item(self, item_path: str, default: Any = None) -> Any:
        """Return the item at the dotted path, or ``default`` when missing.

        Examples
        --------
        >>> Metadata({"A": {"b": 1}}).get_item("A.c", default=0)
        0
        """
        value = self._lookup(item_path)
        return default if value is _MISSING else value

    def set_item(self, item_path: str, value: Any) -> None:
        """Set the item at the dotted path, creating intermediate nodes.

        Examples
        --------
        >>> md = Metadata()
        >>> md.set_item("A.B.c", 3)
        >>> md.A.B.c
        3
        """
        parts = _split(item_path)
        node = self
        for i, part in enumerate(parts[:-1]):
            child = node._dict.get(part, _MISSING)
            if child is _MISSING:
                child = Metadata()
                node._dict[part] = child
            elif not isinstance(child, Metadata):
                raise InvalidInputError(
                    f"cannot set {item_path!r}: "
                    f"{'.'.join(parts[: i + 1])!r} is a leaf, not a node"
                )
            node = child
        setattr(node, parts[-1], value)

    def del_item(self, item_path: str) -> None:
        """Remove the item at the dotted path (``KeyError`` if missing)."""
        parts = _split(item_path)
        parent = self._lookup(".".join(parts[:-1])) if len(parts) > 1 else self
        if not isinstance(parent, Metadata) or parts[-1] not in parent._dict:
            raise KeyError(f"metadata has no item {item_path!r}")
        del parent._dict[parts[-1]]

    def add_node(self, node_path: str) -> "Metadata":
        """Create (if needed) and return the node at the dotted path."""
        existing = self._lookup(node_path)
        if existing is _MISSING:
            self.set_item(node_path, Metadata())
            return self._lookup(node_path)
        if not isinstance(existing, Metadata):
            raise InvalidInputError(f"{node_path!r} is a leaf, not a node")
        return existing

    def add_dictionary(self, dictionary: dict) -> None:
        """Merge a (nested) dictionary into this tree."""
        if isinstance(dictionary, Metadata):
            dictionary = dictionary.as_dictionary()
        if not isinstance(dictionary, dict):
            raise InvalidTypeError(
                f"`dictionary` must be a dict, got {type(dictionary).__name__}"
            )
        for key, value in dictionary.items():
            if isinstance(value, (dict, Metadata)):
                self.add_node(str(key)).add_dictionary(value)
            else:
                self._dict[str(key)] = value

    def as_dictionary(self) -> dict:
        """Return the tree as nested plain dictionaries (leaves not copied)."""
        return {
            k: v.as_dictionary() if isinstance(v, Metadata) else v
            for k, v in self._dict.items()
        }

    # -- copies --------------------------------------------------------------
    def copy(self) -> "Metadata":
        """Copy the node structure; leaf objects are shared."""
        return Metadata(self.as_dictionary())

    def deepcopy(self) -> "Metadata":
        """Copy the node structure and every leaf."""
        return copy.deepcopy(self)

    def __deepcopy__(self, memo: dict) -> "Metadata":
        new = Metadata()
        for k, v in self._dict.items():
            new._dict[k] = copy.deepcopy(v, memo)
        return new

    def __copy__(self) -> "Metadata":
        return self.copy()

    # -- display -------------------------------------------------------------
    def _tree_lines(self, prefix: str = "") -> list:
        lines = []
        keys = list(self._dict)
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            branch, extend = ("└── ", "    ") if last else ("├── ", "│   ")
            value = self._dict[key]
            if isinstance(value, Metadata):
                lines.append(f"{prefix}{branch}{key}")
                lines.extend(value._tree_lines(prefix + extend))
            else:
                text = repr(value) if not isinstance(value, str) else value
                lines.append(f"{prefix}{branch}{key} = {text}")
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._tree_lines()) if self._dict else "<empty Metadata>"


def _leaf_equal(a: Any, b: Any) -> bool:
    if isinstance(a, Metadata) or isinstance(b, Metadata):
        return a == b
    try:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return bool(np.array_equal(a, b))
        return bool(a == b) if a is not b else True
    except (TypeError, ValueError):
        return a is b
