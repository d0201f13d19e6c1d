"""``python -m crmsync`` runs the command line."""

from crmsync.sync_service.cli import main

main()
