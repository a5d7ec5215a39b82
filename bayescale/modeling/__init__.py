"""Specs (priors as data) -> PyMC models -> fits."""
