"""How long the follow-up check and the accounts report take at a sales team's scale.

Writes a synthetic CRM straight into a fresh SQLite database (reps, 40 accounts each with
5 contacts, customer mail over the last 30 days of which ``--answered`` got a reply in the
thread, each linked to its account), then times :func:`crmsync.crm.followups.open_followups`
(what ``crmsync followups`` and the scheduler's check run) and
:func:`crmsync.crm.signals.accounts_report` (``crmsync report accounts``)::

    python -m bench.followups --reps 20 --mails 20000
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from crmsync.crm.db import make_engine, make_sessionmaker, upgrade_schema
from crmsync.crm.followups import open_followups
from crmsync.crm.links import ActivityThreadKey
from crmsync.crm.models import (
    Account,
    Activity,
    ActivityLink,
    ActivityParticipant,
    Contact,
    ContactEmail,
    User,
)
from crmsync.crm.signals import accounts_report

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
ACCOUNTS, CONTACTS = 40, 5


def _crm(connection, reps: int) -> int:
    connection.execute(insert(User), [{"id": r + 1, "email": f"rep{r}@nw.example", "name": "",
                                       "role": "rep"} for r in range(reps)])
    connection.execute(insert(Account), [
        {"id": a + 1, "external_id": f"a{a}", "name": f"A{a}", "owner_id": a % reps + 1}
        for a in range(reps * ACCOUNTS)])
    people = reps * ACCOUNTS * CONTACTS
    connection.execute(insert(Contact), [
        {"id": i + 1, "external_id": f"c{i}", "account_id": i // CONTACTS + 1, "first_name": "",
         "last_name": "", "phone": "", "title": ""} for i in range(people)])
    connection.execute(insert(ContactEmail), [
        {"id": i + 1, "contact_id": i + 1, "address": f"c{i}@cust.example"}
        for i in range(people)])
    return people


def _mail(rows: dict[str, list], activity_id: int, key: str, at: datetime, account: int,
          direction: str) -> None:
    rows["activities"].append({
        "id": activity_id, "kind": "email", "dedupe_key": f"k{activity_id}",
        "internet_message_id": key, "conversation": key if direction == "inbound" else "",
        "subject": "s", "occurred_at": at, "direction": direction, "created_at": NOW,
        "sensitivity": "normal"})
    rows["links"].append({"activity_id": activity_id, "account_id": account, "reason": "",
                          "confidence": 1.0, "source": "auto", "created_at": NOW,
                          "occurred_at": at})
    rows["keys"].append({"activity_id": activity_id, "key": key})


def populate(url: str, reps: int, mails: int, answered: float) -> int:
    """Write the synthetic CRM; return the number of activities."""
    engine = make_engine(url)
    upgrade_schema(engine)
    rnd = random.Random(1)
    rows: dict[str, list] = {"activities": [], "participants": [], "keys": [], "links": []}
    with engine.begin() as connection:
        people = _crm(connection, reps)
        next_id = 0
        for n in range(mails):
            contact = rnd.randrange(people)
            account, rep = contact // CONTACTS + 1, (contact // CONTACTS) % reps
            at = NOW - timedelta(minutes=rnd.randrange(60 * 24 * 30))
            next_id += 1
            _mail(rows, next_id, f"<m{n}@x>", at, account, "inbound")
            rows["participants"] += [
                {"activity_id": next_id, "address": f"c{contact}@cust.example", "role": "from",
                 "name": ""},
                {"activity_id": next_id, "address": f"rep{rep}@nw.example", "role": "to",
                 "name": ""}]
            if rnd.random() < answered:
                next_id += 1
                _mail(rows, next_id, f"<r{n}@x>", at + timedelta(hours=2), account, "outbound")
                rows["activities"][-1]["conversation"] = f"<m{n}@x>"
                rows["keys"].append({"activity_id": next_id, "key": f"ref:<m{n}@x>"})
        for model, name in ((Activity, "activities"), (ActivityParticipant, "participants"),
                            (ActivityThreadKey, "keys"), (ActivityLink, "links")):
            connection.execute(insert(model), rows[name])
    engine.dispose()
    return len(rows["activities"])


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--mails", type=int, default=20000, help="customer mails")
    parser.add_argument("--answered", type=float, default=0.8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        activities = populate(url, args.reps, args.mails, args.answered)
        engine = make_engine(url)
        with make_sessionmaker(engine)() as session:
            start = time.perf_counter()
            found = open_followups(session, NOW)
            followups_s = time.perf_counter() - start
            start = time.perf_counter()
            report = accounts_report(session, NOW)
            report_s = time.perf_counter() - start
        engine.dispose()
    print("| reps | accounts | activities | follow-ups | open_followups s | accounts_report s |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {args.reps} | {len(report)} | {activities} | {len(found)} | {followups_s:.2f} "
          f"| {report_s:.2f} |")
    print(f"follow-ups per second: {len(found) / followups_s:.0f}")
    return {"followups": len(found), "followups_s": followups_s, "report_s": report_s}


if __name__ == "__main__":
    main()
