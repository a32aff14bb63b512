"""Analysis: metric definitions and the stored results of the statistics engine."""
