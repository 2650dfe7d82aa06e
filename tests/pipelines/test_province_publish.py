"""A county publishes its aggregates for the province (pipelines.province), hand-made rows."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from pipelines.province import map_features, publish_county, ranking
from store.counties import open_partition
from store.models import Area
from store.province import counties, published_values
from store.results import CURRENT_BUILD_NAME, Build, BuildCurrent, IndicatorValue

D = dt.date(2026, 6, 30)


def _county(engine: Engine, code6: str, build_id: int, towns: dict[str, tuple]) -> None:
    """A county of two square towns, its build ``build_id`` current, and indicator rows."""
    county = f"{code6}000000"
    boxes = {t: shapely.box(118 + i, 36, 118.5 + i, 36.5) for i, t in enumerate(towns)}
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as s:
        s.add(
            Area(
                area_code=county,
                name=f"县{code6}",
                level="county",
                geom=shapely.union_all(list(boxes.values())),
            )
        )
        for town, box in boxes.items():
            s.add(
                Area(
                    area_code=town,
                    name=f"镇{town[6:9]}",
                    level="town",
                    parent_code=county,
                    geom=box,
                )
            )
        s.add(Build(build_id=build_id, as_of=D, started_at=now, finished_at=now, status="ready"))
        s.add(BuildCurrent(name=CURRENT_BUILD_NAME, build_id=build_id))
        s.commit()
    rows = [("county", county, 40.0, 100.0, 0.4, False, None)]
    rows += [("town", t, *v) for t, v in towns.items()]
    rows.append(("village", f"{code6}001001", 1.0, 3.0, None, True, "denominator_below_k"))
    with engine.begin() as conn:
        conn.execute(
            insert(IndicatorValue),
            [
                {
                    "build_id": build_id,
                    "period": D,
                    "level": level,
                    "unit_id": unit,
                    "indicator": "signing_rate",
                    "numerator": num,
                    "denominator": den,
                    "value": value,
                    "suppressed": sup,
                    "suppression_reason": reason,
                }
                for level, unit, num, den, value, sup, reason in rows
            ],
        )


def test_publish_sends_only_county_and_town_aggregates_without_what_is_hidden(
    store: Engine, store_url: str
) -> None:
    part = open_partition(store_url, "370725")
    try:
        # Town 1: shown. Town 2: a count below k — the build kept its numerator; it must not
        # leave the county. (Town 2's denominator, >= k, may.)
        _county(
            part,
            "370725",
            7,
            {
                "370725001000": (36.0, 90.0, 0.4, False, None),
                "370725002000": (4.0, 10.0, None, True, "count_below_k"),
            },
        )
        done = publish_county(part, store, city_name="潍坊市")
    finally:
        part.dispose()
    assert done == {"county_code": "370725000000", "build_id": 7, "rows": 3, "shapes": 3}
    assert counties(store)[["county_code", "name", "city_code", "city_name"]].values.tolist() == [
        ["370725000000", "县370725", "370700000000", "潍坊市"]
    ]
    towns = published_values(store, "signing_rate", D, "town").set_index("unit_id")
    assert towns.loc["370725001000", "value"] == pytest.approx(0.4)
    hidden = towns.loc["370725002000"]
    assert hidden["suppressed"] and hidden["suppression_reason"] == "count_below_k"
    assert pd.isna(hidden["value"]) and pd.isna(hidden["numerator"])
    assert hidden["denominator"] == 10.0
    assert published_values(store, "signing_rate", D, "village").empty  # never published
    features = map_features(store, "signing_rate", D, "370725000000")
    assert sorted(f["id"] for f in features) == ["370725001000", "370725002000"]
    assert next(f for f in features if f["id"] == "370725002000")["properties"]["value"] is None


def test_republishing_one_county_leaves_the_other(store: Engine, store_url: str) -> None:
    a = open_partition(store_url, "370783")
    b = open_partition(store_url, "370725")
    try:
        _county(a, "370783", 1, {"370783001000": (20.0, 50.0, 0.4, False, None)})
        _county(b, "370725", 1, {"370725001000": (9.0, 30.0, 0.3, False, None)})
        publish_county(a, store)
        publish_county(b, store)
        before = ranking(store, "signing_rate", D)["counties"]
        # Changle's new build: its county figure changes to 60 of 100.
        with b.begin() as conn:
            conn.execute(
                IndicatorValue.__table__.update()
                .where(IndicatorValue.level == "county")
                .values(numerator=60.0, value=0.6)
            )
        publish_county(b, store)
    finally:
        a.dispose()
        b.dispose()
    after = ranking(store, "signing_rate", D)
    ranked = after["counties"].set_index("county_code")
    assert (
        ranked.loc["370783000000", "value"]
        == before.set_index("county_code").loc["370783000000", "value"]
    )
    assert ranked.loc["370725000000", "value"] == pytest.approx(0.6)
    assert ranked.loc["370725000000", "rank"] == 1
    city = after["above"].set_index("level").loc["city"]
    assert city["value"] == pytest.approx((40 + 60) / 200)


def test_a_county_alone_publishes_for_itself_without_becoming_a_partition(
    store: Engine, store_url: str
) -> None:
    """A single-county store publishes into itself (its province page shows it) and is
    registered without a partition: the service starts no county app for it and its
    log-in page shows no county picker."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import load_settings

    _county(store, "370783", 3, {"370783001000": (20.0, 50.0, 0.4, False, None)})
    publish_county(store, store)
    registry = counties(store)
    assert registry[["county_code", "partitioned"]].values.tolist() == [["370783000000", False]]
    assert counties(store, partitioned_only=True).empty
    assert not ranking(store, "signing_rate", D)["counties"].empty
    service = {"allowed_hosts": ("testserver",), "access_log": False}
    app = create_app(load_settings(database_url=store_url, service=service), store)
    app.state.scheduler_enabled = False
    with TestClient(app) as client:
        assert app.state.county_apps == {}
        assert client.get("/api/v1/counties").json() == []
