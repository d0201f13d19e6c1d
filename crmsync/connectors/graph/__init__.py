"""Microsoft 365 through Microsoft Graph: one module per remote operation.

``client`` (throttling, the 4-in-flight limit), ``auth`` (msal), ``messages_delta``,
``calendar_view_delta``, ``contacts_delta``, ``mail_folders``, ``batch``,
``subscriptions``, ``send_mail``, ``events``; :class:`GraphConnector` ties them together.
"""

from crmsync.connectors.graph.connector import GraphConnector
from crmsync.connectors.graph.settings import GraphSettings

__all__ = ["GraphConnector", "GraphSettings"]
