"""The fitter family of AstroPhot's ``fit`` package (seed 002) for every swiftfit model."""
