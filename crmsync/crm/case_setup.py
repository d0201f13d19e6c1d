"""Support mailboxes' keyword rules and reply templates as admins keep them: saved from a
row of ``crmsync cases rules|templates import`` or from the console's forms, and deleted.

One function per change, so the file import and the console check a row the same way.
A deleted template leaves no hole: rules naming it skip it, and acknowledgements fall
back to the built-in text (:mod:`crmsync.sync_service.support.acks`); a case keeps its
history when its rule goes (``support_cases.rule_id`` is set to NULL).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.models import Team, User
from crmsync.crm.support import CaseRule
from crmsync.crm.templates import ReplyTemplate
from crmsync.errors import UserError

#: a keyword rule's fields (CSV columns), as ``cases rules import`` documents them
CASE_RULE_FIELDS = ("name", "keywords", "category", "priority", "owner_email", "queue",
                    "templates", "sla_hours", "position")
#: a reply template's fields (CSV columns)
TEMPLATE_FIELDS = ("name", "subject", "body", "keywords", "category", "language")
#: the longest value of each column that has a limit
_LIMITS = {"name": 200, "category": 100, "priority": 30, "language": 20}


def field_text(row: Mapping[str, Any], key: str) -> str:
    """One field of a row as text, trimmed (a JSON list joins with ``;``)."""
    value = row.get(key)
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return "" if value is None else str(value).strip()


def _refusal(where: str, problem: str) -> UserError:
    return UserError(f"{where}: {problem}" if where else problem)


def _check_lengths(row: Mapping[str, Any], where: str, fields: tuple[str, ...]) -> None:
    for key in fields:
        limit = _LIMITS.get(key)
        if limit and len(field_text(row, key)) > limit:
            raise _refusal(where, f"{key} is longer than {limit} characters")


def save_case_rule(session: Session, row: Mapping[str, Any], where: str = "") -> CaseRule:
    """Create a keyword rule, or replace the one with the same name.

    :param row: the :data:`CASE_RULE_FIELDS` (a missing one is empty).
    :param where: names the row in errors (``rules.csv row 3``).
    :raises UserError: no name or keywords, a value too long, an unknown owner or queue,
        or a position or SLA that is not a number (nothing is changed).
    """
    name = field_text(row, "name")
    if not name or not field_text(row, "keywords"):
        raise _refusal(where, "a rule needs a name and keywords")
    _check_lengths(row, where, CASE_RULE_FIELDS)
    try:
        position = int(field_text(row, "position") or 0)
        sla = float(field_text(row, "sla_hours")) if field_text(row, "sla_hours") else None
    except ValueError as exc:
        raise _refusal(where, "position and sla_hours must be numbers") from exc
    if sla is not None and not 0 < sla < 10_000:
        raise _refusal(where, "sla_hours must be more than 0 and less than 10000")
    owner_id = _user_id(session, field_text(row, "owner_email"), where)
    team_id = _team_id(session, field_text(row, "queue"), where)
    rule = session.scalars(select(CaseRule).where(CaseRule.name == name)).first()
    if rule is None:
        rule = CaseRule(name=name, created_at=datetime.now(UTC))
        session.add(rule)
    rule.keywords, rule.category = field_text(row, "keywords"), field_text(row, "category")
    rule.priority, rule.templates = field_text(row, "priority"), field_text(row, "templates")
    rule.owner_id, rule.team_id, rule.position, rule.sla_hours = owner_id, team_id, position, sla
    return rule


def _user_id(session: Session, email: str, where: str) -> int | None:
    if not email:
        return None
    user_id = session.scalar(select(User.id).where(User.email == email.lower()))
    if user_id is None:
        raise _refusal(where, f"no CRM user {email}")
    return user_id


def _team_id(session: Session, name: str, where: str) -> int | None:
    if not name:
        return None
    team_id = session.scalar(select(Team.id).where(Team.name == name))
    if team_id is None:
        raise _refusal(where, f"no team {name!r} (teams come from the users CSV)")
    return team_id


def delete_case_rule(session: Session, rule_id: int) -> str:
    """Delete keyword rule ``rule_id``; return its name.

    :raises UserError: there is no such rule.
    """
    return _delete_named(session, CaseRule, rule_id, "case rule")


def _delete_named(session: Session, model: type[CaseRule] | type[ReplyTemplate],
                  row_id: int, what: str) -> str:
    row = session.get(model, row_id)
    if row is None:
        raise UserError(f"no {what} {row_id}")
    session.delete(row)
    return row.name


def save_template(session: Session, row: Mapping[str, Any], where: str = "") -> ReplyTemplate:
    """Create a reply template, or replace the one with the same name.

    :param row: the :data:`TEMPLATE_FIELDS`; the body is kept as written (not trimmed).
    :raises UserError: no name or body, or a value too long (nothing is changed).
    """
    name = field_text(row, "name")
    if not name or not field_text(row, "body"):
        raise _refusal(where, "a template needs a name and a body")
    _check_lengths(row, where, TEMPLATE_FIELDS)
    template = session.scalars(select(ReplyTemplate).where(ReplyTemplate.name == name)).first()
    if template is None:
        template = ReplyTemplate(name=name, created_at=datetime.now(UTC))
        session.add(template)
    for key in ("subject", "keywords", "category", "language"):
        setattr(template, key, field_text(row, key))
    template.body = str(row["body"])
    return template


def delete_template(session: Session, template_id: int) -> str:
    """Delete reply template ``template_id``; return its name.

    :raises UserError: there is no such template.
    """
    return _delete_named(session, ReplyTemplate, template_id, "reply template")
