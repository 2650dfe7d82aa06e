"""The counties the sample generator can write: one :class:`CountyProfile` each.

Everything county-specific the generator needs (codes, names, where the county lies, its
area, its towns and which are urban, how big it is) lives in a profile;
:data:`COUNTY_PROFILES` holds them keyed by the six-digit county code. Shouguang
(370783, the default) keeps exactly the values the generator always had, so its deliveries
are byte for byte what they were. Changle (370725), Shouguang's southern neighbour in
Weifang, is a second, smaller county for testing a deployment that holds several counties:
its synthetic outline lies clear of Shouguang's (the outlines are drawn around each centre
with the county's area, not from real borders, so the centre is placed far enough south
for the two never to overlap, whatever the seed).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CHANGLE",
    "COUNTY_PROFILES",
    "DEFAULT_COUNTY",
    "SHOUGUANG",
    "CountyProfile",
    "county_profile",
]


@dataclass(frozen=True)
class CountyProfile:
    """One county of the sample generator.

    Attributes
    ----------
    code6 : str
        Six-digit administrative code (``370783``): the prefix of every area code and of
        every resident's ID-card number.
    name : str
        The county's name (``寿光市``); its hospitals and CDC are named after it.
    city_code6, city_name : str
        The prefecture-level city it belongs to (``370700``, ``潍坊市``).
    centre_lat, centre_lng : float
        WGS84 centre of the synthetic outline (the origin of the local plane).
    area_km2 : float
        Area of the synthetic outline.
    town_names : tuple of str
        Towns in area-code order (``…001000``, ``…002000``, …); the first is the county
        seat, near the centre.
    urban_towns : frozenset of int
        Indices of the sub-districts (街道) and development zones: denser, with community
        health centres, and where the county hospitals go.
    near_seat_towns : tuple of int
        Towns whose seats are the ones nearest the county seat (nearest first): the inner
        街道.
    north_towns : tuple of int
        Towns whose seats are the northmost of the rest (northmost first): Shouguang's
        Laizhou Bay shore.
    size : float
        Residents, villages, clinics, grids, teams and staff relative to Shouguang
        (1.0: about a million residents at scale 1.0).
    """

    code6: str
    name: str
    city_code6: str
    city_name: str
    centre_lat: float
    centre_lng: float
    area_km2: float
    town_names: tuple[str, ...]
    urban_towns: frozenset[int]
    near_seat_towns: tuple[int, ...]
    north_towns: tuple[int, ...] = ()
    size: float = 1.0

    def __post_init__(self) -> None:
        for label, code in (("code6", self.code6), ("city_code6", self.city_code6)):
            if len(code) != 6 or not code.isdigit():
                raise ValueError(f"{label} must be six digits, not {code!r}")
        n = len(self.town_names)
        if n < 2:
            raise ValueError("a county needs at least two towns")
        placed = [*self.near_seat_towns, *self.north_towns]
        if len(set(placed)) != len(placed) or not all(0 < t < n for t in placed):
            raise ValueError(
                "near_seat_towns and north_towns must be distinct towns after the seat"
            )
        if not all(0 <= t < n for t in self.urban_towns):
            raise ValueError("urban_towns must be town indices")
        if self.size <= 0 or self.area_km2 <= 0:
            raise ValueError("size and area_km2 must be positive")

    @property
    def county_code(self) -> str:
        """The county's 12-digit statistical division code (``370783000000``)."""
        return f"{self.code6}000000"

    @property
    def n_towns(self) -> int:
        """Number of towns."""
        return len(self.town_names)

    def town_code(self, town: int) -> str:
        """12-digit code of town index ``town`` (0-based): ``370783001000`` for 0."""
        return f"{self.code6}{town + 1:03d}000"

    def village_code(self, town: int, village: int) -> str:
        """12-digit code of village ``village`` (0-based) of town ``town``."""
        return f"{self.code6}{town + 1:03d}{village + 1:03d}"


SHOUGUANG = CountyProfile(
    code6="370783",
    name="寿光市",
    city_code6="370700",
    city_name="潍坊市",
    centre_lat=36.86,
    centre_lng=118.79,
    area_km2=2070.0,
    town_names=(
        "圣城街道",
        "文家街道",
        "古城街道",
        "洛城街道",
        "孙家集街道",
        "化龙镇",
        "营里镇",
        "台头镇",
        "田柳镇",
        "上口镇",
        "侯镇",
        "纪台镇",
        "稻田镇",
        "羊口镇",
        "双王城生态经济园区",
        "寿光经济开发区",
    ),
    # Sub-districts (街道) and the development zone are denser and more urban.
    urban_towns=frozenset({0, 1, 2, 3, 4, 15}),
    near_seat_towns=(1, 2, 3, 4),
    # 羊口镇 and 双王城 on the Laizhou Bay shore.
    north_towns=(13, 14),
    size=1.0,
)

CHANGLE = CountyProfile(
    code6="370725",
    name="昌乐县",
    city_code6="370700",
    city_name="潍坊市",
    # The outlines reach at most about 21 km (Changle) and 29 km (Shouguang) from their
    # centres (seeds 0-299); 53.5 km between the centres keeps them apart.
    centre_lat=36.38,
    centre_lng=118.84,
    area_km2=1101.0,
    town_names=(
        "宝城街道",
        "朱刘街道",
        "五图街道",
        "宝都街道",
        "乔官镇",
        "营丘镇",
        "红河镇",
        "鄌郚镇",
    ),
    urban_towns=frozenset({0, 1, 2, 3}),
    near_seat_towns=(1, 2, 3),
    size=0.6,
)

#: The sample counties by six-digit code.
COUNTY_PROFILES: dict[str, CountyProfile] = {p.code6: p for p in (SHOUGUANG, CHANGLE)}
DEFAULT_COUNTY = SHOUGUANG.code6


def county_profile(code6: str) -> CountyProfile:
    """The profile of a six-digit county code.

    Raises
    ------
    ValueError
        For a code that has no profile (the message names the known codes).
    """
    try:
        return COUNTY_PROFILES[code6]
    except KeyError:
        known = ", ".join(f"{c} ({p.name})" for c, p in COUNTY_PROFILES.items())
        raise ValueError(f"no sample county {code6!r}; known: {known}") from None
