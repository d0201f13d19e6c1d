"""The newest activities with their links and reasons, as the signed-in user may see them."""

from __future__ import annotations

from typing import Any

from flask import render_template
from sqlalchemy import func, select

from crmsync.crm.db import session_scope
from crmsync.crm.export import SHAPE_LOADS, activity_shape
from crmsync.crm.models import Activity
from crmsync.crm.visibility import visible_activities
from crmsync.sync_service.web.admin.blueprint import blueprint, services
from crmsync.sync_service.web.admin.signing_in import current_user

PAGE = 200


@blueprint.get("/")
def activities() -> Any:
    """Console: the newest activities the admin may see, with their links and reasons."""
    seen_by = current_user()["viewer"].seen_by
    with session_scope(services().sessions) as session:
        rows = session.scalars(
            select(Activity).where(visible_activities()).params(**seen_by)
            .order_by(Activity.occurred_at.desc()).limit(PAGE).options(*SHAPE_LOADS)
        ).all()
        shaped = [activity_shape(a) for a in rows]
        total = session.scalar(select(func.count()).select_from(Activity)
                               .where(visible_activities()).params(**seen_by))
    return render_template("admin/activities.html", activities=shaped, total=total)
