"""Environments: development, staging, production and any a team adds."""
