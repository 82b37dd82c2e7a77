"""Callbacks on changes, with HyperSpy's ``events`` API (``p.events.value_changed``).

An :class:`Event` calls its connected functions when triggered with keyword
arguments; ``connect(f, kwargs)`` says which of them ``f`` receives:
``"all"`` (every one), ``"auto"`` (those ``f``'s signature names), a list of
names (``[]``: none) or a dict mapping trigger names to ``f``'s names.
:class:`Events` groups a class's events and suppresses them all at once.

Examples
--------
>>> from swiftfit import Parameter
>>> p = Parameter("A")
>>> seen = []
>>> p.events.value_changed.connect(lambda value: seen.append(value), ["value"])
>>> p.value = 2.0
>>> p.value = 2.0          # no change, no call
>>> with p.events.value_changed.suppress():
...     p.value = 3.0
>>> seen
[2.0]
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .errors import InvalidInputError, InvalidTypeError

__all__ = ["Event", "Events"]


class Event:
    """One event: functions connected to it are called by :meth:`trigger`.

    Parameters
    ----------
    doc : str
        What the event signals.
    arguments : sequence of str, optional
        The keyword arguments :meth:`trigger` takes (checked when given).

    Examples
    --------
    >>> e = Event(arguments=["obj", "value"])
    >>> e.connect(lambda v: print("now", v), {"value": "v"})
    >>> e.trigger(obj=None, value=1)
    now 1
    """

    def __init__(self, doc: str = "", arguments: Sequence[str] | None = None) -> None:
        self.__doc__ = doc
        self._arguments = None if arguments is None else tuple(arguments)
        self._connected: dict[Callable, Any] = {}  # function -> "all" | tuple of names | dict
        self._suppress = 0
        self._suppressed_callbacks: set = set()

    @property
    def connected(self) -> set:
        """The connected functions."""
        return set(self._connected)

    def connect(self, function: Callable, kwargs: Any = "all") -> None:
        """Call ``function`` on every trigger, with the arguments ``kwargs`` selects."""
        if not callable(function):
            raise InvalidTypeError(f"`function` must be callable, got {function!r}")
        if function in self._connected:
            raise InvalidInputError(f"`function` {function!r} is already connected to this event")
        if kwargs == "auto":
            params = inspect.signature(function).parameters.values()
            if any(p.kind == p.VAR_KEYWORD for p in params):
                kwargs = "all"
            elif any(p.kind == p.VAR_POSITIONAL for p in params):
                raise NotImplementedError("`kwargs='auto'` cannot connect a function taking only *args")
            else:
                kwargs = tuple(p.name for p in params)
        if isinstance(kwargs, (list, tuple)):
            kwargs = tuple(kwargs)
        elif isinstance(kwargs, dict):
            kwargs = dict(kwargs)
        elif kwargs != "all":
            raise InvalidInputError(f"`kwargs` must be 'all', 'auto', a list of names or a dict, got {kwargs!r}")
        self._connected[function] = kwargs

    def disconnect(self, function: Callable) -> None:
        """Stop calling ``function``."""
        if function not in self._connected:
            raise InvalidInputError(f"`function` {function!r} is not connected to this event")
        del self._connected[function]

    @contextlib.contextmanager
    def suppress(self) -> Iterator[None]:
        """Within the block, triggering calls nothing."""
        self._suppress += 1
        try:
            yield
        finally:
            self._suppress -= 1

    @contextlib.contextmanager
    def suppress_callback(self, function: Callable) -> Iterator[None]:
        """Within the block, triggering does not call ``function``."""
        added = function not in self._suppressed_callbacks
        self._suppressed_callbacks.add(function)
        try:
            yield
        finally:
            if added:
                self._suppressed_callbacks.discard(function)

    def trigger(self, **kwargs: Any) -> None:
        """Call the connected functions (unless suppressed)."""
        if self._arguments is not None and set(kwargs) - set(self._arguments):
            raise InvalidInputError(f"this event takes the arguments {self._arguments}, got {sorted(kwargs)}")
        if self._suppress:
            return
        for function, selection in list(self._connected.items()):
            if function in self._suppressed_callbacks:
                continue
            if selection == "all":
                function(**kwargs)
            elif isinstance(selection, dict):
                function(**{new: kwargs[old] for old, new in selection.items() if old in kwargs})
            else:
                function(**{name: kwargs[name] for name in selection if name in kwargs})

    def __repr__(self) -> str:
        return f"<Event: {len(self._connected)} connected>"


class Events:
    """A group of :class:`Event` attributes; :meth:`suppress` silences them all."""

    def _events(self) -> list[Event]:
        return [e for e in vars(self).values() if isinstance(e, Event)]

    @contextlib.contextmanager
    def suppress(self) -> Iterator[None]:
        """Within the block, none of the group's events calls anything."""
        with contextlib.ExitStack() as stack:
            for event in self._events():
                stack.enter_context(event.suppress())
            yield

    def __repr__(self) -> str:
        return f"<Events: {sorted(k for k, v in vars(self).items() if isinstance(v, Event))}>"
