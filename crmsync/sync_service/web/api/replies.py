"""``POST /cases/<number>/reply``: an agent answers a case from the pane or a script.

The rules (who may answer, the size of a reply, threading, exactly-once sending) are
:mod:`crmsync.sync_service.support.replies`'s; this surface maps its refusals to HTTP
answers and has the support mailbox synced soon, after which the outbox sends it.
"""

from __future__ import annotations

from typing import Any

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.crm.support import OutboxMessage
from crmsync.sync_service.support.replies import ReplyRefusedError, ReplyRequest, queue_reply
from crmsync.sync_service.web.api.blueprint import blueprint, services, viewer
from crmsync.sync_service.web.api.context import now
from crmsync.sync_service.web.api.errors import APIError
from crmsync.sync_service.web.api.schemas import CaseReplyIn, CaseReplyOut
from crmsync.sync_service.web.sync_requests import request_sync


class ReplyRefused(APIError):
    """A refused reply, answered with the status the rule gave (400, 403, 404, 409)."""

    def __init__(self, exc: ReplyRefusedError) -> None:
        super().__init__(str(exc))
        self.status_code = exc.status


@blueprint.post("/cases/<number>/reply")
@blueprint.arguments(CaseReplyIn)
@blueprint.response(202, CaseReplyOut)
def reply_to_case(body: dict[str, Any], number: str) -> dict[str, Any]:
    """Answer a case from its support mailbox; filed on the case at once, sent by the outbox.

    404 when the case is absent or its customer mail is not visible to the caller (a
    private item, a mailbox they do not see), 403 for another team's queue, 409 when
    the case has no support mailbox to answer from.
    """
    if len(number) > 40:
        raise APIError("not a case number")
    request = ReplyRequest(number, body["body"], body["client_key"])
    try:
        with session_scope(services().sessions) as session:
            queued = queue_reply(services(), session, viewer(), request, now())
            row = session.get(OutboxMessage, queued.outbox_id)
            mailbox = session.get(Mailbox, row.mailbox_id) if row and row.mailbox_id else None
            mailbox_name = mailbox.name if mailbox else None
    except ReplyRefusedError as exc:
        raise ReplyRefused(exc) from exc
    if mailbox_name:
        # serve's scheduler (or a worker) syncs it and then delivers the outbox
        request_sync(services(), mailbox_name, on_thread=False)
    return {"case": queued.case_number, "message_id": queued.message_id,
            "status": queued.status,
            "activity_id": str(queued.activity_id) if queued.activity_id else None}
