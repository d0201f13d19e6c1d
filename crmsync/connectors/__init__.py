"""Connectors: provider I/O only, yielding the records of :mod:`crmsync.connectors.base`.

Provider modules are imported lazily through :mod:`crmsync.connectors.registry`.
"""
