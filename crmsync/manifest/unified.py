"""The unified manifest for Microsoft 365 (JSON, Teams schema 1.17), for the same add-in.

It ships with two icons (``color.png`` 192 px, ``outline.png`` 32 px) and a
localization file for Simplified Chinese (``zh-cn.json``).
"""

from __future__ import annotations

from typing import Any

from crmsync.manifest import STRINGS, VERSION, Deployment

SCHEMA_VERSION = "1.17"
SCHEMA_URL = (
    f"https://developer.microsoft.com/json-schemas/teams/v{SCHEMA_VERSION}/MicrosoftTeams.schema.json"
)
LOCALIZATION_SCHEMA_URL = (
    f"https://developer.microsoft.com/json-schemas/teams/v{SCHEMA_VERSION}"
    "/MicrosoftTeams.Localization.schema.json"
)
RUNTIME = "TaskPaneRuntime"
#: ribbon contexts → the pane mode each opens
CONTEXTS = (
    (["mailRead"], "read"),
    (["mailCompose"], "compose"),
    (["meetingDetailsOrganizer", "meetingDetailsAttendee"], "appointment"),
)


def _icons(d: Deployment) -> list[dict[str, Any]]:
    return [{"size": s, "url": d.icon(s)} for s in (16, 32, 80)]


def _control(d: Deployment, mode: str) -> dict[str, Any]:
    en = STRINGS["en-US"]
    return {
        "id": f"crmsync.{mode}.open", "type": "button", "label": en["button"],
        "icons": _icons(d),
        "supertip": {"title": en["button"], "description": en["tip"]},
        "actionId": f"open.{mode}",
    }


def _ribbons(d: Deployment) -> list[dict[str, Any]]:
    return [
        {"contexts": contexts, "tabs": [{"builtInTabId": "TabDefault", "groups": [{
            "id": f"crmsync.{mode}.group", "label": STRINGS["en-US"]["group"],
            "icons": _icons(d),
            "controls": [_control(d, mode)],
        }]}]}
        for contexts, mode in CONTEXTS
    ]


def _runtimes(d: Deployment) -> list[dict[str, Any]]:
    # One runtime per mode: each action opens the pane page with its ?mode=.
    return [
        {"id": f"{RUNTIME}.{mode}", "type": "general", "code": {"page": d.pane(mode)},
         "lifetime": "short", "requirements": {"capabilities": [
             {"name": "Mailbox", "minVersion": "1.5"}]},
         "actions": [{"id": f"open.{mode}", "type": "openPage", "pinnable": True}]}
        for _, mode in CONTEXTS
    ]


def render_unified(d: Deployment) -> dict[str, Any]:
    """Return the unified manifest for deployment ``d`` (icons are relative file names)."""
    en = STRINGS["en-US"]
    manifest: dict[str, Any] = {
        "$schema": SCHEMA_URL,
        "manifestVersion": SCHEMA_VERSION,
        "id": d.app_id,
        "version": VERSION,
        "name": {"short": en["name"], "full": en["name"]},
        "description": {"short": en["description"], "full": en["description"] + " " + en["tip"]},
        "developer": {"name": "crmsync", "websiteUrl": d.url("/"),
                      "privacyUrl": d.url("/"), "termsOfUseUrl": d.url("/")},
        "icons": {"outline": "outline.png", "color": "color.png"},
        "accentColor": "#0F6CBD",
        "localizationInfo": {"defaultLanguageTag": "en-us", "additionalLanguages": [
            {"languageTag": "zh-cn", "file": "zh-cn.json"}]},
        "validDomains": [d.host],
        "authorization": {"permissions": {"resourceSpecific": [
            {"name": "MailboxItem.ReadWrite.User", "type": "Delegated"}]}},
        "extensions": [{
            "requirements": {"scopes": ["mail"],
                             "capabilities": [{"name": "Mailbox", "minVersion": "1.5"}]},
            "runtimes": _runtimes(d),
            "ribbons": _ribbons(d),
        }],
    }
    if d.client_id:
        manifest["webApplicationInfo"] = {"id": d.client_id, "resource": d.sso_resource}
    return manifest


def render_localization(language: str = "zh-CN") -> dict[str, Any]:
    """The localization file for ``language``: names and descriptions."""
    text = STRINGS[language]
    return {
        "$schema": LOCALIZATION_SCHEMA_URL,
        "name.short": text["name"], "name.full": text["name"],
        "description.short": text["description"],
        "description.full": text["description"] + " " + text["tip"],
    }
