"""Shared library of the i2dl exercise-08 course kit: data, training, checks, plots, course tooling."""
