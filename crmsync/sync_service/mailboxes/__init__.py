"""Mailbox connections: sealed credentials, the lease that keeps two workers off one
mailbox, and building a mailbox's connector; below both the engine and the support
outbox."""
