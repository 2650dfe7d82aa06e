"""Hotspots of a rate indicator: EB-smoothed rates, Getis-Ord Gi*, Benjamini–Hochberg FDR.

The method is ``shared/RULES.md``, "Hotspots", step by step (details and the reasons for
each choice in ``docs/hotspots.md``):

1. raw rate ``numerator / denominator`` per unit (H3 cell or grid polygon); units with
   denominator 0 (or missing) are left out of everything that follows;
2. Marshall's global empirical-Bayes smoothing of the rates, the between-area variance
   clamped at 0 (:func:`eb_smooth`);
3. Getis-Ord Gi* of the smoothed rates with binary ring-1 (H3) or queen (polygon)
   contiguity weights, via :class:`esda.G_Local` (``star=True``, ``transform="B"``);
4. two-sided analytic p-values from the Gi* z-scores, Benjamini–Hochberg q-values over
   them, class ``hot`` / ``cold`` at ``q < fdr``;
5. a conditional-permutation pseudo p-value (9,999 permutations, fixed seed) reported
   alongside, as esda computes it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import esda
import geopandas
import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
from libpysal.weights import W
from scipy import stats

from geo.rules import DISEASES, HotspotConfig
from geo.vocabulary import HOTSPOT_INDICATORS as HOTSPOT_INDICATORS
from geo.weights import h3_weights, polygon_weights

#: Column order of the frame returned by :func:`hotspots`.
OUTPUT_COLUMNS = (
    "unit_id",
    "rate",
    "smoothed_rate",
    "numerator",
    "denominator",
    "neighbours",
    "z",
    "p",
    "q",
    "p_sim",
    "class",
)


def eb_smooth(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Marshall's global empirical-Bayes smoothed rates.

    With events ``y_i``, populations ``n_i`` (``N`` units), raw rates ``r_i = y_i / n_i``:

    - global rate ``m = sum(y) / sum(n)``;
    - population-weighted variance ``s2 = sum(n_i * (r_i - m)**2) / sum(n)``;
    - between-area variance ``A = max(0, s2 - m / nbar)`` with ``nbar = sum(n) / N``;
    - shrinkage weight ``w_i = A / (A + m / n_i)``;
    - smoothed rate ``w_i * r_i + (1 - w_i) * m``.

    Parameters
    ----------
    numerator : array_like of float
        Event counts, >= 0.
    denominator : array_like of float
        Populations at risk, > 0 (leave units with denominator 0 out before calling).

    Returns
    -------
    numpy.ndarray of float64
        Smoothed rates, one per unit. When ``A`` is clamped to 0 (the rates vary no more
        than Poisson noise around the global rate would make them) every unit gets ``m``;
        when there are no events at all every rate is 0.

    Raises
    ------
    ValueError
        On shape mismatch, non-finite or negative numerators, or denominators <= 0.

    Notes
    -----
    ``esda.smoothing.Empirical_Bayes`` implements the same estimator but does not clamp
    ``A`` (esda 2.9: ``weight = r_var / (r_var + r_mean / b)`` with ``r_var`` possibly
    negative), which gives negative shrinkage weights, rates pushed *away* from the mean
    and even negative rates; hence this implementation.
    """
    y = np.asarray(numerator, dtype="float64").ravel()
    n = np.asarray(denominator, dtype="float64").ravel()
    if y.shape != n.shape:
        raise ValueError("numerator and denominator differ in length")
    if y.size == 0:
        return np.empty(0, dtype="float64")
    if not (np.isfinite(y).all() and np.isfinite(n).all()):
        raise ValueError("numerator and denominator must be finite")
    if (y < 0).any():
        raise ValueError("numerator must be >= 0")
    if (n <= 0).any():
        raise ValueError("denominator must be > 0 (leave denominator-0 units out)")

    rate = y / n
    m = y.sum() / n.sum()
    if m == 0.0:
        # No events anywhere: every rate is 0 and the shrinkage weight would be 0/0.
        return np.zeros_like(rate)
    s2 = float((n * (rate - m) ** 2).sum() / n.sum())
    # Marshall's moment estimator of the between-area variance can come out negative when
    # the rates are less dispersed than sampling noise alone would make them; a variance
    # cannot be negative, so it is clamped at 0 (RULES.md: "the shrinkage weight clamped
    # at 0"), which shrinks every unit fully to the global rate. esda does not clamp.
    a = max(0.0, s2 - m / n.mean())
    weight = a / (a + m / n)
    return np.asarray(weight * rate + (1.0 - weight) * m, dtype="float64")


def bh_qvalues(p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Benjamini–Hochberg adjusted p-values (q-values).

    Parameters
    ----------
    p : array_like of float
        p-values in [0, 1]; NaN entries are not part of the tested family and stay NaN.

    Returns
    -------
    numpy.ndarray of float64
        ``scipy.stats.false_discovery_control(p, method="bh")`` over the finite entries.
    """
    p_arr = np.asarray(p, dtype="float64").ravel()
    q = np.full(p_arr.shape, np.nan)
    finite = np.isfinite(p_arr)
    if finite.any():
        q[finite] = stats.false_discovery_control(p_arr[finite], method="bh")
    return q


@dataclass(frozen=True)
class GiStar:
    """Getis-Ord Gi* results aligned with the values passed to :func:`gi_star`.

    Attributes
    ----------
    z : numpy.ndarray
        Gi* z-scores (esda ``Zs``, analytic moments under randomisation).
    p : numpy.ndarray
        Two-sided analytic p-values ``2 * P(Z > |z|)``.
    p_sim : numpy.ndarray
        esda's conditional-permutation pseudo p-value (one-sided, folded: the smaller tail,
        ``(min(larger, perms - larger) + 1) / (perms + 1)``); NaN for islands and when
        ``permutations`` is 0.
    neighbours : numpy.ndarray
        Number of neighbours of each unit, not counting itself.
    """

    z: npt.NDArray[np.float64]
    p: npt.NDArray[np.float64]
    p_sim: npt.NDArray[np.float64]
    neighbours: npt.NDArray[np.int64]


def gi_star(values: npt.ArrayLike, weights: W, *, permutations: int, seed: int) -> GiStar:
    """Getis-Ord Gi* with binary weights and self-weight 1, via :class:`esda.G_Local`.

    Parameters
    ----------
    values : array_like of float
        One value per unit, in ``weights.id_order`` order.
    weights : libpysal.weights.W
        Binary contiguity without self-links (the self-weight is added by
        ``star=True``). Not modified.
    permutations : int
        Conditional permutations for ``p_sim``; 0 skips them.
    seed : int
        Seed of the permutations.

    Returns
    -------
    GiStar

    Raises
    ------
    ValueError
        If the lengths differ or fewer than 2 values are given.

    Notes
    -----
    An island (no neighbours) keeps its self-weight, so its Gi* reduces to the
    standardised value ``(x_i - mean) / sd`` (population sd) and it can be significant on
    its own value. Its conditional-permutation distribution is degenerate (the statistic
    does not depend on the other units); esda 2.9 nevertheless returns the minimum pseudo
    p-value ``1 / (perms + 1)`` for it (its island branch drops the self-weight), so
    ``p_sim`` is set to NaN for islands. When all values are equal Gi* is 0/0: z, p and
    p_sim are NaN.
    """
    y = np.asarray(values, dtype="float64").ravel()
    if y.size != weights.n:
        raise ValueError(f"{y.size} values for {weights.n} weighted units")
    if y.size < 2:
        raise ValueError("Gi* needs at least 2 units")
    # A private copy: G_Local sets ``transform`` on the W it is given, and the caller's W
    # must not change under them.
    w = W(
        {i: list(weights.neighbors[i]) for i in weights.id_order},
        id_order=list(weights.id_order),
        silence_warnings=True,
    )
    neighbours = np.array([w.cardinalities[i] for i in w.id_order], dtype="int64")
    nan = np.full(y.size, np.nan)
    if np.ptp(y) == 0.0:
        # Zero variance: the Gi* moments are 0/0; there is nothing to test.
        return GiStar(z=nan, p=nan.copy(), p_sim=nan.copy(), neighbours=neighbours)

    # esda's permutation engine (without numba) reseeds NumPy's legacy global RNG; put the
    # caller's global RNG state back afterwards so this function has no side effect on it.
    rng_state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            # G_Local does not pass ``alternative`` to its permutation engine, which then
            # warns on every call that the default will change; the folded "directed"
            # p-value is what we report (docs/hotspots.md), so the warning is noise here.
            warnings.filterwarnings(
                "ignore", message="The alternative hypothesis", category=DeprecationWarning
            )
            # esda rebuilds the W to add the self-weight and libpysal then repeats its
            # islands / disconnected-components warnings; islands are expected here.
            warnings.filterwarnings("ignore", message="The weights matrix is not fully")
            g = esda.G_Local(
                y,
                w,
                transform="B",
                permutations=permutations,
                star=True,
                keep_simulations=False,  # n x permutations floats: 240 MB at county scale
                n_jobs=1,  # serial is faster than joblib's process pool at county scale
                seed=seed,
            )
    finally:
        np.random.set_state(rng_state)

    z = np.asarray(g.Zs, dtype="float64")
    p = 2.0 * stats.norm.sf(np.abs(z))
    if permutations:
        p_sim = np.asarray(g.p_sim, dtype="float64").copy()
        p_sim[neighbours == 0] = np.nan
    else:
        p_sim = nan.copy()
    return GiStar(z=z, p=p, p_sim=p_sim, neighbours=neighbours)


def _restrict(weights: W, ids: Sequence[object]) -> W:
    """Binary weights among ``ids`` only (in that order), without self-links.

    Like :func:`libpysal.weights.w_subset`, but also drops self-links so that a caller's
    W with a diagonal cannot give some units a double self-weight under Gi*.
    """
    keep = set(ids)
    missing = [i for i in ids if i not in weights.neighbors]
    if missing:
        raise ValueError(f"units missing from the weights: {missing[:5]}")
    neighbours = {i: [j for j in weights.neighbors[i] if j in keep and j != i] for i in ids}
    return W(neighbours, id_order=list(ids), silence_warnings=True)


def hotspots(
    units: pd.DataFrame,
    *,
    weights: W | None = None,
    unit_col: str = "unit_id",
    numerator_col: str = "numerator",
    denominator_col: str = "denominator",
    kind: Literal["h3", "polygon"] = "h3",
    geometry: geopandas.GeoSeries | Sequence[object] | None = None,
    config: HotspotConfig,
) -> pd.DataFrame:
    """Hotspots and coldspots of a rate indicator (RULES.md, "Hotspots").

    Parameters
    ----------
    units : pandas.DataFrame
        One row per unit with an id, a numerator (events) and a denominator (population).
    weights : libpysal.weights.W, optional
        Contiguity among the units, keyed by the unit ids (treated as binary). Default:
        built from the units, ring-1 for ``kind="h3"``, queen from ``geometry`` for
        ``kind="polygon"``.
    unit_col, numerator_col, denominator_col : str
        Column names in ``units``.
    kind : {"h3", "polygon"}
        ``"h3"``: the ids are H3 cells, which must be of resolution
        ``config.h3_resolution``. ``"polygon"``: grid or area polygons.
    geometry : GeoSeries or sequence of shapely geometries, optional
        The polygons, aligned with the rows of ``units``; needed for ``kind="polygon"``
        unless ``weights`` is given.
    config : HotspotConfig
        ``fdr``, ``permutations``, ``seed``, ``h3_resolution``.

    Returns
    -------
    pandas.DataFrame
        One row per input row, in input order, columns ``unit_id`` (str), ``rate``,
        ``smoothed_rate``, ``numerator``, ``denominator``, ``neighbours`` (Int64: neighbours
        among the analysed units, not counting the unit itself), ``z``, ``p`` (two-sided
        analytic), ``q`` (Benjamini–Hochberg), ``p_sim`` (esda's folded permutation
        p-value) and ``class`` (``hot`` if ``q < fdr`` and ``z > 0``, ``cold`` if
        ``q < fdr`` and ``z < 0``, else ``none``). Units whose denominator is 0 or missing
        are not analysed: they keep their numerator and denominator, every statistic is
        NaN (``neighbours`` NA) and the class is ``none``.

    Raises
    ------
    ValueError
        On missing columns, duplicate ids, negative or non-finite counts, a missing
        numerator where the denominator is positive, invalid or wrong-resolution H3 cells,
        or ``kind="polygon"`` with neither ``weights`` nor ``geometry``.
    """
    for col in (unit_col, numerator_col, denominator_col):
        if col not in units.columns:
            raise ValueError(f"column {col!r} not in the frame")
    ids = units[unit_col].astype("string")
    if ids.isna().any():
        raise ValueError(f"missing ids in {unit_col!r}")
    if ids.duplicated().any():
        raise ValueError(f"duplicate ids in {unit_col!r}: {ids[ids.duplicated()].tolist()[:5]}")
    num = pd.to_numeric(units[numerator_col], errors="raise").astype("float64").to_numpy()
    den = pd.to_numeric(units[denominator_col], errors="raise").astype("float64").to_numpy()
    if (num < 0).any() or (den < 0).any() or np.isinf(num).any() or np.isinf(den).any():
        raise ValueError("numerator and denominator must be finite and >= 0")
    included = np.nan_to_num(den, nan=0.0) > 0
    if np.isnan(num[included]).any():
        raise ValueError("missing numerator where the denominator is positive")

    id_list = [str(i) for i in ids]
    if kind == "h3":
        _check_h3(id_list, config.h3_resolution)
    elif kind != "polygon":
        raise ValueError(f"kind must be 'h3' or 'polygon', not {kind!r}")

    analysed = [i for i, keep in zip(id_list, included, strict=True) if keep]

    n_units = len(id_list)
    rate = np.full(n_units, np.nan)
    smoothed = np.full(n_units, np.nan)
    z = np.full(n_units, np.nan)
    p = np.full(n_units, np.nan)
    p_sim = np.full(n_units, np.nan)
    neighbours = pd.array([pd.NA] * n_units, dtype="Int64")

    rate[included] = num[included] / den[included]
    smoothed[included] = eb_smooth(num[included], den[included])
    if len(analysed) >= 2:
        if weights is None:
            weights = _build_weights(id_list, included, kind, geometry)
        w = _restrict(weights, analysed)
        g = gi_star(smoothed[included], w, permutations=config.permutations, seed=config.seed)
        z[included], p[included], p_sim[included] = g.z, g.p, g.p_sim
        neighbours[included] = g.neighbours
    elif len(analysed) == 1:
        # A single unit has no spatial pattern to test; its statistics stay NaN.
        neighbours[included] = 0
    q = bh_qvalues(p)

    significant = q < config.fdr  # NaN compares False, so untested units are never flagged
    cls = np.where(significant & (z > 0), "hot", np.where(significant & (z < 0), "cold", "none"))
    out = pd.DataFrame(
        {
            "unit_id": pd.Series(id_list, dtype="str"),
            "rate": rate,
            "smoothed_rate": smoothed,
            "numerator": num,
            "denominator": den,
            "neighbours": neighbours,
            "z": z,
            "p": p,
            "q": q,
            "p_sim": p_sim,
            "class": pd.Series(cls, dtype="str"),
        }
    )
    return out.loc[:, list(OUTPUT_COLUMNS)]


def _check_h3(ids: Sequence[str], resolution: int) -> None:
    """Reject ids that are not H3 cells of the configured resolution."""
    bad = [i for i in ids if not h3.is_valid_cell(i.lower())]
    if bad:
        raise ValueError(f"invalid H3 cell ids: {bad[:5]}")
    wrong = [i for i in ids if h3.get_resolution(i.lower()) != resolution]
    if wrong:
        raise ValueError(f"H3 cells not at resolution {resolution}: {wrong[:5]}")


def _build_weights(
    ids: list[str],
    included: npt.NDArray[np.bool_],
    kind: Literal["h3", "polygon"],
    geometry: geopandas.GeoSeries | Sequence[object] | None,
) -> W:
    """Default weights over the analysed units (denominator > 0) only."""
    analysed = [i for i, keep in zip(ids, included, strict=True) if keep]
    if kind == "h3":
        return h3_weights(analysed)
    if geometry is None:
        raise ValueError("kind='polygon' needs `geometry` or `weights`")
    geoms = list(geometry)
    if len(geoms) != len(ids):
        raise ValueError(f"{len(geoms)} geometries for {len(ids)} units")
    gdf = geopandas.GeoDataFrame(
        {
            "unit_id": [i for i, keep in zip(ids, included, strict=True) if keep],
            "geometry": [g for g, keep in zip(geoms, included, strict=True) if keep],
        },
        geometry="geometry",
    )
    return polygon_weights(gdf, "unit_id")


#: Hotspot indicators (prevalence among adults and the uncontrolled share among managed
#: patients, per disease) are :data:`geo.vocabulary.HOTSPOT_INDICATORS`.


def hotspot_inputs(
    values: pd.DataFrame,
    adults: pd.Series,
    level: str,
) -> pd.DataFrame:
    """Numerators and denominators of the hotspot indicators for one level.

    The counts come from the indicator computation (unsuppressed), so "managed" and
    "controlled" mean exactly what they mean in the indicators:

    - ``<d>_prevalence`` = managed patients of d / active residents aged 18+ (the
      denominator of ``<d>_control_rate`` over ``adults``);
    - ``<d>_uncontrolled_share`` = managed patients whose latest visit in W does not meet
      the target (or who had none) / managed patients (``denominator − numerator`` of
      ``<d>_control_rate``).

    Parameters
    ----------
    values : DataFrame
        Long indicator frame (``level, unit_id, indicator, numerator, denominator``) before
        suppression.
    adults : Series
        Active residents aged 18+ on D per unit of ``level`` (index: unit_id).
    level : str
        ``h3:8`` or ``grid``.

    Returns
    -------
    DataFrame
        ``unit_id, indicator, numerator, denominator`` for every unit with adults.
    """
    sub = values[values["level"] == level]
    parts = []
    for disease in DISEASES:
        ctl = sub[sub["indicator"] == f"{disease}_control_rate"].set_index("unit_id")
        managed = ctl["denominator"].astype(float)
        controlled = ctl["numerator"].astype(float)
        units = adults.index.union(managed.index)
        managed = managed.reindex(units, fill_value=0.0)
        parts.append(
            pd.DataFrame(
                {
                    "unit_id": units,
                    "indicator": f"{disease}_prevalence",
                    "numerator": managed.to_numpy(),
                    "denominator": adults.reindex(units, fill_value=0).astype(float).to_numpy(),
                }
            )
        )
        parts.append(
            pd.DataFrame(
                {
                    "unit_id": managed.index,
                    "indicator": f"{disease}_uncontrolled_share",
                    "numerator": (managed - controlled.reindex(units, fill_value=0.0)).to_numpy(),
                    "denominator": managed.to_numpy(),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out["unit_id"] = out["unit_id"].astype(str)
    return out
