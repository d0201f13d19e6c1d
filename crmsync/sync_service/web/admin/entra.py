"""Microsoft Entra sign-in for the console (OpenID Connect authorization code, via msal).

Shown beside the password form when ``CONSOLE_ENTRA_CLIENT_ID`` is configured.
"""

from __future__ import annotations

from flask import current_app


def entra_configured() -> bool:
    return bool(current_app.config.get("CONSOLE_ENTRA_CLIENT_ID"))
