"""Connector tests against real servers (Dovecot) and real mail corpora."""
