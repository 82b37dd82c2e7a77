"""Model2D: a model of a Signal2D — images and stacks of images.

Shares every piece of machinery with Model1D (the Problem layer, every
optimizer and loss, errors, batched multifit); only the coordinates, the
signal range and the bin area are two-dimensional. The coordinates handed to
components are the flattened ``x`` and ``y`` of the pixels inside the range.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError, NotSupportedError
from .base import BaseModel

__all__ = ["Model2D"]


class Model2D(BaseModel):
    """A model of two-dimensional signals (images), at every navigation position.

    Parameters
    ----------
    signal2D : Signal2D
        The data; usually created by ``signal.create_model()``.

    Examples
    --------
    >>> import numpy as np, swiftfit as hs
    >>> im = hs.signals.Signal2D(np.arange(300.0).reshape(3, 10, 10))
    >>> mod = im.create_model()
    >>> mod.append(hs.model.components2D.Gaussian2D())
    >>> mod
    <Model2D, title: >
    """

    _signal_dimension = 2
    _copied_settings = ("_psf", "_oversampling")

    def __init__(self, signal2D, dictionary=None):
        super().__init__(signal2D)
        self._psf: np.ndarray | None = None
        self._oversampling = 1
        if dictionary is not None:  # HyperSpy's create_model(dictionary=m.as_dictionary())
            self._load_dictionary(dictionary)

    def enable_adjust_position(self, components=None, fix_them=True, show_label=True) -> None:
        """Not for images (HyperSpy's NotImplementedError): the position widgets are 1-D."""
        raise NotSupportedError("enable_adjust_position is not implemented for Model2D")

    def disable_adjust_position(self) -> None:
        """Not for images (HyperSpy's NotImplementedError)."""
        raise NotSupportedError("disable_adjust_position is not implemented for Model2D")

    # ------------------------------------------------- PSF / oversampling
    def set_psf(self, psf=None, oversampling: int = 1) -> None:
        """Convolve the model with ``psf`` and/or evaluate it ``oversampling``
        times finer along each axis (averaged back to pixels).

        Parameters
        ----------
        psf : ndarray (ky, kx), Signal2D or None
            The PSF on the image's pixel grid (normalised to unit sum). The
            model is evaluated on the image padded by half the PSF, so light
            from just outside the field is convolved in.
        oversampling : int
            Sub-pixels per pixel and axis, for undersampled peaks.

        Examples
        --------
        >>> m.set_psf(moffat_image, oversampling=3)   # doctest: +SKIP
        """
        if psf is not None and hasattr(psf, "data"):
            psf = psf.data
        from .psf import ImageOperator

        # validate now, where the input enters
        ImageOperator(np.asarray(self.xaxis.axis[:2], float), np.asarray(self.yaxis.axis[:2], float), psf, oversampling)
        for ax in (self.xaxis, self.yaxis):
            if not ax.is_uniform:
                raise InvalidInputError("PSF convolution and oversampling need uniform signal axes")
        self._psf = None if psf is None else np.asarray(psf, dtype=float)
        self._oversampling = int(oversampling)

    @property
    def psf(self):
        """The PSF image the model is convolved with (None: no convolution)."""
        return self._psf

    @property
    def oversampling(self) -> int:
        return self._oversampling

    def _evaluation(self):
        if self._psf is None and self._oversampling == 1:
            return super()._evaluation()
        from .psf import ImageOperator

        op = ImageOperator(np.asarray(self.xaxis.axis, float), np.asarray(self.yaxis.axis, float),
                           self._psf, self._oversampling)
        mask = self._channel_switches.ravel()
        binscale = 1.0
        if self._is_binned:
            binscale = float(np.prod([abs(ax.scale) for ax in (self.xaxis, self.yaxis) if ax.is_binned]))
        from .psf import MaskedImage

        return op.coords, binscale, MaskedImage(op, mask)

    @property
    def xaxis(self):
        """The horizontal signal axis (natural order: first)."""
        return self.axes_manager.signal_axes[0]

    @property
    def yaxis(self):
        """The vertical signal axis."""
        return self.axes_manager.signal_axes[1]

    @property
    def _is_binned(self) -> bool:
        return bool(self.xaxis.is_binned or self.yaxis.is_binned)

    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(self.xaxis.axis, dtype=float)
        y = np.asarray(self.yaxis.axis, dtype=float)
        return np.meshgrid(x, y)  # X[iy, ix] = x[ix]: array order (y, x)

    def _coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        X, Y = self._grid()
        mask = self._channel_switches
        return X[mask], Y[mask]

    def _full_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        X, Y = self._grid()
        return X.ravel(), Y.ravel()

    def _binscale(self):
        """Pixel areas inside the range (1 for unbinned axes)."""
        if not self._is_binned:
            return 1.0
        widths = []
        for ax in (self.xaxis, self.yaxis):
            if not ax.is_binned:
                widths.append(np.ones(ax.size))
            elif ax.is_uniform:
                widths.append(np.full(ax.size, float(ax.scale)))
            else:
                widths.append(np.gradient(np.asarray(ax.axis, dtype=float)))
        area = np.outer(widths[1], widths[0])
        return area[self._channel_switches]

    # ----------------------------------------------------- signal range
    def _box(self, x1, x2, y1, y2) -> np.ndarray:
        box = np.zeros_like(self._channel_switches)
        ix = [0 if x1 is None else self.xaxis.value2index(x1),
              self.xaxis.size - 1 if x2 is None else self.xaxis.value2index(x2)]
        iy = [0 if y1 is None else self.yaxis.value2index(y1),
              self.yaxis.size - 1 if y2 is None else self.yaxis.value2index(y2)]
        if ix[0] > ix[1] or iy[0] > iy[1]:
            raise InvalidInputError(
                f"empty signal range: x from {x1!r} to {x2!r}, y from {y1!r} to {y2!r}"
            )
        box[iy[0]:iy[1] + 1, ix[0]:ix[1] + 1] = True
        return box


    def set_signal_range(self, x1=None, x2=None, y1=None, y2=None) -> None:
        """Fit only pixels with ``x1 <= x <= x2`` and ``y1 <= y <= y2`` (axis values)."""
        self._set_switches(self._box(x1, x2, y1, y2))

    def add_signal_range(self, x1=None, x2=None, y1=None, y2=None) -> None:
        """Add a rectangle to the range."""
        self._set_switches(self._channel_switches | self._box(x1, x2, y1, y2))

    def remove_signal_range(self, x1=None, x2=None, y1=None, y2=None) -> None:
        """Remove a rectangle from the range."""
        self._set_switches(self._channel_switches & ~self._box(x1, x2, y1, y2))


