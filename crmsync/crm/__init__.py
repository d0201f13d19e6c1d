"""The CRM store: SQLAlchemy models (one module per concept), Alembic migrations, CSV import,
export shapes and the read queries the surfaces need. It knows records, not where they
came from beyond their source keys, and makes no link decisions (that is mapping/ and the
engine)."""
