"""The running service, one room per job: ``engine/`` (connector → mapping → store, one
transaction per page), ``support/`` (the support desk's page hook and outbox),
``mailboxes/`` (credentials, leases, connecting), ``triggers/`` (scheduler, IMAP IDLE,
Graph subscriptions), ``web/`` (the Flask app and its surfaces) and ``cli/``.
``startup`` assembles the services and page hooks; surfaces and triggers import the
engine, never the reverse (``tests/test_layout.py`` holds it to that)."""
