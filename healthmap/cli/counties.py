"""``healthmap counties``: the counties of a province deployment (docs/province.md).

Each county works in its own partition of the store (``healthmap --county 370725
ingest …``, ``build``, ``users add``…); these commands keep the root store's registry
and publish a county's current build for the province.
"""

from __future__ import annotations

from typing import Annotated

import typer

from healthmap.cli.common import FormatOption, current_state
from healthmap.cli.output import console, emit_frame

counties_app = typer.Typer(
    help="The counties of a province deployment (each in its own partition).",
    no_args_is_help=True,
)


@counties_app.command("add")
def counties_add(
    code: Annotated[str, typer.Argument(help="The county's 6- or 12-digit code (370725).")],
    name: Annotated[str, typer.Option(help="The county's name (昌乐县).")],
    city_name: Annotated[
        str | None, typer.Option("--city-name", help="Its city's name (潍坊市).")
    ] = None,
) -> None:
    """Register a county and make its partition (its schema on PostGIS, its file on SQLite)."""
    from geo.vocabulary import city_code_of
    from store.counties import county_code12, open_partition
    from store.province import register_county

    try:
        code12 = county_code12(code)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    state = current_state()
    root = state.root_engine()
    open_partition(state.settings.database_url, code12).dispose()
    register_county(root, code12, name, city_code_of(code12), city_name, partitioned=True)
    console.print(f"county {code12} {name} registered; work in it with --county {code12[:6]}")


@counties_app.command("list")
def counties_list(fmt: FormatOption = "table") -> None:
    """The registered counties and what each last published."""
    from store.province import counties, publications

    root = current_state().root_engine()
    frame = counties(root).merge(publications(root), on="county_code", how="left")
    emit_frame(frame, fmt, title="counties")


@counties_app.command("publish")
def counties_publish() -> None:
    """Publish the ``--county`` county's current build for the province (``build`` does it
    after each build; this repeats it, e.g. after registering the county's city name)."""
    from healthmap.cli.data import publish

    publish(current_state())


@counties_app.command("remove")
def counties_remove(
    code: Annotated[str, typer.Argument(help="The county's code.")],
    drop: Annotated[
        bool, typer.Option("--drop", help="Also delete its partition and every row in it.")
    ] = False,
) -> None:
    """Unregister a county and withdraw what it published (``--drop``: its data too)."""
    from store.counties import county_code12, drop_partition
    from store.province import unregister_county

    code12 = county_code12(code)
    root = current_state().root_engine()
    unregister_county(root, code12)
    if drop:
        drop_partition(root, code12)
    console.print(f"county {code12} removed" + (" with its partition" if drop else ""))
