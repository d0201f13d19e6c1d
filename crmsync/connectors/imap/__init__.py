"""IMAP connector (imapclient): one module per concern.

* :mod:`.settings` — :class:`ImapSettings`
* :mod:`.session` — connect, TLS, login, error translation, EXAMINE
* :mod:`.folders` — Inbox and Sent discovery
* :mod:`.cursor` — the cursor format and its invariants
* :mod:`.qresync` — EXAMINE with QRESYNC: expunges and flag changes in its answer
* :mod:`.idle` — push: IDLE on one folder, NOTIFY on several
* :mod:`.bodystructure` — which section holds the text
* :mod:`.fetch` — batched ``UID FETCH`` into records
* :mod:`.connector` — :class:`ImapConnector`: first sync, polls, resync
"""

from crmsync.connectors.imap.connector import ImapConnector
from crmsync.connectors.imap.settings import ImapSettings

__all__ = ["ImapConnector", "ImapSettings"]
