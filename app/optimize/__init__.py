"""Optimizers per format, the measurement of their effect, and the worker that runs jobs."""
