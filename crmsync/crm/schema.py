"""Every model module, imported so ``Base.metadata`` holds the whole schema.

The core records live in :mod:`crmsync.crm.models`; a feature with tables of its
own adds a module beside it and one import line here.
"""

from crmsync.crm import templates  # noqa: F401
from crmsync.crm.models import Base

__all__ = ["Base"]
