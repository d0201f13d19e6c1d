"""crmsync: the mailbox feeds the CRM by itself.

Data flows one way: ``connectors`` (fetch changes since a cursor) → ``mapping``
(pure decisions) → ``crm`` (the record store) → surfaces in ``sync_service``.
"""

__version__ = "0.1.0"
