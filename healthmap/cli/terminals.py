"""Smart terminals from the command line: register, list, rotate, revoke, card tokens.

The same store functions as the admin endpoints (``store.terminals``) and the same key
derivation (``service.terminal_auth``); docs/terminals.md. A key is printed once, when it
is made (register, rotate).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from healthmap.cli.common import DbOption, FormatOption, current_state, session
from healthmap.cli.output import console, emit_frame, out

terminals_app = typer.Typer(help="Smart measuring terminals (admin).", no_args_is_help=True)


def _master() -> bytes:
    from service.terminal_auth import master_secret

    settings = current_state().settings
    return master_secret(settings.terminals.key_secret, settings.auth.secret)


def _audit(db_session: object, op: str, terminal_id: str) -> None:
    from service.audit import record_audit

    record_audit(
        db_session,  # type: ignore[arg-type]
        action="admin",
        endpoint="cli",
        resource_type="terminal",
        resource_id=terminal_id,
        detail={"op": op},
    )


@terminals_app.command("register")
def register(
    terminal_id: str,
    facility: Annotated[str | None, typer.Option(help="Facility id it stands in.")] = None,
    label: Annotated[str | None, typer.Option(help="A name people recognise.")] = None,
    db: DbOption = None,
) -> None:
    """Register a terminal and print its key (shown this once)."""
    from service.terminal_auth import TERMINAL_ID_PATTERN, derive_key
    from store.models import Facility
    from store.terminals import add_terminal

    if not TERMINAL_ID_PATTERN.fullmatch(terminal_id):
        raise typer.BadParameter("1–60 of A-Z a-z 0-9 . _ - (first: a letter or digit)")
    with session(db) as db_session:
        if facility is not None and db_session.get(Facility, facility) is None:
            raise typer.BadParameter(f"no facility {facility} in the store")
        t = add_terminal(
            db_session, terminal_id, dt.datetime.now(dt.UTC), facility_id=facility, label=label
        )
        _audit(db_session, "register", terminal_id)
        key = derive_key(_master(), t.terminal_id, t.key_generation)
    out.print(f"{terminal_id} {key}", markup=False, highlight=False)


@terminals_app.command("rotate")
def rotate(terminal_id: str, db: DbOption = None) -> None:
    """Give a terminal a new key (printed once); the old key is refused at once."""
    from geo.errors import NotFoundError
    from service.terminal_auth import derive_key
    from store.terminals import get_terminal, rotate_key

    with session(db) as db_session:
        t = get_terminal(db_session, terminal_id)
        if t is None:
            raise NotFoundError(f"No terminal {terminal_id}.")
        generation = rotate_key(db_session, t, dt.datetime.now(dt.UTC))
        _audit(db_session, "rotate", terminal_id)
    key = derive_key(_master(), terminal_id, generation)
    out.print(f"{terminal_id} {key}", markup=False, highlight=False)


@terminals_app.command("revoke")
def revoke_cmd(terminal_id: str, db: DbOption = None) -> None:
    """Revoke a terminal: its requests are refused from now on."""
    from geo.errors import NotFoundError
    from store.terminals import get_terminal, revoke

    with session(db) as db_session:
        t = get_terminal(db_session, terminal_id)
        if t is None:
            raise NotFoundError(f"No terminal {terminal_id}.")
        if revoke(db_session, t, dt.datetime.now(dt.UTC)):
            _audit(db_session, "revoke", terminal_id)
    console.print(f"revoked {terminal_id}")


@terminals_app.command("list")
def list_cmd(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """Registered terminals (never keys)."""
    import pandas as pd

    from store.terminals import list_terminals

    cols = ["terminal_id", "facility_id", "label", "status", "key_generation", "last_seen_at"]
    with session(db) as db_session:
        rows, _ = list_terminals(db_session, limit=1_000_000)
        frame = pd.DataFrame([{c: getattr(r, c) for c in cols} for r in rows], columns=cols)
    emit_frame(frame, fmt, title="terminals")


@terminals_app.command("card")
def card(resident_id: str, db: DbOption = None) -> None:
    """Print a resident's card/QR token (for the resident's card)."""
    from geo.errors import NotFoundError
    from service.terminal_auth import card_token
    from store.models import Resident

    with session(db) as db_session:
        if db_session.get(Resident, resident_id) is None:
            raise NotFoundError(f"No resident {resident_id}.")
    out.print(card_token(_master(), resident_id), markup=False, highlight=False)
