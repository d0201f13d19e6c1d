"""Every model module, imported so ``Base.metadata`` holds the whole schema.

The core records live in :mod:`crmsync.crm.models`; a feature with tables of its
own adds a module beside it and one import line here.
"""

from crmsync.crm import (
    addin_models,  # noqa: F401
    graph_state,  # noqa: F401
    linking_models,  # noqa: F401
    support,  # noqa: F401
    templates,  # noqa: F401
)
from crmsync.crm.models import Base

__all__ = ["Base"]
