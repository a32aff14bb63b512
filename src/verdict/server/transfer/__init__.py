"""Export and import of flags and experiments (with what they name) as one JSON document."""
