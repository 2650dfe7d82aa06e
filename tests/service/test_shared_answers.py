"""Answers shared by the workers through the store: a cold tile or page is computed once.

Two caches over one store stand for two uvicorn workers: the second takes from the store
what the first computed (its ``make`` is not called, the body is the same bytes); a key
of another data version is computed anew; old rows are pruned.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine

from service.caching import SharedAnswers
from service.tiles import api as tile_api
from service.tiles.cache import TILES, data_version
from service.tiles.tilemath import tiles_covering
from store.shared_answers import (
    answer_digest,
    load_answer,
    prune_shared_answers,
    save_answer,
)


def test_the_second_worker_takes_the_first_workers_answer(engine: Engine) -> None:
    first, second = SharedAnswers(8, engine), SharedAnswers(8, engine)
    made: list[str] = []

    def make(tag: str) -> bytes:
        made.append(tag)
        return f'{{"made_by": "{tag}"}}'.encode()

    key = (("build-7", "2026-12-07"), "page", "/api/v1/indicators", "level=grid", None)
    assert first.get_or_make(key, lambda: make("first")) == b'{"made_by": "first"}'
    assert second.get_or_make(key, lambda: make("second")) == b'{"made_by": "first"}'
    assert made == ["first"] and (first.shared, second.shared) == (0, 1)
    # In-process hits after that; a key of another build is computed again.
    assert second.get_or_make(key, lambda: make("second")) == b'{"made_by": "first"}'
    other = (("build-8", "2026-12-07"), *key[1:])
    assert second.get_or_make(other, lambda: make("second")) == b'{"made_by": "second"}'
    assert made == ["first", "second"]


def test_a_tile_rendered_by_one_worker_is_not_rendered_by_the_other(
    engine: Engine, county: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounds = tile_api._county_bounds(engine, data_version(engine))
    assert bounds is not None
    layer = "grid_indicators"
    spec = tile_api.get_layer(layer)
    assert spec.source is not None
    render = spec.source.render
    renders: list[tuple[int, int, int]] = []

    def counted(ctx: Any) -> bytes:
        renders.append((ctx.z, ctx.x, ctx.y))
        return render(ctx)

    monkeypatch.setattr(spec.source, "render", counted)
    z = max(spec.minzoom, 12)
    tiles = tiles_covering(tuple(bounds), z)  # type: ignore[arg-type]
    TILES.clear()
    bodies = [tile_api.tile(engine, layer, *t) for t in tiles]
    assert any(bodies) and len(renders) == len(tiles)
    TILES.clear()  # the other worker's own cache is empty
    assert [tile_api.tile(engine, layer, *t) for t in tiles] == bodies
    assert len(renders) == len(tiles)


def test_old_answers_are_pruned(engine: Engine) -> None:
    now = dt.datetime(2026, 12, 7, 6, tzinfo=dt.UTC)
    save_answer(engine, answer_digest(("old",)), b"1", now - dt.timedelta(days=3))
    save_answer(engine, answer_digest(("new",)), b"2", now)
    save_answer(engine, answer_digest(("new",)), b"other", now)  # kept as first stored
    assert prune_shared_answers(engine, now - dt.timedelta(days=2)) == 1
    assert load_answer(engine, answer_digest(("old",))) is None
    assert load_answer(engine, answer_digest(("new",))) == b"2"
