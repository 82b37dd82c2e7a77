"""A batched chunk's pixels held as index arrays, not as a list of tuples.

A multifit chunk is thousands of array-order index tuples; converting them
to index arrays (one NumPy array of tuples per chunk) and comparing lists of
them cost ~0.1 µs per pixel each time, more than the rest of the Python per
fit on small problems (issue 16). :class:`PixelChunk` is a read-only
sequence of the same tuples that keeps the index arrays it was cut from, so
``_nav_index`` returns them as they are, and says when its pixels are one
run of consecutive positions (C order), so rows and maps are read and
written through a slice.

Examples
--------
>>> chunk = PixelChunk((np.array([0, 0, 1]), np.array([1, 2, 0])), (2, 3))
>>> len(chunk), chunk[1], list(chunk)
(3, (0, 2), [(0, 1), (0, 2), (1, 0)])
>>> chunk.run
(1, 4)
>>> chunk == [(0, 1), (0, 2), (1, 0)]
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["PixelChunk", "as_pixels", "run_in"]


class PixelChunk(Sequence):
    """Array-order index tuples of pixels of a navigation shape ``nav``.

    Parameters
    ----------
    index : tuple of ndarray
        One integer array per navigation dimension, all of one length
        (``np.nonzero``'s answer, or a slice of it).
    nav : tuple of int
        The navigation shape (array order); at least one dimension.
    flat : ndarray, optional
        ``np.ravel_multi_index(index, nav)``, computed when not given.

    Notes
    -----
    ``run`` is ``(first, stop)`` of the flat positions when they are
    ``first, first + 1, …, stop − 1`` in that order, else None. Never written
    in place: the index arrays are read-only.
    """

    __slots__ = ("index", "nav", "flat", "run", "_tuples")

    def __init__(self, index, nav, flat=None):
        nav = tuple(int(n) for n in nav)
        if not nav or len(index) != len(nav):
            raise ValueError(f"`index` needs one array per navigation dimension of {nav}, got {len(index)}")
        index = tuple(np.ascontiguousarray(i, dtype=np.intp) for i in index)
        for i in index:
            i.flags.writeable = False
        self.index = index
        self.nav = nav
        flat = np.ravel_multi_index(index, nav) if flat is None else np.asarray(flat, dtype=np.intp)
        self.flat = flat
        n = flat.size
        # one run: its ends span exactly n positions and it increases by one at every step
        run = None
        if n and int(flat[-1]) - int(flat[0]) == n - 1 and (n == 1 or bool((np.diff(flat) == 1).all())):
            run = (int(flat[0]), int(flat[-1]) + 1)
        self.run = run
        self._tuples = None

    @classmethod
    def every(cls, nav) -> PixelChunk:
        """Every pixel of the navigation shape ``nav``, in C order: what
        ``PixelChunk(np.nonzero(np.ones(nav, bool)), nav)`` holds, built
        directly (one ``arange``, and the run known: no conversions and no
        consecutiveness test, a fixed cost of every multifit call).

        >>> c = PixelChunk.every((2, 3)); c.run, [i.tolist() for i in c.index], c.flat.tolist()
        ((0, 6), [[0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]], [0, 1, 2, 3, 4, 5])
        """
        nav = tuple(int(n) for n in nav)
        if not nav:
            raise ValueError("`nav` needs at least one dimension")
        flat = np.arange(math.prod(nav), dtype=np.intp)
        flat.flags.writeable = False
        # (unravel_index's arrays are strided views of one block: made contiguous, as __init__ does)
        index = (flat,) if len(nav) == 1 else tuple(np.ascontiguousarray(i) for i in np.unravel_index(flat, nav))
        for i in index:
            i.flags.writeable = False
        self = cls.__new__(cls)
        self.index = index
        self.nav = nav
        self.flat = flat
        self.run = (0, flat.size) if flat.size else None
        self._tuples = None
        return self

    def _list(self) -> list:
        if self._tuples is None:
            self._tuples = list(zip(*(i.tolist() for i in self.index)))
        return self._tuples

    def __len__(self) -> int:
        return int(self.index[0].size)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return PixelChunk(tuple(i[k] for i in self.index), self.nav, self.flat[k])
        return self._list()[k]

    def __iter__(self):
        return iter(self._list())

    def __eq__(self, other):
        if isinstance(other, PixelChunk):
            return self.nav == other.nav and np.array_equal(self.flat, other.flat)
        if isinstance(other, (list, tuple)):
            return self._list() == list(other)
        return NotImplemented

    __hash__ = None  # mutable-looking sequence semantics, as a list

    def __repr__(self) -> str:
        return f"PixelChunk({len(self)} pixels of {self.nav})"


def as_pixels(pixels):
    """``pixels`` as a sequence: a :class:`PixelChunk` as it is (it keeps its
    index arrays), any other iterable as a list.

    >>> as_pixels(iter([(0,), (1,)])), type(as_pixels(PixelChunk((np.array([0]),), (2,)))).__name__
    ([(0,), (1,)], 'PixelChunk')
    """
    return pixels if type(pixels) is PixelChunk else list(pixels)


def run_in(pixels, nav):
    """``(first, stop)`` when ``pixels`` is a :class:`PixelChunk` of navigation
    shape ``nav`` whose pixels are one run of consecutive flat positions, else None.

    >>> run_in(PixelChunk((np.array([1, 2]),), (4,)), (4,)), run_in([(1,), (2,)], (4,))
    ((1, 3), None)
    """
    return pixels.run if type(pixels) is PixelChunk and pixels.nav == nav else None
