"""CalDAV and CardDAV (Google, iCloud, Nextcloud, Radicale ...): calendar and contacts."""

from crmsync.connectors.dav.connector import DavConnector

__all__ = ["DavConnector"]
