"""Assignments: the sticky record of which variant a unit got in an experiment."""
