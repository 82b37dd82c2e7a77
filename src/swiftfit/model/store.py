"""Stored models (``m.store``, ``s.models``) and parameter files."""

from __future__ import annotations


class StoreMixin:
    """``store``, ``save_parameters2file``, ``load_parameters_from_file``, ``export_results``."""
