"""Approximate village, grid and town polygons from village seats (hand-built cases)."""

from __future__ import annotations

import pytest
import shapely

from geo.approx_polygons import union_by, village_cells

#: Four seats on a 2 × 2 square; the county is the square from (0, 0) to (2, 2).
SEATS = {"V1": (0.5, 0.5), "V2": (1.5, 0.5), "V3": (0.5, 1.5), "V4": (1.5, 1.5)}
COUNTY = shapely.box(0, 0, 2, 2)


def test_cells_tile_the_county_one_quadrant_per_seat() -> None:
    cells = village_cells(SEATS, COUNTY)
    assert set(cells) == set(SEATS)
    # By symmetry each cell is the unit square around its seat.
    assert cells["V1"].equals(shapely.box(0, 0, 1, 1))
    assert cells["V4"].equals(shapely.box(1, 1, 2, 2))
    assert shapely.union_all(list(cells.values())).equals(COUNTY)
    assert sum(c.area for c in cells.values()) == pytest.approx(4.0)
    for code, (x, y) in SEATS.items():
        assert cells[code].contains(shapely.Point(x, y))


def test_without_an_outline_the_hull_is_buffered_by_half_the_spacing() -> None:
    cells = village_cells(SEATS)
    # Seats 1 apart: hull [0.5, 1.5]² buffered by 0.5 → reaches 0 and 2 on every side.
    whole = shapely.union_all(list(cells.values()))
    assert whole.bounds == pytest.approx((0.0, 0.0, 2.0, 2.0))
    assert whole.area == pytest.approx(1 + 4 * 0.5 + 3.14159 * 0.25, rel=1e-2)


def test_grids_and_towns_are_unions_of_their_villages() -> None:
    cells = village_cells(SEATS, COUNTY)
    grids = union_by(cells, {"G1": ["V1", "V2"], "G2": ["V3", "V4"], "G3": ["V9"]})
    assert grids["G1"].equals(shapely.box(0, 0, 2, 1))
    assert grids["G2"].equals(shapely.box(0, 1, 2, 2))
    assert "G3" not in grids  # no village with a seat
    towns = union_by(cells, {"T1": list(SEATS)})
    assert towns["T1"].equals(COUNTY)


def test_missing_seats_and_a_single_seat() -> None:
    assert village_cells({"V1": (float("nan"), 1.0)}) == {}
    one = village_cells({"V1": (1.0, 1.0)}, COUNTY)
    assert one["V1"].equals(COUNTY)
    shared = village_cells({"A": (0.5, 0.5), "B": (0.5, 0.5), "C": (1.5, 1.5)}, COUNTY)
    assert shared["A"].equals(shared["B"])
