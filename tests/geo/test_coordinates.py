"""Datum transforms and ID-number helpers of :mod:`geo.coordinates`."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyproj import Geod

from geo import coordinates as co

GEOD = Geod(ellps="WGS84")
# Points in and around Shouguang (lng, lat).
LNG = np.array([118.79, 118.55, 119.05, 118.70, 118.95])
LAT = np.array([36.86, 36.70, 37.05, 37.10, 36.65])


def test_gcj02_round_trip_is_exact() -> None:
    glng, glat = co.wgs84_to_gcj02(LNG, LAT)
    wlng, wlat = co.gcj02_to_wgs84(glng, glat)
    assert np.max(np.abs(wlng - LNG)) < 1e-8
    assert np.max(np.abs(wlat - LAT)) < 1e-8


def test_bd09_round_trip_is_exact() -> None:
    blng, blat = co.wgs84_to_bd09(LNG, LAT)
    wlng, wlat = co.bd09_to_wgs84(blng, blat)
    assert np.max(np.abs(wlng - LNG)) < 1e-8
    assert np.max(np.abs(wlat - LAT)) < 1e-8
    glng, glat = co.bd09_to_gcj02(*co.gcj02_to_bd09(LNG, LAT))
    assert np.max(np.abs(glng - LNG)) < 1e-8
    assert np.max(np.abs(glat - LAT)) < 1e-8


def test_offsets_near_shouguang_are_hundreds_of_metres() -> None:
    glng, glat = co.wgs84_to_gcj02(LNG, LAT)
    _, _, dist = GEOD.inv(LNG, LAT, glng, glat)
    assert np.all((dist > 200) & (dist < 900)), dist
    blng, blat = co.wgs84_to_bd09(LNG, LAT)
    _, _, dist_bd = GEOD.inv(LNG, LAT, blng, blat)
    # Baidu adds roughly another kilometre on top of GCJ-02.
    assert np.all((dist_bd > 700) & (dist_bd < 2000)), dist_bd


def test_outside_china_passes_through_gcj02() -> None:
    lng, lat = co.wgs84_to_gcj02([2.35, -74.0], [48.85, 40.7])
    assert lng.tolist() == [2.35, -74.0]
    assert lat.tolist() == [48.85, 40.7]


def test_scalars_broadcasting_and_nan() -> None:
    lng, lat = co.wgs84_to_gcj02(118.79, 36.86)
    assert lng.shape == () and lat.shape == ()
    lng2, _ = co.gcj02_to_wgs84(np.array([118.79, np.nan]), np.array([36.86, np.nan]))
    assert np.isnan(lng2[1]) and abs(lng2[0] - 118.79) < 0.01


@pytest.mark.parametrize("src", ["wgs84", "gcj02", "bd09", "CGCS2000", "GCJ-02", ""])
def test_convert_dispatch(src: str) -> None:
    lng, lat = co.convert(LNG, LAT, "wgs84", src)
    back_lng, back_lat = co.convert(lng, lat, src, "wgs84")
    assert np.max(np.abs(back_lng - LNG)) < 1e-8
    assert np.max(np.abs(back_lat - LAT)) < 1e-8


def test_convert_rejects_unknown_system() -> None:
    with pytest.raises(ValueError):
        co.convert(LNG, LAT, "utm50", "wgs84")


def test_id_checksum_known_number() -> None:
    # The standard's worked example.
    assert co.id_checksum_char("11010519491231002") == "X"
    assert co.is_valid_id_number("11010519491231002X")
    assert co.is_valid_id_number("11010519491231002x")
    assert not co.is_valid_id_number("110105194912310021")
    assert not co.is_valid_id_number("11010519491331002X")  # month 13
    assert not co.is_valid_id_number(None)
    assert not co.is_valid_id_number("1101051949123100")


def test_make_and_parse_id_number() -> None:
    birth = dt.date(1957, 3, 9)
    male = co.make_id_number("370783", birth, 122, 1)
    female = co.make_id_number(370783, birth, 122, 2)
    assert co.is_valid_id_number(male) and co.is_valid_id_number(female)
    assert int(male[16]) % 2 == 1 and int(female[16]) % 2 == 0
    assert male.startswith("37078319570309")
    assert co.parse_id_number(male) == (birth, 1)
    assert co.parse_id_number(female) == (birth, 2)
    assert co.parse_id_number(male[:17] + ("0" if male[17] != "0" else "1")) is None
    with pytest.raises(ValueError):
        co.make_id_number("370783", birth, 1000, 1)


def test_vectorised_checksums_agree_with_scalar() -> None:
    rng = np.random.default_rng(1)
    bodies = [
        f"370783{y}{m:02d}{d:02d}{s:03d}"
        for y, m, d, s in zip(
            rng.integers(1930, 2020, 200),
            rng.integers(1, 13, 200),
            rng.integers(1, 29, 200),
            rng.integers(0, 1000, 200),
            strict=True,
        )
    ]
    as_int = np.array([int(b) for b in bodies], dtype=np.int64)
    scalar = [co.id_checksum_char(b) for b in bodies]
    assert co.id_checksum_chars(as_int).tolist() == scalar
    assert co.id_checksum_chars(np.array(bodies)).tolist() == scalar
    full = [b + c for b, c in zip(bodies, scalar, strict=True)]
    wrong = [b + ("1" if c != "1" else "2") for b, c in zip(bodies, scalar, strict=True)]
    assert co.valid_id_numbers(full).all()
    assert not co.valid_id_numbers(wrong).any()
    assert co.valid_id_numbers([None, "abc", full[0]]).tolist() == [False, False, True]
