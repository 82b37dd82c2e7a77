"""Stand-in for every ``hyperspy.<internal module>`` the rewritten tests import.

Importing a name succeeds (so one internal import does not take down a whole
test file); using it raises :class:`HyperSpyInternal`, which marks the test as
one that needs HyperSpy internals (see ``tests_compat/internals.txt``).
"""


class HyperSpyInternal(Exception):
    """A test touched a HyperSpy internal that swiftfit does not provide."""


class _Internal:
    def __init__(self, name):
        object.__setattr__(self, "_name", name)

    def _fail(self, *args, **kwargs):
        raise HyperSpyInternal(f"HyperSpy internal {self._name!r} used")

    __call__ = __iter__ = __enter__ = __len__ = __bool__ = _fail

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Internal(f"{self._name}.{attr}")

    def __mro_entries__(self, bases):
        class _Base:
            def __init__(inner, *a, **k):
                self._fail()

        return (_Base,)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Internal(name)
