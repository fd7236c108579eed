"""Benchmark scripts that print tables (speed targets live here, never in unit tests).

`backends` is `rxssnet bench`: latency of the inference backends per variant, size and precision.
"""
