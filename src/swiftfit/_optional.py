"""Import of optional packages, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise ImportError saying ``pip install swiftfit[extra]``.

    Examples
    --------
    >>> np = require("numpy")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = extra or module
        raise ImportError(
            f"{module} is needed for this feature; install it with "
            f"`pip install swiftfit[{extra}]`"
        ) from exc
