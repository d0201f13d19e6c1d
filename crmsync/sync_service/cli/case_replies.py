"""`crmsync cases reply`: answer a case from the shell, as a CRM user, through the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.models import User
from crmsync.crm.visibility import Viewer, sharing
from crmsync.errors import UserError
from crmsync.sync_service.cli import services
from crmsync.sync_service.cli.cases import cases
from crmsync.sync_service.support import deliver_outbox
from crmsync.sync_service.support.replies import MAX_REPLY_CHARS, ReplyRequest, queue_reply


@cases.command("reply")
@click.argument("number")
@click.option("--as", "as_email", required=True, help="The CRM user who answers (an agent).")
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="The reply's text (UTF-8); '-' is not read.")
def cases_reply(number: str, as_email: str, body_file: Path) -> None:
    """Answer case NUMBER from its support mailbox, as the API and the task pane do.

    The reply carries the case token and the customer's thread, is filed on the case
    at once (the first response) and sent through the outbox; prints what was queued.
    """
    if body_file.stat().st_size > 4 * MAX_REPLY_CHARS:
        raise UserError(f"{body_file} is longer than {MAX_REPLY_CHARS} characters")
    body = body_file.read_text(encoding="utf-8")
    svc = services()
    with session_scope(svc.sessions) as session:
        user = session.scalars(select(User).where(User.email == as_email.strip().lower())).first()
        if user is None:
            raise UserError(f"no CRM user {as_email}")
        viewer = Viewer.of(user, sharing(session))
        queued = queue_reply(svc, session, viewer, ReplyRequest(number, body),
                             datetime.now(UTC))
    click.echo(json.dumps({"case": queued.case_number, "outbox_id": queued.outbox_id,
                           "message_id": queued.message_id}))
    deliver_outbox(svc)
