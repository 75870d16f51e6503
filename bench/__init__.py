"""Benchmarks: one script per measurement, and ``bench/run.py`` that runs them all."""
