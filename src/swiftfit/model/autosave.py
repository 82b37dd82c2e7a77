"""Autosave and resume for :meth:`~swiftfit.model.multifit.MultifitMixin.multifit`.

The progress of a multifit is written to one ``.npz`` file (``np.savez``,
read back with ``allow_pickle=False``: plain arrays and one JSON string, so
loading a file never executes anything). It holds

- ``fingerprint``: JSON naming the model class, its components with their
  parameter names, and the navigation and signal shapes; a file whose
  fingerprint differs from the model's is refused with a ``ValueError``;
- ``done``: navigation-shaped bool, the pixels whose fit is finished;
- ``p{i}_values``, ``p{i}_std``, ``p{i}_is_set``: the maps of the i-th
  parameter (model order: components, then their parameters);
- ``_status``, ``_nfev``, ``_chisq``, ``_dof``, ``_lnl``, ``_nfree``: the
  model's per-pixel goodness-of-fit arrays;
- ``meta``: JSON with what a resumed run needs to repeat the interrupted one
  exactly (the chunk size and, for ``fetch_only_fixed``, the starting values).

Pixels that are not done are saved with the values they had when the multifit
started, not whatever a half-finished chunk left in the maps, so a resumed run
starts them exactly where the uninterrupted run would have.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError

__all__ = ["DEFAULT_AUTOSAVE_FILE", "PIXEL_ARRAYS", "Autosave", "check_autosave_every"]

DEFAULT_AUTOSAVE_FILE = "swiftfit_multifit_autosave.npz"
PIXEL_ARRAYS = ("_status", "_nfev", "_chisq", "_dof", "_lnl", "_nfree")
_FIELDS = ("values", "std", "is_set")
_FORMAT = "swiftfit-multifit-autosave"
_VERSION = 1


def check_autosave_every(value) -> int:
    """``autosave_every`` as a positive int, or an InvalidInputError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(
            f"`autosave_every` must be a positive integer (pixels fitted between two saves), got {value!r}"
        )
    return int(value)


def fingerprint(model) -> dict:
    """What must match between a model and an autosave file for a resume."""
    return {
        "format": _FORMAT,
        "version": _VERSION,
        "model": type(model).__name__,
        "components": [[c.name, [p.name for p in c.parameters]] for c in model._components],
        "navigation_shape": list(model._nav_shape),
        "signal_shape": list(model._signal_shape_in_array),
    }


class Autosave:
    """The autosave file of one multifit call.

    Parameters
    ----------
    model : BaseModel
    path : str or os.PathLike
        The file; written as given (no suffix is added).
    """

    def __init__(self, model, path) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidInputError(f"`autosave_file` must be a path (str or os.PathLike), got {path!r}")
        self.model = model
        self.path = Path(path)
        self.meta: dict = {}
        # after the last chunk the file is a consistent snapshot; a later
        # stage (the neighbour refit) must not overwrite it when interrupted
        self.frozen = False
        self._params = [p for c in model._components for p in c.parameters]
        self._initial_maps: list[np.ndarray] = []
        self._initial_arrays: dict[str, np.ndarray] = {}

    def exists(self) -> bool:
        return self.path.is_file()

    def begin(self) -> None:
        """Remember the state of every pixel at the start (for the not-done ones)."""
        self._initial_maps = [np.array(p._map, copy=True) for p in self._params]
        self._initial_arrays = {name: np.array(getattr(self.model, name), copy=True) for name in PIXEL_ARRAYS}

    def write(self, done: np.ndarray) -> None:
        """Save the done pixels' results and the others' starting state, atomically."""
        if self.frozen:
            return
        arrays: dict[str, np.ndarray] = {
            "fingerprint": np.array(json.dumps(fingerprint(self.model))),
            "meta": np.array(json.dumps(self.meta)),
            "done": np.asarray(done, dtype=bool),
        }
        for i, (p, initial) in enumerate(zip(self._params, self._initial_maps)):
            for field in _FIELDS:
                arrays[f"p{i}_{field}"] = np.where(done, p._map[field], initial[field])
        for name in PIXEL_ARRAYS:
            current = getattr(self.model, name)
            arrays[name] = np.where(done, current, self._initial_arrays[name])
        # write a temporary file and rename it: an interruption while writing
        # leaves the previous save intact instead of a truncated file
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, self.path)

    def load(self) -> np.ndarray:
        """Put the file's maps and arrays into the model; return the ``done`` mask.

        Raises
        ------
        ValueError (InvalidInputError)
            The file is not a multifit autosave, or it was written for a
            different model.
        """
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            saved = json.loads(str(arrays["fingerprint"]))
            meta = json.loads(str(arrays["meta"]))
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidInputError(
                f"`autosave_file` {str(self.path)!r} is not a swiftfit multifit autosave file ({exc})"
            ) from exc
        expected = fingerprint(self.model)
        if saved != expected:
            diff = [k for k in expected if saved.get(k) != expected[k]]
            raise InvalidInputError(
                f"`autosave_file` {str(self.path)!r} was written for a different model "
                f"(differs in {diff}: file {[saved.get(k) for k in diff]}, this model "
                f"{[expected[k] for k in diff]}); delete it or pass another `autosave_file`"
            )
        nav = tuple(expected["navigation_shape"])
        done = np.asarray(arrays["done"], dtype=bool)
        if done.shape != nav:
            raise InvalidInputError(f"`autosave_file` {str(self.path)!r} is corrupt: `done` has shape {done.shape}, expected {nav}")
        for i, p in enumerate(self._params):
            for field in _FIELDS:
                p._map[field] = arrays[f"p{i}_{field}"]
        for name in PIXEL_ARRAYS:
            target = getattr(self.model, name)
            target[...] = arrays[name]
        self.meta = meta
        return done

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
