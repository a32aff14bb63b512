"""Retention: deleting stored data once its retention period has passed."""
