"""Every model module, imported so ``Base.metadata`` holds the whole schema.

The core records live in :mod:`crmsync.crm.models`; a concept with tables of its
own adds a module beside it and one import line here.
"""

from crmsync.crm import (
    audit,  # noqa: F401
    bookings,  # noqa: F401
    case_numbers,  # noqa: F401
    contact_publishing,  # noqa: F401
    feeds,  # noqa: F401
    followups,  # noqa: F401
    links,  # noqa: F401
    meetings,  # noqa: F401
    privacy,  # noqa: F401
    subscriptions,  # noqa: F401
    support,  # noqa: F401
    templates,  # noqa: F401
    work_hours,  # noqa: F401
)
from crmsync.crm.models import Base

__all__ = ["Base"]
