"""Data sources: where an experiment's exposures and events are read for analysis."""
