"""``GET /templates``: reply templates, the ones that fit the thread first, placeholders filled.

A template fits when its keywords (``;``-separated words or phrases, any language)
occur in the thread: the subject the pane sends plus the stored mails of the
conversation. Placeholders ``{contact_first_name}``, ``{case_number}`` and
``{rep_name}`` are filled; an unknown placeholder stays as written, so a brace in
a template's text never breaks it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crmsync.crm.db import session_scope
from crmsync.crm.models import Activity, ActivityLink, Case, Contact, ContactEmail
from crmsync.crm.templates import ReplyTemplate
from crmsync.crm.tracking import find_activity, normalize_message_id
from crmsync.crm.visibility import visible_activities
from crmsync.mapping.addresses import normalize_address
from crmsync.sync_service.web.api.blueprint import blueprint, services, viewer
from crmsync.sync_service.web.api.cards import CASE_NUMBER
from crmsync.sync_service.web.api.schemas import TemplatesOut, TemplatesQuery

PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: how much of a thread's stored text is searched for keywords
THREAD_CHARS = 20_000


def keywords_of(template: ReplyTemplate) -> list[str]:
    return [k.strip().lower() for k in template.keywords.split(";") if k.strip()]


def fill(text: str, values: dict[str, str]) -> str:
    """Replace known ``{placeholders}``; leave unknown ones and stray braces alone."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def rank(templates: list[ReplyTemplate], haystack: str, language: str | None) -> list[tuple]:
    """(template, matched keywords) best first: most keywords, then the pane's language."""
    text = haystack.lower()
    scored = []
    for template in templates:
        matched = [k for k in keywords_of(template) if k in text]
        same_language = bool(language) and template.language.lower() == (language or "").lower()
        scored.append((len(matched), same_language, template, matched))
    scored.sort(key=lambda s: (-s[0], not s[1], s[2].name))
    return [(template, matched) for _, _, template, matched in scored]


def _thread_text(session: Session, subject: str, message_id: str | None) -> tuple[str, list[int]]:
    seen_by = viewer().seen_by
    activity = find_activity(session, message_id, seen_by=seen_by) if message_id else None
    if activity is None:
        return subject, []
    thread = session.scalars(
        select(Activity).where(Activity.conversation == activity.conversation,
                               visible_activities())
        .order_by(Activity.occurred_at.desc()).limit(20), seen_by
    ).all()
    text = " ".join([subject] + [f"{a.subject} {a.body_text or ''}" for a in thread])
    return text[:THREAD_CHARS], [a.id for a in thread]


def _case_number(session: Session, text: str, thread: list[int], contact: Contact | None) -> str:
    """The case the reply is about: named in the thread, linked to it, or the contact's open one."""
    named = CASE_NUMBER.findall(text)
    if named:
        return named[0]
    conditions = []
    if thread:
        linked = select(ActivityLink.case_id).where(ActivityLink.activity_id.in_(thread))
        conditions.append(Case.id.in_(linked))
    if contact is not None:
        conditions.append((Case.contact_id == contact.id) & (Case.status != "Closed"))
    if not conditions:
        return ""
    case = session.scalars(select(Case).where(or_(*conditions))
                           .order_by(Case.created_at.desc())).first()
    return case.number if case else ""


def placeholder_values(session: Session, args: dict[str, Any], text: str, thread: list[int]):
    """Values of the placeholders for this reply."""
    address = normalize_address(args.get("address") or "") if args.get("address") else None
    contact = session.scalars(
        select(Contact).join(ContactEmail).where(ContactEmail.address == address)
    ).one_or_none() if address else None
    return {
        "contact_first_name": contact.first_name if contact else "",
        "case_number": args.get("case_number") or _case_number(session, text, thread, contact),
        "rep_name": viewer().name,
    }


@blueprint.get("/templates")
@blueprint.arguments(TemplatesQuery, location="query")
@blueprint.response(200, TemplatesOut)
def list_templates(args: dict[str, Any]) -> dict[str, Any]:
    """Reply templates for a message or draft, best fit first, placeholders filled.

    ``address`` is the customer the reply goes to (contact first name, open case);
    ``internet_message_id`` names the mail replied to (its thread's text is searched).
    """
    message_id = normalize_message_id(args.get("internet_message_id"))
    with session_scope(services().sessions) as session:
        text, thread = _thread_text(session, args.get("subject") or "", message_id)
        values = placeholder_values(session, args, text, thread)
        templates = session.scalars(select(ReplyTemplate).order_by(ReplyTemplate.name)).all()
        return {"templates": [
            {"id": t.id, "name": t.name, "subject": fill(t.subject, values),
             "body": fill(t.body, values), "language": t.language, "category": t.category,
             "matched": matched, "score": float(len(matched))}
            for t, matched in rank(list(templates), text, args.get("language"))
        ]}
