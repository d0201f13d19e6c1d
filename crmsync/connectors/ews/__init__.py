"""Exchange Server over EWS (exchangelib): mail, calendar and contacts, with streaming push.

Exchange Online is synced through Microsoft Graph (:mod:`crmsync.connectors.graph`);
EWS there is being retired, and its URL is refused here with a pointer to
``mailbox add graph``.
"""

from crmsync.connectors.ews.connector import EwsConnector

__all__ = ["EwsConnector"]
