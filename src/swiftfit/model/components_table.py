"""``m.components``: attribute access to a model's components and their table."""

from __future__ import annotations


class ModelComponents:
    """Namespace of a model's components by attribute name (tab-completion friendly).

    Examples
    --------
    >>> m.components.Long_Hydrogen_name            # doctest: +SKIP
    <Long Hydrogen name (Gaussian component)>
    """

    def __init__(self, model):
        object.__setattr__(self, "_model", model)

    def __getattr__(self, name):
        if name.startswith("_"):
            # private names are never components; answering them from the model
            # would recurse while the object is being unpickled (no _model yet)
            raise AttributeError(name)
        for comp in self._model._components:
            if comp._attribute_name == name:
                return comp
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}: the model has no "
                             "component with that attribute name")

    def __dir__(self):
        return [c._attribute_name for c in self._model._components]

    def __iter__(self):
        return iter(self._model._components)

    def __len__(self):
        return len(self._model._components)

    def __getitem__(self, key):
        return self._model[key]

    def __repr__(self) -> str:
        return components_table(self._model._components)


def components_table(components) -> str:
    """The table HyperSpy prints for ``m.components``."""
    rows = [
        f"{'#':>4} | {'Attribute Name':>19} | {'Component Name':>19} | {'Component Type':>19}",
        f"{'-' * 4} | {'-' * 19} | {'-' * 19} | {'-' * 19}",
    ]
    for i, comp in enumerate(components):
        rows.append(f"{i:>4} | {comp._attribute_name:>19} | {comp.name:>19} | {comp._id_name:>19}")
    return "\n".join(rows)
