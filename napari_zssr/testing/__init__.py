"""Test and benchmark helpers (like numpy.testing): not used by a run.

simulate: synthetic fluorescence microscopy with its ground truth (tests, samples, benchmarks,
the prior's training data); estimates: an axial run with its estimates at hand, to put beside
the truth.
"""
