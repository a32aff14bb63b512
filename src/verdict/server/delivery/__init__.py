"""Delivery: the hot paths that serve decisions and configuration to SDKs."""
