"""Power: how many units an experiment needs, what it can detect, how long it takes."""
