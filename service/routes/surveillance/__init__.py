"""The infectious-disease early warning of the current build: alerts, risk cells and the
influenza vaccination targets (RULES.md "Infectious-disease early warning";
``docs/surveillance.md``; tables of ``store.results``).

Who (``docs/security.md``):

* ``/alerts``, ``/risk-cells``, ``/vaccination-targets/summary``: aggregates, for the
  chronic-disease centre, the bureau, planners and the administrator (``AggregateUser``,
  as every other aggregate endpoint); doctors 403. A centre sees its township: its town's
  EARS alerts, the scan clusters with a cell in its town, the county's EARS alerts; its
  town's risk cells; its town's teams in the summary. A cell belongs to the township
  holding its centre (``service.tiles.towns``, the rule of its map tiles).
* ``/vaccination-targets``: personal data (names and phones), for the care roles only
  (``CareUser``): a doctor its own team, in full; a centre its township's teams, masked
  unless it asks ``unmask=true`` with a ``reason`` (as for push lists). Bureau, planner
  and admin 403. Another team is 404, as unknown. Every read is audited with the resident
  ids.

One module per concern: :mod:`.alerts` (alerts and risk cells), :mod:`.targets` (the
personal list), :mod:`.counts` (the summary counts and their small-number rule); the
bodies are in ``service.schemas.surveillance``.

Small numbers (RULES.md: no rate with its raw count below k — the k the current build ran
with, ``rules.indicators.suppression_k`` then, as for the build's indicators), applied here
since the build stores the raw rows:

* an alert's **relative risk** is withheld (null, ``suppressed: true``,
  ``count_below_k``) when its observed count is below k. The observed and expected
  counts stay: they are counts, not rates, and an alert without them says nothing;
* a risk cell's **rate** is withheld when the cell has fewer than k residents
  (``denominator_below_k``) or 1 to k−1 recent cases (``count_below_k``) — with its
  residents, recent cases, rate score and mobility share, from which the rate could be
  worked out again; the score and the at-risk flag stay;
* summary counts of 1 to k−1 are withheld, and one more count beside a lone withheld one
  (so that it cannot be had by subtraction from a total that is shown).
"""

from __future__ import annotations

from fastapi import APIRouter

from service.routes.surveillance import alerts, counts, targets
from service.routes.surveillance.counts import summary_rows, withheld

router = APIRouter()
for _module in (alerts, targets, counts):
    router.include_router(_module.router)

__all__ = ["router", "summary_rows", "withheld"]
