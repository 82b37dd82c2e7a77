"""Reading and writing swiftfit HDF5 files (signals and the models fitted to them).

* :func:`save_signal` writes a signal; :func:`save_model` writes a model and
  its signal (several models, under different names, may share one file).
* :func:`load` reads the signal back; ``signal.models_stored`` maps each
  stored model's name to a :class:`StoredModel`, which rebuilds the model when
  called (as does :func:`restore_model`).

Files hold plain data only (no pickles, no code): see :mod:`.hdf5` for the
layout and :mod:`.hdf5_model` for which component classes are rebuilt.
"""

from .hdf5 import load, save_signal
from .hdf5_model import StoredModel, register_component, restore_model, save_model

__all__ = ["StoredModel", "load", "register_component", "restore_model", "save_model", "save_signal"]
