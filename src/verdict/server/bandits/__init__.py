"""Multi-armed bandits: Thompson-sampling weight updates and their history."""
