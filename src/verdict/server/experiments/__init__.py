"""Experiments: definitions, variants, allocation phases, metric links and assignments."""
