"""Siting and supply for planners: MCLP, p-median (PySAL spopt) and 2SFCA (PySAL access).

Thin wrappers that fix how healthmap calls the two libraries, so the external reference
tests (``shared/external/coverage``) pin exactly the calls the coverage pipeline makes.
Cost matrices are rows = demand points, columns = candidate / supply sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pulp
from access import Access
from access import weights as access_weights
from spopt.locate import MCLP, PMedian


@dataclass(frozen=True)
class SitingChoice:
    """Sites chosen by a location model.

    Attributes
    ----------
    sites : list of int
        Column indices of the chosen sites, ascending.
    objective : float
        MCLP: weight covered; p-median: weighted mean cost (sum of weight x cost over
        the total weight, spopt's ``mean_dist``).
    assignment : ndarray of int
        p-median: the chosen column each row is allocated to; MCLP: the first chosen
        column covering the row, or -1.
    """

    sites: list[int]
    objective: float
    assignment: npt.NDArray[np.intp]


def _solver() -> pulp.LpSolver:
    return pulp.PULP_CBC_CMD(msg=False)


def mclp(cost: npt.ArrayLike, weights: npt.ArrayLike, radius: float, p: int) -> SitingChoice:
    """Maximal covering location: the ``p`` columns covering most weight within ``radius``.

    A row is covered by a column when its cost is ``<= radius`` (spopt's rule). Existing
    facilities are kept outside the model: the caller gives weight 0 to demand they
    already cover, so the objective is the newly covered weight.

    Parameters
    ----------
    cost : array_like, shape (n, m)
        Demand x candidate cost (inf = unreachable).
    weights : array_like, shape (n,)
        Demand weights (people).
    radius : float
        Service radius, in the unit of ``cost``.
    p : int
        Number of sites to choose (``1 <= p <= m``).

    Returns
    -------
    SitingChoice
    """
    c = np.asarray(cost, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    p = int(min(p, c.shape[1]))
    if p < 1 or len(w) == 0:
        return SitingChoice([], 0.0, np.full(len(w), -1, dtype=np.intp))
    c = np.where(np.isfinite(c), c, radius * 10 + 1.0)
    model = MCLP.from_cost_matrix(c, w, service_radius=float(radius), p_facilities=p)
    model.solve(_solver())
    chosen = sorted(int(j) for j, v in enumerate(model.fac_vars) if (v.value() or 0) > 0.5)
    covered = c[:, chosen] <= radius
    first = np.where(covered.any(axis=1), np.asarray(chosen)[covered.argmax(axis=1)], -1)
    return SitingChoice(chosen, float(w[covered.any(axis=1)].sum()), first.astype(np.intp))


def p_median(cost: npt.ArrayLike, weights: npt.ArrayLike, p: int) -> SitingChoice:
    """p-median: the ``p`` columns minimising the weighted total cost of the nearest one.

    Parameters
    ----------
    cost : array_like, shape (n, m)
        Demand x candidate cost, finite.
    weights : array_like, shape (n,)
        Demand weights.
    p : int
        Number of sites.

    Returns
    -------
    SitingChoice
        ``objective`` is the weighted mean cost to the allocated site.
    """
    c = np.asarray(cost, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    p = int(min(p, c.shape[1]))
    if p < 1 or w.sum() <= 0:
        return SitingChoice([], float("nan"), np.full(len(w), -1, dtype=np.intp))
    finite_max = np.nanmax(np.where(np.isfinite(c), c, np.nan)) if np.isfinite(c).any() else 1.0
    c = np.where(np.isfinite(c), c, finite_max * 100 + 1.0)
    model = PMedian.from_cost_matrix(c, w, p_facilities=p)
    model.solve(_solver())
    chosen = sorted(int(j) for j, v in enumerate(model.fac_vars) if (v.value() or 0) > 0.5)
    sub = c[:, chosen]
    best = sub.argmin(axis=1)
    mean = float((w * sub[np.arange(len(w)), best]).sum() / w.sum())
    return SitingChoice(chosen, mean, np.asarray(chosen)[best].astype(np.intp))


def two_sfca(
    demand: pd.Series,
    supply: pd.Series,
    costs: pd.DataFrame,
    max_cost: float,
    *,
    gravity_beta: float | None = None,
) -> pd.Series:
    """Two-step floating catchment access with PySAL ``access``.

    Step 1, per supply site: its supply over the demand within ``max_cost``; step 2, per
    demand location: the sum of the ratios of sites within ``max_cost`` (binary
    catchment; Luo and Wang 2003), or weighted by ``cost ** gravity_beta``
    (``access.weights.gravity(1, beta)``) when ``gravity_beta`` is given.

    Parameters
    ----------
    demand : Series
        People per demand location (index: its id).
    supply : Series
        Supply per site (e.g. licensed doctors; index: its id).
    costs : DataFrame
        ``origin`` (demand id), ``dest`` (supply id), ``cost`` — pairs beyond
        ``max_cost`` may be left out.
    max_cost : float
        Catchment (``cost <= max_cost`` is inside).
    gravity_beta : float, optional
        Distance-decay exponent of the gravity variant.

    Returns
    -------
    Series
        Supply per person at each demand location (×1000 for "per 1000"), indexed like
        ``demand``; locations with no site within reach get 0.
    """
    demand_df = pd.DataFrame({"id": demand.index, "pop": demand.to_numpy(dtype=float)})
    supply_df = pd.DataFrame({"id": supply.index, "sup": supply.to_numpy(dtype=float)})
    index_dtype = demand_df["id"].dtype
    cost_df = costs.rename(columns={"origin": "o", "dest": "d", "cost": "c"})[["o", "d", "c"]]
    if cost_df.empty or supply_df.empty or demand_df.empty:
        return pd.Series(0.0, index=demand.index)
    weight_fn = access_weights.gravity(1, gravity_beta) if gravity_beta is not None else None
    acc = Access(
        demand_df=demand_df,
        demand_index="id",
        demand_value="pop",
        supply_df=supply_df,
        supply_index="id",
        supply_value="sup",
        cost_df=cost_df,
        cost_origin="o",
        cost_dest="d",
        cost_name="c",
    )
    acc.two_stage_fca(name="a", max_cost=max_cost, weight_fn=weight_fn)
    out = acc.access_df["a_sup"] if "a_sup" in acc.access_df else acc.access_df.iloc[:, -1]
    out = out.reindex(pd.Index(demand.index, dtype=index_dtype)).fillna(0.0)
    return out.astype(float)
