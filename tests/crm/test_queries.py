"""The read queries behind the sender lookup and timelines, on both backends.

What a user sees: the newest activities of a person or company, in order, whatever
wrote the links (ORM, bulk Core inserts) and after a meeting moves; and a lookup whose
statement count does not grow with the CRM.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session

from crmsync.crm.models import (
    Account,
    Activity,
    ActivityLink,
    Contact,
    ContactEmail,
    Opportunity,
    User,
)
from crmsync.crm.queries import RECENT, lookup_sender
from crmsync.crm.recent import timeline_activities
from crmsync.sync_service.context import Services
from crmsync.sync_service.web.api.access import Viewer, visible_opportunities

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _everything(session, kind: str, record_id: int, limit: int):
    """A timeline as the organization sees it (no viewer: these tests are about order)."""
    return timeline_activities(session, kind, record_id, limit, seen_by=None)


@pytest.fixture
def session(services: Services) -> Iterator[Session]:
    with services.sessions() as session:
        yield session


def _crm(session: Session) -> tuple[Account, Contact, Contact]:
    """Acme with Ana (ana@acme.example) and Bo, and an unrelated account's contact."""
    acme = Account(external_id="acc-acme", name="Acme")
    ana = Contact(external_id="c-ana", first_name="Ana", last_name="Ruiz", account=acme,
                  emails=[ContactEmail(address="ana@acme.example")])
    bo = Contact(external_id="c-bo", first_name="Bo", account=acme)
    other = Account(external_id="acc-other", name="Other")
    session.add_all([acme, ana, bo, other,
                     Contact(external_id="c-zed", first_name="Zed", account=other)])
    session.flush()
    return acme, ana, bo


def _mail(session: Session, n: int, minutes: int, **targets: int) -> int:
    """An activity ``minutes`` after T0 linked (through the ORM) to ``targets``."""
    activity = Activity(dedupe_key=f"<m{n}@x>", subject=f"mail {n}", created_at=T0,
                        occurred_at=T0 + timedelta(minutes=minutes))
    activity.links = [ActivityLink(created_at=T0, **{f"{kind}_id": record_id})
                      for kind, record_id in targets.items()]
    session.add(activity)
    session.flush()
    return activity.id


def _subjects(activities: list[Activity]) -> list[str]:
    return [a.subject for a in activities]


def test_recent_activities_are_the_newest_of_contact_and_account(session: Session) -> None:
    # Ana's pane lists the 10 newest mails of Ana or Acme, newest first, each once,
    # and never mail of another company.
    acme, ana, bo = _crm(session)
    other = session.scalars(select(Account).where(Account.external_id == "acc-other")).one()
    for n in range(15):
        _mail(session, n, minutes=n, contact=ana.id, account=acme.id)  # linked twice
    _mail(session, 100, minutes=100, account=acme.id)
    _mail(session, 101, minutes=101, contact=bo.id)  # Bo's, not linked to Acme
    _mail(session, 102, minutes=102, account=other.id)
    session.commit()

    recent = lookup_sender(session, "ANA@acme.example", seen_by=None)["recent_activities"]
    assert [a["subject"] for a in recent] == ["mail 100"] + [f"mail {n}" for n in
                                                             range(14, 5, -1)]
    assert len(recent) == RECENT


def test_links_written_in_bulk_and_moved_meetings_keep_their_place(session: Session) -> None:
    # The engine inserts links with Core (no ORM), giving each its activity's time as
    # the copy; a rescheduled meeting moves in the list.
    acme, ana, _bo = _crm(session)
    first = _mail(session, 1, minutes=10, contact=ana.id)
    second = _mail(session, 2, minutes=20)
    session.execute(insert(ActivityLink), [
        {"activity_id": second, "contact_id": ana.id, "created_at": T0, "reason": "bulk",
         "occurred_at": T0 + timedelta(minutes=20)}])
    session.commit()
    assert _subjects(_everything(session, "contact", ana.id, 5)) == ["mail 2", "mail 1"]

    session.execute(update(Activity).where(Activity.id == first)
                    .values(occurred_at=T0 + timedelta(minutes=30)))
    session.commit()
    assert _subjects(_everything(session, "contact", ana.id, 5)) == ["mail 1", "mail 2"]
    # Code reading the copy through the ORM object it just created sees the database's.
    link = session.scalars(select(ActivityLink).where(ActivityLink.activity_id == first)).one()
    session.refresh(link)
    assert _aware(link.occurred_at) == T0 + timedelta(minutes=30)


def test_an_orm_link_reads_the_copied_time(session: Session) -> None:
    # The ORM gives a new link its activity's time; the object must not keep a None.
    acme, ana, _bo = _crm(session)
    activity = session.get(Activity, _mail(session, 1, minutes=7, contact=ana.id))
    assert _aware(activity.links[0].occurred_at) == T0 + timedelta(minutes=7)
    # A link added by id alone (its activity not loaded) is given the time too.
    session.commit()
    session.expunge_all()
    session.add(ActivityLink(activity_id=activity.id, account_id=acme.id, created_at=T0))
    session.commit()
    assert [a.subject for a in _everything(session, "account", acme.id, 5)] == ["mail 1"]


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC datetimes; PostgreSQL aware ones."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def test_account_timeline_includes_its_contacts_mail(session: Session) -> None:
    # An account's history is its own links and its contacts', merged newest first:
    # with many own links (the floor applies) and with few (it does not).
    acme, ana, bo = _crm(session)
    for n in range(6):
        _mail(session, n, minutes=10 * n, account=acme.id)  # 0, 10, ... 50
    _mail(session, 10, minutes=45, contact=ana.id)  # newer than the 3rd-newest own link
    _mail(session, 11, minutes=5, contact=bo.id)  # older than all but one
    session.commit()

    assert _subjects(_everything(session, "account", acme.id, 3)) == [
        "mail 5", "mail 10", "mail 4"]
    assert _subjects(_everything(session, "account", acme.id, 20)) == [
        "mail 5", "mail 10", "mail 4", "mail 3", "mail 2", "mail 1", "mail 11", "mail 0"]

    quiet = session.scalars(select(Account).where(Account.external_id == "acc-other")).one()
    zed = session.scalars(select(Contact).where(Contact.external_id == "c-zed")).one()
    for n in range(20, 25):
        _mail(session, n, minutes=n, contact=zed.id)
    session.commit()
    assert _subjects(_everything(session, "account", quiet.id, 3)) == [
        "mail 24", "mail 23", "mail 22"]


def _statements(session: Session) -> list[str]:
    seen: list[str] = []
    event.listen(session.get_bind(), "before_cursor_execute",
                 lambda _c, _cur, statement, *_: seen.append(statement))
    return seen


def test_lookup_statements_stay_flat_as_history_grows(session: Session) -> None:
    # 3 mails or 60, deals and emails included: the same few statements (no N+1).
    acme, ana, _bo = _crm(session)
    session.add_all([Opportunity(external_id=f"opp-{n}", name=f"Deal {n}", account=acme)
                     for n in range(3)])
    for n in range(3):
        _mail(session, n, minutes=n, contact=ana.id, account=acme.id)
    session.commit()
    seen = _statements(session)
    small = lookup_sender(session, "ana@acme.example", seen_by=None)
    count = len(seen)
    for n in range(3, 60):
        _mail(session, n, minutes=n, contact=ana.id, account=acme.id)
    session.commit()
    seen.clear()
    large = lookup_sender(session, "ana@acme.example", seen_by=None)
    assert len(seen) == count <= 4
    assert len(small["recent_activities"]) == 3 and len(large["recent_activities"]) == RECENT
    assert large["contact"]["emails"] == ["ana@acme.example"]
    assert large["account"]["external_id"] == "acc-acme" and len(large["opportunities"]) == 3


def test_lookup_lists_only_the_opportunities_the_viewer_may_see(session: Session) -> None:
    # A rep sees unowned deals and their own, not another rep's.
    acme, _ana, _bo = _crm(session)
    rita, sam = User(email="rita@northwind.example"), User(email="sam@northwind.example")
    session.add_all([rita, sam])
    session.flush()
    session.add_all([Opportunity(external_id="opp-mine", name="Mine", account=acme,
                                 owner_id=rita.id),
                     Opportunity(external_id="opp-sam", name="Sam's", account=acme,
                                 owner_id=sam.id),
                     Opportunity(external_id="opp-free", name="Free", account=acme)])
    session.commit()
    viewer = Viewer(rita.id, rita.email, "", "rep", None)
    shown = lookup_sender(session, "ana@acme.example", visible_opportunities(viewer), seen_by=None)
    assert sorted(o["external_id"] for o in shown["opportunities"]) == ["opp-free", "opp-mine"]
