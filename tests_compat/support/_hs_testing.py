"""Test helpers the HyperSpy test files import from ``hyperspy.decorators`` and
``hyperspy.misc.utils``: swiftfit's own small versions of the testing utilities
(not HyperSpy code); any other name there is a HyperSpy internal.
"""

import contextlib
import functools

import _hs_internals

dummy_context_manager = contextlib.nullcontext


def _make_lazy(test):
    @functools.wraps(test)
    def run(self, *args, **kwargs):
        for key, value in list(vars(self).items()):
            if hasattr(value, "as_lazy") and hasattr(value, "axes_manager"):
                setattr(self, key, value.as_lazy())
            elif hasattr(value, "signal") and hasattr(value, "_components"):  # a model
                value.signal = value.signal.as_lazy()
        return test(self, *args, **kwargs)

    return run


def lazifyTestClass(*args, **kwargs):  # noqa: N802 (the decorator's HyperSpy name)
    """Add a ``test_lazy_<name>`` twin of each test method that runs on lazy signals
    (the signals and the models' signals set up by ``setup_method`` made lazy)."""

    def decorate(cls):
        for name, attr in list(vars(cls).items()):
            if name.startswith("test") and callable(attr):
                setattr(cls, "test_lazy_" + name[len("test_"):], _make_lazy(attr))
        return cls

    if len(args) == 1 and isinstance(args[0], type) and not kwargs:
        return decorate(args[0])
    return decorate


def __getattr__(name):
    return getattr(_hs_internals, name)
