"""Drive the preview page and its pane the way a person would."""

from __future__ import annotations

from urllib.parse import quote

from tests.addin.conftest import LiveApp


def open_preview(page, live: LiveApp, message: str = "", mode: str = "read", lang: str = "",
                 outlook: str = ""):
    """Open ``/addin/preview`` on a stored message and return the pane's frame once painted.

    :param outlook: the preview's Outlook build (``current``, ``older``...), see preview.js.
    """
    query = f"?message={quote(message)}&mode={mode}" + (f"&lang={lang}" if lang else "")
    query += f"&outlook={outlook}" if outlook else ""
    page.goto(f"{live.url}/addin/preview{query}")
    pane = page.frame_locator("#pane")
    pane.locator("body[data-ready='1']").wait_for()
    return pane


def reload_done(pane) -> None:
    """Wait until the pane finished re-rendering after an action."""
    pane.locator("body[data-ready='1'] #pane:not([hidden])").wait_for()
