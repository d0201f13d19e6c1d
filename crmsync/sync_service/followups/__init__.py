"""Follow-ups for reps, as a duty of the running service: alert each overdue one once.

The rule is :mod:`crmsync.crm.followups`; here the scheduler's duty
(:func:`run_followup_duty`, beside the support desk's SLA check) and ``crmsync followups
check`` raise an alert per (rep, mail) that never repeats, and hand it to the alert path
(:func:`.alerts.send_followup_alert`).
"""

from crmsync.sync_service.followups.alerts import check_followups, run_followup_duty

__all__ = ["check_followups", "run_followup_duty"]
