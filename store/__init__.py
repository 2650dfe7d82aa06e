"""The store: SQLAlchemy 2 models (one metadata), engine and Alembic migrations."""

# Importing every model module registers its tables on the one ``Base.metadata``.
from store import (  # noqa: F401
    accounts,
    education,
    jobs,
    list_snapshots,
    live_events,
    models,
    outbox,
    province,
    resident_accounts,
    results,
    shared_answers,
    terminals,
    version,
    worklists,
)
