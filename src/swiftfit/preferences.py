"""Library-wide preferences: which conventions the HyperSpy-style API follows.

swiftfit keeps a few conventions of its own where HyperSpy chose otherwise and
both are legitimate (README, "Differences from HyperSpy"). Setting
``swiftfit.preferences.conventions = "hyperspy"`` (or the environment variable
``SWIFTFIT_CONVENTIONS=hyperspy`` before import) gives HyperSpy's choice for
each of them:

- ``m.dof``: N − k (points − free parameters); HyperSpy's: k.
- ``m.red_chisq``: χ² / (N − k); HyperSpy's: χ² / (N − k − 1).
- ``estimate_parameters(signal, x1, x2)``: ``x1 <= x <= x2``; HyperSpy's:
  channels ``[value2index(x1), value2index(x2))``, as ``isig[x1:x2]``.
- ``e`` in an ``Expression``: Euler's number; HyperSpy's (sympy's): a
  parameter named ``e`` (``E`` stays Euler's number).
- ``fetch_values_from_array`` and a custom loss's values (and gradient):
  constructor order (Gaussian: A, sigma, centre); HyperSpy's: each
  component's parameters sorted by name (A, centre, sigma).

HyperSpy's bugs are not conventions and stay refused or corrected whatever
this says (a variance of another shape than the data, non-rotations from
``add_rotation``, ...).

Examples
--------
>>> import numpy as np, swiftfit as hs
>>> s = hs.signals.Signal1D(np.array([1.0, 3.0, 2.0, 4.0, 3.0]))
>>> m = s.create_model()
>>> m.append(hs.model.components1D.Offset())
>>> _ = m.fit()
>>> float(m.dof.data[0]), round(float(m.red_chisq.data[0]), 4)    # N - k = 4, chisq / 4
(4.0, 1.3)
>>> with hs.preferences.use("hyperspy"):
...     float(m.dof.data[0]), round(float(m.red_chisq.data[0]), 4)  # k = 1, chisq / 3
(1.0, 1.7333)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["CONVENTIONS", "Preferences", "preferences"]

CONVENTIONS = ("swiftfit", "hyperspy")


class Preferences:
    """The library's preferences (one instance: ``swiftfit.preferences``).

    Attributes
    ----------
    conventions : {"swiftfit", "hyperspy"}
        Whose conventions the HyperSpy-style API follows where the two differ
        on purpose (see the module docstring). Default ``"swiftfit"``, or the
        value of the environment variable ``SWIFTFIT_CONVENTIONS`` at import.

    Examples
    --------
    >>> p = Preferences()
    >>> p.conventions = "hyperspy"
    >>> p.hyperspy
    True
    >>> p.conventions = "HyperSpy 1"
    Traceback (most recent call last):
    ...
    ValueError: `conventions` must be one of ('swiftfit', 'hyperspy'), got 'HyperSpy 1'
    """

    def __init__(self, conventions: str | None = None) -> None:
        self.conventions = conventions or os.environ.get("SWIFTFIT_CONVENTIONS", "swiftfit")

    @property
    def conventions(self) -> str:
        return self._conventions

    @conventions.setter
    def conventions(self, value: str) -> None:
        if value not in CONVENTIONS:
            raise ValueError(f"`conventions` must be one of {CONVENTIONS}, got {value!r}")
        self._conventions = value

    @property
    def hyperspy(self) -> bool:
        """Whether HyperSpy's conventions are on."""
        return self._conventions == "hyperspy"

    @contextlib.contextmanager
    def use(self, conventions: str) -> Iterator[Preferences]:
        """Follow ``conventions`` inside a ``with`` block, then restore.

        Examples
        --------
        >>> p = Preferences("swiftfit")
        >>> with p.use("hyperspy"):
        ...     p.conventions
        'hyperspy'
        >>> p.conventions
        'swiftfit'
        """
        before = self.conventions
        self.conventions = conventions
        try:
            yield self
        finally:
            self._conventions = before

    def __repr__(self) -> str:
        return f"Preferences(conventions={self._conventions!r})"


preferences = Preferences()
