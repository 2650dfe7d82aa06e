"""The JSON access log: on by default, stderr and a rotating file, no personal data."""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from svc_county import SECRET_NAME, SECRET_PHONE
from svc_helpers import make_settings

from service.access_log import (
    ACCESS_LOGGER,
    SharedRotatingFileHandler,
    access_log_path,
    configure_access_log,
)
from service.settings import ServiceSettings, Settings

ID_NUMBER = "37078319900101123X"
FIELDS = {
    "event",
    "at",
    "method",
    "path",
    "query",
    "status",
    "duration_ms",
    "user",
    "role",
    "client",
    "request_id",
    "county",
}


@pytest.fixture(autouse=True)
def detach_access_log() -> Iterator[None]:
    """The handlers are the process's: leave none behind for the other tests."""
    yield
    configure_access_log(make_settings())


def test_access_log_is_on_by_default() -> None:
    defaults = ServiceSettings()
    assert defaults.access_log is True and defaults.access_log_file == "access.log"
    settings = Settings(data_dir=Path("/srv/hm"))
    assert access_log_path(settings) == Path("/srv/hm/access.log")


def test_n_requests_are_n_json_lines_without_personal_data(
    make_client: Callable[..., TestClient],
    county: Any,
    auth: dict[str, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = tmp_path / "logs"
    client = make_client(data_dir=data_dir, service={"access_log": True})
    requests: list[tuple[str, dict[str, str]]] = [
        ("/api/v1/residents/R01", auth["doctor1"]),  # 200, a record with the secret name
        ("/api/v1/residents/R04", auth["doctor1"]),  # 404, another team's resident
        (f"/api/v1/residents/{ID_NUMBER}", auth["doctor1"]),  # an ID number as the id
        (f"/api/v1/teams/T01/pushlist?name={SECRET_NAME}&q={SECRET_PHONE}", auth["doctor1"]),
        (f"/no/such/{ID_NUMBER}?name={SECRET_NAME}", {}),  # unmatched
        ("/api/v1/admin/users", auth["doctor1"]),  # 403
        ("/auth/me", {"Authorization": "Bearer forged"}),  # 401
    ]
    statuses = [client.get(url, headers=headers).status_code for url, headers in requests]
    assert statuses[:2] == [200, 404] and statuses[-2:] == [403, 401]

    text = (data_dir / "access.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == len(requests)
    for line in lines:
        assert set(line) == FIELDS
        assert line["event"] == "access" and line["method"] == "GET"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert line["client"] == "testclient" and len(line["request_id"]) == 36
        assert line["county"] is None  # the root store's app (a single county)
    assert [line["status"] for line in lines] == statuses
    assert lines[0]["path"] == "/api/v1/residents/{resident_id}"
    assert (lines[0]["user"], lines[0]["role"]) == (lines[1]["user"], "doctor")
    assert isinstance(lines[0]["user"], int)
    assert lines[3]["path"] == "/api/v1/teams/{team_id}/pushlist"
    assert lines[3]["query"] == ["name", "q"]
    assert lines[4]["path"] == "/no/such/*" and lines[4]["user"] is None
    assert lines[6]["user"] is None and lines[6]["role"] is None
    for personal in (SECRET_NAME, SECRET_PHONE, ID_NUMBER, "R01", "R04", "doctor1"):
        assert personal not in text
    # The same lines went to stderr.
    err = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert [e["request_id"] for e in err if e.get("event") == "access"] == [
        line["request_id"] for line in lines
    ]


def test_off_attaches_nothing_and_propagates(tmp_path: Path) -> None:
    on = make_settings(data_dir=tmp_path, service={"access_log": True})
    assert len(configure_access_log(on)) == 2
    logger = logging.getLogger(ACCESS_LOGGER)
    assert logger.propagate is False
    assert len(configure_access_log(on)) == 2 and len(logger.handlers) == 2  # replaced
    stderr_only = make_settings(service={"access_log": True, "access_log_file": ""})
    assert [type(h) for h in configure_access_log(stderr_only)] == [logging.StreamHandler]
    assert configure_access_log(make_settings()) == []
    assert logger.handlers == [] and logger.propagate is True


def _write_lines(path: Path, worker: int, count: int) -> None:
    handler = SharedRotatingFileHandler(path, max_bytes=5000, backups=1000)
    for i in range(count):
        line = json.dumps({"w": worker, "n": i, "pad": "x" * 40})
        handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
    handler.close()


def test_two_worker_processes_rotate_one_file_without_losing_lines(tmp_path: Path) -> None:
    """Two processes write and rotate one file at once: every line is kept, once.

    (The standard RotatingFileHandler lost ~7 % of the lines here: each process renamed
    the file under the other.)
    """
    path = tmp_path / "access.log"
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=_write_lines, args=(path, w, 1500)) for w in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    files = [f for f in tmp_path.glob("access.log*") if not f.name.endswith(".lock")]
    assert len(files) > 10  # it did rotate, many times
    seen = [json.loads(x) for f in files for x in f.read_text().splitlines()]
    assert sorted((s["w"], s["n"]) for s in seen) == [(w, n) for w in (0, 1) for n in range(1500)]
    assert all(f.stat().st_size <= 5000 for f in files)
