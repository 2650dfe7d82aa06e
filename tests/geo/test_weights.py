"""Spatial weights: H3 ring-1 contiguity and polygon queen contiguity."""

from __future__ import annotations

import geopandas
import h3
import pytest
from shapely.geometry import box

from geo.weights import h3_weights, polygon_weights

# A res-8 cell in the study county (around 36.86N 118.79E).
CENTRE = h3.latlng_to_cell(36.86, 118.79, 8)


def test_h3_interior_cells_have_six_ring1_neighbours() -> None:
    cells = sorted(h3.grid_disk(CENTRE, 2))  # 1 + 6 + 12 = 19 cells
    w = h3_weights(cells)

    assert w.n == 19
    assert w.id_order == cells
    for cell in h3.grid_disk(CENTRE, 1):  # the centre and ring-1 are interior
        assert w.cardinalities[cell] == 6
    assert sorted(w.neighbors[CENTRE]) == sorted(h3.grid_ring(CENTRE, 1))
    # Ring-2 cells lose their ring-3 neighbours: corner cells keep 3, edge cells 4.
    ring2 = [w.cardinalities[c] for c in h3.grid_ring(CENTRE, 2)]
    assert sorted(ring2) == [3] * 6 + [4] * 6
    # Binary and symmetric, no self-links (Gi*'s self-weight is added by esda).
    assert all(v == 1.0 for ws in w.weights.values() for v in ws)
    assert all(i in w.neighbors[j] for i in cells for j in w.neighbors[i])
    assert all(i not in w.neighbors[i] for i in cells)
    assert w.islands == []


def test_h3_islands_are_allowed() -> None:
    far = h3.latlng_to_cell(36.95, 118.95, 8)  # kilometres away from CENTRE
    cells = [*sorted(h3.grid_disk(CENTRE, 1)), far]
    w = h3_weights(cells)
    assert w.islands == [far]
    assert w.cardinalities[far] == 0
    assert w.cardinalities[CENTRE] == 6

    lonely = h3_weights([CENTRE, far])
    assert sorted(lonely.islands) == sorted([CENTRE, far])


def test_h3_pentagon_has_five_neighbours() -> None:
    pentagon = sorted(h3.get_pentagons(8))[0]
    w = h3_weights(sorted(h3.grid_disk(pentagon, 1)))
    assert w.cardinalities[pentagon] == 5


def test_h3_keeps_caller_spelling_and_order() -> None:
    ring = sorted(h3.grid_ring(CENTRE, 1))
    cells = [CENTRE.upper(), *ring]
    w = h3_weights(cells)
    assert w.id_order == cells
    assert sorted(w.neighbors[CENTRE.upper()]) == ring


@pytest.mark.parametrize(
    "cells",
    [
        ["not-a-cell"],
        [CENTRE, CENTRE],
        [CENTRE, h3.cell_to_parent(CENTRE, 7)],
    ],
    ids=["invalid", "duplicate", "mixed-resolution"],
)
def test_h3_rejects_bad_input(cells: list[str]) -> None:
    with pytest.raises(ValueError):
        h3_weights(cells)


def _squares_2x2() -> geopandas.GeoDataFrame:
    # c d
    # a b   -- unit squares; a and d (and b and c) touch only at the centre corner.
    return geopandas.GeoDataFrame(
        {
            "grid_id": ["a", "b", "c", "d"],
            "geometry": [box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2), box(1, 1, 2, 2)],
        },
        geometry="geometry",
    )


def test_queen_weights_2x2() -> None:
    w = polygon_weights(_squares_2x2(), "grid_id")
    assert w.id_order == ["a", "b", "c", "d"]
    # Queen contiguity: a shared corner is enough, so every square touches the other three.
    assert {k: sorted(v) for k, v in w.neighbors.items()} == {
        "a": ["b", "c", "d"],
        "b": ["a", "c", "d"],
        "c": ["a", "b", "d"],
        "d": ["a", "b", "c"],
    }
    assert all(v == 1.0 for ws in w.weights.values() for v in ws)


def test_queen_weights_island_and_row_order() -> None:
    gdf = _squares_2x2()
    gdf.loc[len(gdf)] = ["far", box(10, 10, 11, 11)]
    gdf = gdf.iloc[::-1].reset_index(drop=True)
    w = polygon_weights(gdf, "grid_id")
    assert w.id_order == ["far", "d", "c", "b", "a"]
    assert w.islands == ["far"]
    assert w.cardinalities["a"] == 3


def test_queen_weights_reject_bad_ids() -> None:
    gdf = _squares_2x2()
    gdf.loc[1, "grid_id"] = "a"
    with pytest.raises(ValueError, match="duplicate"):
        polygon_weights(gdf, "grid_id")
    with pytest.raises(ValueError, match="not in the frame"):
        polygon_weights(_squares_2x2(), "village")
