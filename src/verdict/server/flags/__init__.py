"""Feature flags: definitions, per-environment state, prerequisites and overrides."""
