"""Tests of verdict.engine: bucketing spec, conditions, flags, experiments."""
