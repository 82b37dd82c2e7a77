"""Built-in components: ``components1d`` and ``components2d`` are the public namespaces."""
