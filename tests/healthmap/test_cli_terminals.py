"""``healthmap terminals``: register, rotate, revoke, list and card tokens on a store file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import healthmap.cli as cli
from service.settings import load_settings
from service.terminal_auth import card_token, derive_key, master_secret
from store.engine import make_engine
from store.terminals import Terminal


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "state", cli.State())


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "120"})


def test_terminal_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    master = master_secret(None, load_settings().auth.secret)
    r = _run("--db", url, "terminals", "register", "TM-C1", "--label", "一号机")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"TM-C1 {derive_key(master, 'TM-C1', 1)}"
    assert _run("--db", url, "terminals", "register", "TM-C1").exit_code == 1  # taken
    assert _run("--db", url, "terminals", "register", "TM C2").exit_code != 0
    monkeypatch.setattr(cli, "state", cli.State())
    r = _run("--db", url, "terminals", "rotate", "TM-C1")
    assert r.exit_code == 0 and r.stdout.strip().endswith(derive_key(master, "TM-C1", 2))
    r = _run("--db", url, "terminals", "revoke", "TM-C1")
    assert r.exit_code == 0, r.output
    assert _run("--db", url, "terminals", "rotate", "TM-C1").exit_code == 1  # revoked
    listed = json.loads(_run("--db", url, "terminals", "list", "--format", "json").stdout)
    assert [(t["terminal_id"], t["status"], t["key_generation"]) for t in listed] == [
        ("TM-C1", "revoked", 2)
    ]
    assert _run("--db", url, "terminals", "card", "R404").exit_code == 1  # no such resident
    with Session(make_engine(url)) as s:
        t = s.get(Terminal, "TM-C1")
        assert t is not None and t.label == "一号机" and t.revoked_at is not None
    assert card_token(master, "R1").startswith("R1.")
