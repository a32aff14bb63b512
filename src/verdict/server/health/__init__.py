"""Health: is the database reachable, and at which schema revision."""
