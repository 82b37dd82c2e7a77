"""Noise simulation and noise-variance bookkeeping (mixed into BaseSignal)."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from .axes import InvalidInputError, InvalidTypeError

__all__ = ["NoiseMixin"]

_VARIANCE = "Signal.Noise_properties.variance"


def _rng(random_state: Any = None) -> np.random.Generator | np.random.RandomState:
    """Return a random generator from None, an int seed, a Generator or a RandomState.

    Examples
    --------
    >>> _rng(0).normal() == _rng(0).normal()
    True
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return random_state
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise InvalidInputError(
                f"`random_state` seed must be non-negative, got {random_state}"
            )
        return np.random.default_rng(int(random_state))
    raise InvalidTypeError(
        "`random_state` must be None, an int, a numpy Generator or a "
        f"RandomState, got {random_state!r}"
    )


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidTypeError(f"`{name}` must be a non-negative number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"`{name}` must be a non-negative finite number, got {value!r}")
    return value


def _check_array(name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind not in "biuf":
        raise InvalidTypeError(f"`{name}` must be real numbers, got dtype {arr.dtype}")
    if np.any(np.isnan(arr)):
        raise InvalidInputError(f"`{name}` must not contain NaN")
    if np.any(arr < 0):
        raise InvalidInputError(
            f"`{name}` must be non-negative, got minimum {float(np.min(arr))!r}"
        )


class NoiseMixin:
    """Noise simulation and noise-variance bookkeeping for signals."""

    def set_noise_variance(self, variance: Any) -> None:
        """Set (or with ``None`` remove) ``metadata.Signal.Noise_properties.variance``.

        Parameters
        ----------
        variance : None, float, numpy.ndarray or BaseSignal
            A non-negative number, an array broadcastable to the data shape
            (stored as a signal like this one) or a signal with the data's
            shape (a copy is stored).

        Examples
        --------
        >>> from swiftfit.signals import BaseSignal
        >>> s = BaseSignal(np.zeros(4))
        >>> s.set_noise_variance(2.0)
        >>> s.metadata.Signal.Noise_properties.variance
        2.0
        """
        from .base import BaseSignal

        md = self.metadata
        if variance is None:
            if md.has_item(_VARIANCE):
                md.del_item(_VARIANCE)
            return
        if isinstance(variance, BaseSignal):
            if variance.data.shape != self.data.shape:
                raise InvalidInputError(
                    f"`variance` signal must have the data shape {self.data.shape}, "
                    f"got {variance.data.shape}"
                )
            _check_array("variance", np.asarray(variance.data))
            md.set_item(_VARIANCE, variance.deepcopy())
            return
        if isinstance(variance, (Real, np.number)) and not isinstance(variance, (bool, np.bool_)):
            md.set_item(_VARIANCE, _non_negative("variance", variance))
            return
        if isinstance(variance, (np.ndarray, list, tuple)):
            arr = np.asarray(variance)
            _check_array("variance", arr)
            try:
                full = np.broadcast_to(arr, self.data.shape)
            except ValueError:
                raise InvalidInputError(
                    f"`variance` array of shape {arr.shape} does not broadcast to "
                    f"the data shape {self.data.shape}"
                ) from None
            self._attach_variance(np.array(full, dtype=float))
            return
        raise InvalidTypeError(
            "`variance` must be None, a non-negative number, an array or a "
            f"signal, got {type(variance).__name__}"
        )

    def get_noise_variance(self) -> Any:
        """Return the stored noise variance (number or signal), or ``None``.

        Examples
        --------
        >>> from swiftfit.signals import BaseSignal
        >>> BaseSignal(np.zeros(2)).get_noise_variance() is None
        True
        """
        return self.metadata.get_item(_VARIANCE)

    def add_gaussian_noise(self, std: float, random_state: Any = None) -> None:
        """Add zero-mean Gaussian noise of standard deviation ``std`` in place.

        Integer data are converted to float64 first (HyperSpy raises instead).

        Parameters
        ----------
        std : float
            Non-negative standard deviation.
        random_state : None, int, numpy.random.Generator or RandomState
            Source of randomness; an int is a seed.

        Examples
        --------
        >>> from swiftfit.signals import BaseSignal
        >>> s = BaseSignal(np.zeros(1000))
        >>> s.add_gaussian_noise(2.0, random_state=0)
        >>> bool(1.8 < s.data.std() < 2.2)
        True
        """
        std = _non_negative("std", std)
        rng = _rng(random_state)
        if self.data.dtype.kind == "c":
            raise InvalidTypeError("add_gaussian_noise does not support complex data")
        if self.data.dtype.kind != "f":
            self.data = self.data.astype(np.float64)
        self.data += rng.normal(0.0, std, size=self.data.shape)

    def add_poissonian_noise(self, keep_dtype: bool = True, random_state: Any = None) -> None:
        """Replace the data by Poisson draws whose mean is the data, in place.

        Parameters
        ----------
        keep_dtype : bool
            Cast the draws back to the original dtype (default) or keep the
            integer dtype of the draws.
        random_state : None, int, numpy.random.Generator or RandomState
            Source of randomness; an int is a seed.

        Examples
        --------
        >>> from swiftfit.signals import BaseSignal
        >>> s = BaseSignal(np.full(3, 5.0))
        >>> s.add_poissonian_noise(random_state=1)
        >>> s.data.dtype
        dtype('float64')
        """
        data = np.asarray(self.data)
        if data.dtype.kind not in "biuf":
            raise InvalidTypeError(f"add_poissonian_noise needs real data, got dtype {data.dtype}")
        if np.any(np.isnan(data)):
            raise InvalidInputError("data must not contain NaN to add Poissonian noise")
        if np.any(data < 0):
            raise InvalidInputError(
                "data must be non-negative to add Poissonian noise, got minimum "
                f"{float(data.min())!r}"
            )
        draws = _rng(random_state).poisson(lam=data)
        self.data = draws.astype(data.dtype, copy=False) if keep_dtype else draws

    def estimate_poissonian_noise_variance(
        self, expected_value: Any = None, gain_factor: float | None = None,
        gain_offset: float | None = None, correlation_factor: float | None = None,
    ) -> None:
        """Store the variance ``(expected * gain_factor + gain_offset) * correlation_factor``.

        The result is clipped below at ``gain_offset * correlation_factor``
        and stored as a signal like this one.

        Parameters
        ----------
        expected_value : BaseSignal or numpy.ndarray, optional
            Noise-free expectation; defaults to the signal itself.
        gain_factor, gain_offset, correlation_factor : float, optional
            Non-negative detector constants; defaults 1, 0 and 1.

        Examples
        --------
        >>> from swiftfit.signals import BaseSignal
        >>> s = BaseSignal(np.array([0.0, 4.0]))
        >>> s.estimate_poissonian_noise_variance(gain_factor=2)
        >>> s.metadata.Signal.Noise_properties.variance.data
        array([0., 8.])
        """
        from .base import BaseSignal

        gain_factor = 1.0 if gain_factor is None else _non_negative("gain_factor", gain_factor)
        gain_offset = 0.0 if gain_offset is None else _non_negative("gain_offset", gain_offset)
        correlation_factor = (1.0 if correlation_factor is None
                              else _non_negative("correlation_factor", correlation_factor))
        if expected_value is None:
            expected = self.data
        elif isinstance(expected_value, BaseSignal):
            expected = expected_value.data
        elif isinstance(expected_value, np.ndarray):
            expected = expected_value
        else:
            raise InvalidTypeError(
                "`expected_value` must be None, a signal or an array, got "
                f"{type(expected_value).__name__}"
            )
        if expected.dtype.kind not in "biuf":
            raise InvalidTypeError(f"`expected_value` must be real, got dtype {expected.dtype}")
        if np.any(np.isnan(expected)):
            raise InvalidInputError("`expected_value` must not contain NaN")
        try:
            expected = np.broadcast_to(expected, self.data.shape)
        except ValueError:
            raise InvalidInputError(
                f"`expected_value` shape {expected.shape} does not match the data "
                f"shape {self.data.shape}"
            ) from None
        variance = (expected.astype(float) * gain_factor + gain_offset) * correlation_factor
        variance = np.clip(variance, gain_offset * correlation_factor, None)
        self._attach_variance(variance)
        self.metadata.set_item(
            "Signal.Noise_properties.Variance_linear_model",
            {"gain_factor": gain_factor, "gain_offset": gain_offset,
             "correlation_factor": correlation_factor},
        )
