"""Exposures reported by SDKs that decide experiments in-process, stored as assignments."""
