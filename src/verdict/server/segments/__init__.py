"""Segments: reusable, named targeting conditions."""
