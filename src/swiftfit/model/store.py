"""Stored models (``m.store``, ``s.models``), parameter files and exported results.

The work is done in :mod:`swiftfit.io.model_manager`,
:mod:`swiftfit.io.parameter_files` and :mod:`swiftfit.io.export`; this mixin
gives the model HyperSpy's method names.
"""

from __future__ import annotations

import os
from typing import Any


class StoreMixin:
    """``store``, ``save_parameters2file``, ``load_parameters_from_file``, ``export_results``."""

    signal: Any

    def store(self, name: str | None = None, overwrite: bool = False) -> str:
        """Store a frozen copy of this model in its signal (``s.models``).

        Later changes of the model do not reach the copy; restore it with
        ``s.models.restore(name)`` or ``s.models.<name>.restore()``.

        Parameters
        ----------
        name : str, optional
            A Python identifier not starting with ``_``; default the next of
            HyperSpy's sequence a, b, ..., z, aa, ab, ...
        overwrite : bool
            Replace a model already stored as ``name``. HyperSpy always
            replaces; here a used name raises ``InvalidInputError`` unless
            this is True, so a stored fit is not lost by accident.

        Returns
        -------
        str
            The name the model was stored under.

        Examples
        --------
        >>> m.store("start")
        'start'
        >>> m.store()
        'a'
        """
        if getattr(self, "signal", None) is None:
            raise ValueError("Cannot store models with no signal")
        return self.signal.models.store(self, name, overwrite=overwrite)

    def save_parameters2file(self, filename: str | os.PathLike) -> None:
        """Save every parameter's map (values, std, is_set), free flag, bounds and ties.

        The file is NumPy's ``.npz`` (the extension is added when missing),
        with HyperSpy's keys for the maps; no pickle. See
        :mod:`swiftfit.io.parameter_files`.

        Examples
        --------
        >>> _ = m.fit()
        >>> m.save_parameters2file("params.npz")
        >>> m2 = s.create_model()
        >>> m2.extend([hs.model.components1D.Gaussian(), hs.model.components1D.Offset()])
        >>> m2.load_parameters_from_file("params.npz")
        >>> m2[0].A.value == m[0].A.value
        True
        """
        from ..io.parameter_files import save_parameters

        save_parameters(self, filename)

    def load_parameters_from_file(self, filename: str | os.PathLike) -> None:
        """Set the parameters from a file of :meth:`save_parameters2file`.

        Components and parameters are matched by name; a file whose
        components or parameters differ from the model's raises
        ``InvalidInputError`` naming the difference, and so does a crafted
        file (it is read with ``allow_pickle=False``). HyperSpy's files set
        the maps only.

        Examples
        --------
        >>> m.save_parameters2file("params.npz")
        >>> m[0].A.value = 1.0
        >>> m.load_parameters_from_file("params.npz")
        >>> m[0].A.value
        800.0
        """
        from ..io.parameter_files import load_parameters

        load_parameters(self, filename)

    def export_results(self, folder: str | os.PathLike | None = None, format: str = "hdf5",
                       save_std: bool = False, only_free: bool = True,
                       only_active: bool = True) -> list[str]:
        """Write the parameter maps to files: "hdf5"/"h5", "csv", "png", "tif"/"tiff".

        "hdf5" writes one file per parameter (HyperSpy's layout), "csv" one
        table of all maps, the image formats one image per 2-D navigation map
        (0-D/1-D navigation raises). See :mod:`swiftfit.io.export`.

        Returns
        -------
        list of str
            The paths written.

        Examples
        --------
        >>> m.export_results("maps", format="tif", save_std=True)   # doctest: +SKIP
        """
        from ..io.export import export_results

        return export_results(self, folder, format=format, save_std=save_std,
                              only_free=only_free, only_active=only_active)
