"""The store: SQLAlchemy 2 models (one metadata), engine and Alembic migrations."""

# Importing every model module registers its tables on the one ``Base.metadata``.
from store import accounts, models, results, worklists  # noqa: F401
