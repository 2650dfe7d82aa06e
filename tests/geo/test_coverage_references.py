"""External references: PySAL access's hospital example and spopt's San Francisco results.

The inputs and expected values live in ``shared/external/coverage`` (beside the clone);
they are read in place, never copied into the project.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from geo.coverage_siting import mclp, p_median, two_sfca

EXTERNAL = Path(__file__).parents[2].parent / "shared" / "external" / "coverage"
HOSPITAL = EXTERNAL / "access_hospital_example"
SF = EXTERNAL / "spopt_sf"


def _hospital() -> tuple[pd.Series, pd.Series, pd.DataFrame, dict]:
    tracts = pd.read_csv(HOSPITAL / "tracts.csv").set_index("geoid")
    costs = pd.read_csv(HOSPITAL / "costs_4_scenarios.csv")
    ref = json.loads((HOSPITAL / "access_reference_results.json").read_text())["results"]
    return tracts["pop"], tracts["doc"], costs, ref


@pytest.mark.parametrize("scenario", [0, 1, 2, 3])
@pytest.mark.parametrize(
    ("column", "max_cost", "beta"),
    [("b2_doc", 30, None), ("b2w_doc", 61, None), ("g2_doc", 61, -1.0)],
)
def test_two_sfca_reproduces_access_hospital_example(
    scenario: int, column: str, max_cost: float, beta: float | None
) -> None:
    pop, doc, costs, ref = _hospital()
    got = two_sfca(pop, doc, costs[costs["scenario"] == scenario], max_cost, gravity_beta=beta)
    want = ref[f"scenario_{scenario}"][column]
    for tract, value in want.items():
        assert got.loc[int(tract)] == pytest.approx(value, rel=1e-9)


def test_two_sfca_hand_check_scenario_1() -> None:
    # README: R1 = 15/100, R2 = 20/50, R3 = 100/160; A1 = .15 + .625, A2 = .4 + .625.
    pop, doc, costs, _ = _hospital()
    got = two_sfca(pop, doc, costs[costs["scenario"] == 1], 30)
    assert got.tolist() == pytest.approx([0.775, 1.025, 0.625])


def _sf() -> tuple[pd.DataFrame, pd.Series, dict]:
    demand = pd.read_csv(SF / "SF_demand_205_centroid_uniform_weight.csv").sort_values("NAME")
    dist = pd.read_csv(SF / "SF_network_distance_candidateStore_16_censusTract_205_new.csv")
    cost = dist.pivot_table(values="distance", index="DestinationName", columns="name")
    assert list(cost.index) == list(demand["NAME"])
    ref = json.loads((SF / "spopt_reference_results.json").read_text())
    return cost, demand["POP2000"], ref


@pytest.mark.parametrize("p", [1, 2, 3, 4, 5, 6])
def test_mclp_reproduces_spopt_sf(p: int) -> None:
    cost, weights, ref = _sf()
    want = ref["results"][f"mclp_r5000_p{p}"]
    got = mclp(cost.to_numpy(), weights.to_numpy(), 5000, p)
    assert sorted(cost.columns[got.sites]) == sorted(want["selected"])
    assert got.objective == pytest.approx(want["covered_pop"])
    assert (got.assignment < 0).sum() == want["n_cli_uncov"]


# The reference holds p-median for p = 1-5 (README's table); p = 6 was not run.
@pytest.mark.parametrize("p", [1, 2, 3, 4, 5])
def test_p_median_reproduces_spopt_sf(p: int) -> None:
    cost, weights, ref = _sf()
    want = ref["results"][f"pmedian_p{p}"]
    got = p_median(cost.to_numpy(), weights.to_numpy(), p)
    assert sorted(cost.columns[got.sites]) == sorted(want["selected"])
    assert got.objective == pytest.approx(want["mean_dist"], rel=1e-9)
