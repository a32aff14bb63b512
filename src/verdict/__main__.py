"""``python -m verdict`` runs the command line."""

from verdict.cli import main

main()
