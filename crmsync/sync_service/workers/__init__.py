"""The distributed engine: Celery workers that take "sync mailbox X once" from a broker.

With ``CRMSYNC_BROKER_URL`` set (Redis) and PostgreSQL as the database, ``crmsync
serve`` only schedules and serves: it queues a task per due mailbox, and ``crmsync
worker`` processes, on any number of machines, run each task through the same unit of
work as ``crmsync sync --once`` (:func:`~crmsync.sync_service.engine.run.sync_mailbox`).
The mailbox lease, not the broker, keeps two workers off one mailbox; the broker only
makes sure a task whose worker died is handed to another.

- :mod:`.broker` builds the Celery app from the settings and queues tasks;
- :mod:`.tasks` is the task a worker runs;
- :mod:`.worker` starts a worker process (``crmsync worker``);
- :mod:`.push` runs a worker's share of push (IMAP IDLE, Exchange streaming).

The engine never imports this package; the surfaces and triggers queue through
:func:`crmsync.sync_service.triggers.soon.sync_soon`.
"""
