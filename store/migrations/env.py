"""Alembic environment: the engine is handed in by ``store.engine.migrate``."""

from __future__ import annotations

from alembic import context

from store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        # Run by the ``alembic`` command itself: the URL comes from its own configuration
        # (``-x``-free: ``sqlalchemy.url`` in alembic.ini or ``--config``). The store does not
        # read the service's settings (it sits below them).
        from store.engine import make_engine

        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError(
                "no engine handed in and no sqlalchemy.url configured; run "
                "`healthmap db upgrade` (it hands the store's engine to Alembic)"
            )
        engine = make_engine(url)
    with engine.begin() as connection:
        version_schema: str | None = None
        if connection.dialect.name == "postgresql":
            # A county partition (store.counties) reaches its schema first on the search
            # path, then public; its version table must be its own, or Alembic would read
            # the root's (public.alembic_version, at head) and create nothing here.
            schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
            if schema and schema != "public":
                version_schema = str(schema)
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            version_table_schema=version_schema,
        )
        context.run_migrations()


run_migrations_online()
