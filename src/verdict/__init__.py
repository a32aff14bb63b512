"""Verdict: a self-hosted experimentation platform."""

__all__ = ["__version__"]

__version__ = "0.1.0"
