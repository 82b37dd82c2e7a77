"""Exception and warning classes.

Every error subclasses ``ValueError`` or ``TypeError`` so that users may catch
either the specific class or the built-in one.
"""

from __future__ import annotations

__all__ = [
    "InvalidInputError",
    "InvalidTypeError",
    "ExpressionError",
    "OptimizerError",
    "FileFormatError",
    "UnsafeFileError",
    "FileLimitError",
    "FitWarning",
    "SignalDimensionError",
    "VisibleDeprecationWarning",
    "UnknownKeyError",
    "UnknownKeyTypeError",
    "FitFailedError",
    "NotSupportedError",
    "InvalidTypeValueError",
    "NotLinearError",
    "UnsupportedOptimizerError",
]


class InvalidInputError(ValueError):
    """A value entered the library that it cannot use (NaN data, bmin > bmax, ...)."""


class InvalidTypeError(TypeError):
    """An argument of the wrong type entered the library."""


class ExpressionError(ValueError):
    """A user expression contains something outside the whitelist, or does not parse."""


class OptimizerError(ValueError):
    """An optimizer was asked for something it cannot do (unknown name, no bounds, ...)."""


class FileFormatError(InvalidInputError):
    """A file (HDF5, ``.hspy``, zarr, ``.npy``, autosave) is not what swiftfit
    wrote or reads: missing or malformed items, wrong types, values that the
    public setters refuse. The message names the file and the item.
    """


class UnsafeFileError(FileFormatError):
    """A file asks to read outside itself: HDF5 external raw storage, a virtual
    dataset, a soft or external link, a symbolic link inside a zarr store.
    swiftfit reads only the bytes of the file it was given.
    """


class FileLimitError(FileFormatError):
    """A file asks for more work or memory than its reader allows: too many
    nodes or bytes in a tree walk, a declared array size above the limit, a
    group reached twice through hard links (a "diamond" that grows the walk
    exponentially).
    """


class FitWarning(UserWarning):
    """A fit finished but its result deserves attention (no convergence, stuck at a bound)."""


class SignalDimensionError(InvalidInputError):
    """A signal has the wrong signal dimension for the operation (HyperSpy's name).

    Examples
    --------
    >>> issubclass(SignalDimensionError, ValueError)
    True
    """

    def __init__(self, output_dimension=None, expected_output_dimension=None):
        if isinstance(output_dimension, str) or expected_output_dimension is None:
            super().__init__(output_dimension)
        else:
            super().__init__(
                f"signal dimension {output_dimension}, expected {expected_output_dimension}"
            )


class VisibleDeprecationWarning(UserWarning):
    """A deprecation users should see (HyperSpy's name; shown by default)."""


class UnknownKeyError(InvalidInputError, KeyError):
    """A name that is not there (a component, parameter or stored model): both our
    ``InvalidInputError`` and the ``KeyError`` HyperSpy raises.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return ValueError.__str__(self)


class UnknownKeyTypeError(InvalidTypeError, KeyError):
    """A key of the wrong type (a stored model named by an int): both our
    ``InvalidTypeError`` and the ``KeyError`` HyperSpy raises.
    """

    def __str__(self) -> str:
        return TypeError.__str__(self)


class FitFailedError(InvalidInputError, RuntimeError):
    """Fitting cannot start or go on (both ours and HyperSpy's ``RuntimeError``)."""


class NotSupportedError(InvalidInputError, NotImplementedError):
    """An option HyperSpy has that swiftfit does not implement (both ours and
    HyperSpy's ``NotImplementedError``).
    """


class InvalidTypeValueError(InvalidTypeError, ValueError):
    """An argument of the wrong type where HyperSpy raises ``ValueError`` (a
    component name that is no string): both.
    """


class NotLinearError(OptimizerError, RuntimeError):
    """A linear optimizer (``lstsq``, ``ols``...) given a model that is not linear
    in its free parameters: both our ``OptimizerError`` and HyperSpy's ``RuntimeError``.

    Examples
    --------
    >>> issubclass(NotLinearError, RuntimeError) and issubclass(NotLinearError, ValueError)
    True
    """


class UnsupportedOptimizerError(OptimizerError, NotImplementedError):
    """An optimizer asked for a problem it cannot solve (``odr`` on an image):
    both our ``OptimizerError`` and HyperSpy's ``NotImplementedError``.
    """
