"""Audit: who changed what, when, with the state before and after."""
