"""The ``healthmap`` command: one front door to the pipelines, the spatial core and the service.

Commands import their machinery lazily so that ``healthmap --help`` answers at once.
Settings come from the environment (``HEALTHMAP_*``) once, in the callback; ``--db``
overrides ``HEALTHMAP_DATABASE_URL``.

The commands live by concern: :mod:`.data` (sample, ingest, quarantine, db, build),
:mod:`.results` (indicators, hotspots, burden, alerts, vaccination targets), :mod:`.care`
(push lists, routes, the risk model) and :mod:`.admin` (serve, users, audit, demo,
settings). They reach the running command's :class:`State` as ``healthmap.cli.state``
(:func:`.common.current_state`), so a test can swap it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from healthmap.cli import admin, care, data, reports, results
from healthmap.cli import terminals as terminal_commands
from healthmap.cli.common import CountyOption, DbOption
from healthmap.cli.counties import counties_app
from healthmap.cli.output import emit_frame

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from service.settings import Settings

app = typer.Typer(
    help="healthmap — geospatial health-map analytics for county health bureaus (智慧健康地图).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


class State:
    """What the callback resolved for the command that runs."""

    def __init__(self) -> None:
        self.db: str | None = None
        self.county: str | None = None
        self._settings: Settings | None = None
        self._engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from service.settings import load_settings

            overrides: dict[str, Any] = {"database_url": self.db} if self.db else {}
            if self.county:
                overrides["county"] = self.county
            self._settings = load_settings(**overrides)
        return self._settings

    def engine(self, *, migrate: bool = True) -> Engine:
        """The store's engine, its schema brought up to date first."""
        if self._engine is None:
            from store.counties import open_partition
            from store.engine import make_engine
            from store.engine import migrate as run_migrations

            settings = self.settings
            if settings.county is not None:
                # A county's partition: made (its schema or file) when first used.
                self._engine = open_partition(
                    settings.database_url, settings.county, migrated=migrate
                )
            else:
                self._engine = make_engine(settings.database_url)
                if migrate:
                    run_migrations(self._engine)
        return self._engine

    def root_engine(self) -> Engine:
        """The deployment's root store (the store itself when no ``--county`` is given):
        the county registry and the aggregates the counties publish."""
        if self.settings.county is None:
            return self.engine()
        from store.engine import make_engine, migrate

        engine = make_engine(self.settings.database_url)
        migrate(engine)
        return engine


state = State()


@app.callback()
def main(db: DbOption = None, county: CountyOption = None) -> None:
    """Resolve settings once for the command that follows."""
    state.db = db
    state.county = county


# The commands, in the order ``healthmap --help`` lists them, then the sub-apps.
app.command()(data.sample)
app.command()(data.ingest)
app.command()(data.build)
app.command()(results.indicators)
app.command()(results.hotspots)
app.command()(results.burden)
app.command()(results.alerts)
app.command("vaccination-targets")(results.vaccination_targets)
app.command()(care.route)
app.command()(admin.serve)
app.command()(admin.audit)
app.command()(admin.demo)
app.command("settings")(admin.show_settings)
app.add_typer(data.quarantine_app, name="quarantine")
app.add_typer(admin.users_app, name="users")
app.add_typer(data.db_app, name="db")
app.add_typer(care.pushlist_app, name="pushlist")
app.add_typer(care.model_app, name="model")
app.add_typer(reports.report_app, name="report")
app.add_typer(terminal_commands.terminals_app, name="terminals")
app.add_typer(counties_app, name="counties")

__all__ = ["State", "app", "emit_frame", "main", "run", "state"]


def run() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
