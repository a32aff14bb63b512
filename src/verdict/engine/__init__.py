"""Evaluation engine: bucketing, targeting conditions, flag and experiment decisions.

Pure code over plain data: no I/O, no server, database or web imports.
"""

__all__: list[str] = []
