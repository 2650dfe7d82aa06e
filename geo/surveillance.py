"""Infectious-disease early warning (RULES.md "Infectious-disease early warning").

Four computations on influenza-like illness (``ili`` + ``influenza`` case reports, also
delivered as ICD-10 J09–J11), all as of a day ``D``:

* :func:`ears_statistics` / :func:`ears_alerts` — the CDC EARS C1, C2 and C3 statistics on
  daily counts by onset date, per town and for the county;
* :func:`space_time_scan` — Kulldorff's prospective space-time permutation scan over H3
  cells (Kulldorff et al. 2005, PLoS Med 2:e59), hand-written because no maintained Python
  library implements it;
* :func:`spread_risk` — a per-cell score from the recent case rate and the mobility inflow
  from the scan's alert cells;
* :func:`vaccination_targets` — unvaccinated elderly (and managed chronic patients) living
  in cells at risk, per team and household.

``docs/surveillance.md`` describes every method as implemented and the choices made where
RULES.md leaves room. Nothing here reads files, the store or the environment.
"""

from __future__ import annotations

from geo.surveillance_common import (
    ALERT_COLUMNS,
    ILI_DISEASES,
    ILI_ICD10,
    ili_mask,
)
from geo.surveillance_ears import (
    daily_ili_counts,
    ears_alerts,
    ears_statistics,
)
from geo.surveillance_scan import (
    permutation_llr,
    scan_alerts,
    space_time_scan,
)
from geo.surveillance_spread import (
    mobility_inflow_share,
    spread_risk,
)
from geo.vaccination import (
    vaccination_targets,
)

__all__ = [
    "ALERT_COLUMNS",
    "ILI_DISEASES",
    "ILI_ICD10",
    "daily_ili_counts",
    "ears_alerts",
    "ears_statistics",
    "ili_mask",
    "mobility_inflow_share",
    "permutation_llr",
    "scan_alerts",
    "space_time_scan",
    "spread_risk",
    "vaccination_targets",
]
