"""The Redis transport, fixed to survive its broker restarting under running tasks.

When the connection to Redis breaks, Celery (5.7) ``collect()``s the dead connection,
which drops the transport's connection details (``transport.client = None``) while its
channels live on: closing the default channel (to put its unacknowledged messages
back), and later acknowledging a task that was running all along, each open a new
Redis client from those dropped details and raise ``AttributeError`` (``'NoneType'
object has no attribute 'hostname'``). Celery does not count that as a connection
error, so the whole worker stopped with "Unrecoverable error" at every broker restart
that found a task running (tests/workers/test_restarts.py; the same crash as kombu
#582).

Each channel here keeps the details it was opened with and puts them back when they
were dropped: its acknowledgements and restores reach the restarted Redis (or fail
with a connection error, which Celery handles), and the worker reconnects. A message
that could not be acknowledged stays in Redis's unacked set and is handed out again
after the visibility timeout (broker.py): running a sync twice is harmless.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


class _Channel(kombu_redis.Channel):
    def __init__(self, connection: kombu_redis.Transport, *args: Any, **kwargs: Any) -> None:
        self._opened_with = connection.client
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:  # collected after a connection loss
            self.connection.client = self._opened_with
        return super()._connparams(asynchronous)


class Transport(kombu_redis.Transport):
    """kombu's Redis transport whose channels outlive a collected connection."""

    Channel = _Channel
