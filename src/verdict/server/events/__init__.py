"""Events: what units did, the raw material of every metric."""
