"""Alembic environment and versions for Verdict's schema."""
