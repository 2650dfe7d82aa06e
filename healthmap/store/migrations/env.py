"""Alembic environment: the engine is handed in by ``healthmap.store.engine.migrate``."""

from __future__ import annotations

from alembic import context

from healthmap.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from healthmap.settings import load_settings
        from healthmap.store.engine import make_engine

        engine = make_engine(load_settings().database_url)
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        context.run_migrations()


run_migrations_online()
