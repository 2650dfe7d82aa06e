"""Chinese map-datum transforms and resident ID-number (GB 11643) helpers.

Coordinates
-----------
Every function takes and returns ``(lng, lat)`` in that order (x first, like shapely
and GeoJSON), as float64 numpy arrays of the broadcast input shape. Points outside
mainland China's rough bounding box are passed through unchanged by the GCJ-02
functions, which is what Amap/Tencent pickers do.

- WGS84 / CGCS2000: GPS, the project's storage datum.
- GCJ-02: the obfuscated "Mars" datum of Amap and Tencent maps (offset of a few hundred
  metres in Shandong).
- BD-09: Baidu's extra rotation/offset on top of GCJ-02.

The forward transforms are the published closed-form formulas; the inverses solve them
by fixed-point iteration to better than 1e-9 degrees (about 0.1 mm), so a point converted
forward and back comes home exactly, not with the 1-2 m error of the usual one-step
approximations.

ID numbers
----------
An 18-character resident ID number is 6 digits of area code, 8 of birth date
(YYYYMMDD), 3 of sequence (odd last digit for men, even for women) and one ISO 7064
MOD 11-2 check character (``0``-``9`` or ``X``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "id_checksum_char",
    "id_checksum_chars",
    "id_checksum_index",
    "is_valid_id_number",
    "make_id_number",
    "parse_id_number",
    "valid_id_numbers",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = npt.NDArray[np.float64]

# Krasovsky 1940 ellipsoid parameters used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

# Iterations of the inverse solvers; the contraction is strong (|J - I| ~ 1e-3), so 2-3
# steps already reach 1e-9 degrees. The cap only guards against pathological input.
_MAX_ITER = 30
_TOL_DEG = 1e-10


def _as_float(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = np.broadcast_arrays(np.asarray(lng, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)


def _out_of_china(lng: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    return (lng < 72.004) | (lng > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _delta_lng(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlat = _delta_lat(lng - 105.0, lat - 35.0)
    dlng = _delta_lng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlng = (dlng * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = _out_of_china(lng, lat)
    return np.where(outside, 0.0, dlng), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 to GCJ-02 (Amap/Tencent).

    Parameters
    ----------
    lng, lat : array_like
        WGS84 longitude and latitude in degrees (broadcast together).

    Returns
    -------
    tuple of ndarray
        GCJ-02 ``(lng, lat)``; unchanged outside China.
    """
    x, y = _as_float(lng, lat)
    dx, dy = _gcj_offset(x, y)
    return x + dx, y + dy


def _invert(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    tx: FloatArray,
    ty: FloatArray,
    x: FloatArray,
    y: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Fixed-point inverse of ``forward`` at the targets ``(tx, ty)``, starting from ``(x, y)``.

    The datum offsets are small and smooth, so subtracting the forward error converges in a
    few steps to ``_TOL_DEG``.
    """
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = fx - tx, fy - ty
        x = x - ex
        y = y - ey
        if ex.size == 0 or max(np.nanmax(np.abs(ex)), np.nanmax(np.abs(ey))) < _TOL_DEG:
            break
    return x, y


def gcj02_to_wgs84(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 to WGS84 by iterating the forward transform to convergence.

    Parameters
    ----------
    lng, lat : array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    tuple of ndarray
        WGS84 ``(lng, lat)``, accurate to about 1e-9 degrees.
    """
    gx, gy = _as_float(lng, lat)
    return _invert(wgs84_to_gcj02, gx, gy, gx.copy(), gy.copy())


def gcj02_to_bd09(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 to BD-09 (Baidu).

    Parameters
    ----------
    lng, lat : array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    tuple of ndarray
        BD-09 ``(lng, lat)``.
    """
    x, y = _as_float(lng, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 to GCJ-02, refining Baidu's one-step inverse by iteration.

    Parameters
    ----------
    lng, lat : array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    tuple of ndarray
        GCJ-02 ``(lng, lat)``.
    """
    bx, by = _as_float(lng, lat)
    x, y = bx - 0.0065, by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    # The textbook inverse above is only approximate (~1e-6 deg); a few Newton-free
    # fixed-point steps make the round trip exact.
    return _invert(gcj02_to_bd09, bx, by, gx, gy)


def wgs84_to_bd09(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 to BD-09 (via GCJ-02).

    Parameters
    ----------
    lng, lat : array_like
        WGS84 longitude and latitude in degrees.

    Returns
    -------
    tuple of ndarray
        BD-09 ``(lng, lat)``.
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


def bd09_to_wgs84(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 to WGS84 (via GCJ-02).

    Parameters
    ----------
    lng, lat : array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    tuple of ndarray
        WGS84 ``(lng, lat)``.
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lng, lat))


_SYS_ALIASES = {
    "wgs84": "wgs84",
    "cgcs2000": "wgs84",
    "": "wgs84",
    "gcj02": "gcj02",
    "bd09": "bd09",
}


def _norm_sys(name: str) -> str:
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in _SYS_ALIASES:
        raise ValueError(f"unknown coordinate system {name!r} (wgs84, cgcs2000, gcj02, bd09)")
    return _SYS_ALIASES[key]


def convert(
    lng: npt.ArrayLike, lat: npt.ArrayLike, src: str, dst: str = "wgs84"
) -> tuple[FloatArray, FloatArray]:
    """Convert between any two of ``wgs84`` (= ``cgcs2000``), ``gcj02`` and ``bd09``.

    Parameters
    ----------
    lng, lat : array_like
        Coordinates in ``src``.
    src, dst : str
        Coordinate system names (case and ``-``/``_`` ignored; empty means wgs84).

    Returns
    -------
    tuple of ndarray
        ``(lng, lat)`` in ``dst``.
    """
    s, d = _norm_sys(src), _norm_sys(dst)
    x, y = _as_float(lng, lat)
    if s == d:
        return x, y
    if s == "gcj02":
        x, y = gcj02_to_wgs84(x, y)
    elif s == "bd09":
        x, y = bd09_to_wgs84(x, y)
    if d == "gcj02":
        return wgs84_to_gcj02(x, y)
    if d == "bd09":
        return wgs84_to_bd09(x, y)
    return x, y


# --- GB 11643 ID numbers ---------------------------------------------------------------

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = "10X98765432"


def id_checksum_char(first17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits of an ID number.

    Parameters
    ----------
    first17 : str
        Exactly 17 ASCII digits.

    Returns
    -------
    str
        One of ``0``-``9`` or ``X``.
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"need 17 digits, got {first17!r}")
    total = sum(int(c) * int(w) for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_checksum_chars(first17: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Vectorised :func:`id_checksum_char` over 17-digit integers or strings.

    Parameters
    ----------
    first17 : array_like
        int64 values below 1e17 (leading zeros implied) or 17-digit strings.

    Returns
    -------
    ndarray of str
        Check characters.
    """
    arr = np.asarray(first17)
    if arr.dtype.kind in "iu":
        total = id_checksum_index(arr).ravel()
    else:
        raw = np.asarray(arr, dtype="S17").ravel()
        digits = raw.view(np.uint8).reshape(-1, 17).astype(np.int64) - ord("0")
        total = (digits * _ID_WEIGHTS[None, :]).sum(axis=1)
    table = np.array(list(_ID_CHECK))
    return table[total % 11].reshape(arr.shape)


def id_checksum_index(first17: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Index into ``"10X98765432"`` of the check characters of 17-digit integers.

    Parameters
    ----------
    first17 : array_like of int
        int64 values below 1e17.

    Returns
    -------
    ndarray of int64
        ``"10X98765432"[i]`` is the check character.
    """
    rest = np.asarray(first17, dtype=np.int64).ravel()
    total = np.zeros(rest.size, dtype=np.int64)
    for pos in range(16, -1, -1):
        total += (rest % 10) * int(_ID_WEIGHTS[pos])
        rest = rest // 10
    return (total % 11).reshape(np.shape(first17))


def make_id_number(area6: str | int, birth_date: _dt.date, seq3: int, sex: int) -> str:
    """Build a valid 18-character ID number.

    Parameters
    ----------
    area6 : str or int
        Six-digit administrative area code (e.g. ``370783``).
    birth_date : datetime.date
        Date of birth.
    seq3 : int
        Sequence number 0-999; its last digit's parity is forced to match ``sex``
        (``seq3`` is lowered by one, or raised from 0 to 1, when it does not).
    sex : int
        ``1`` male (odd sequence digit) or ``2`` female (even).

    Returns
    -------
    str
        The ID number with its check character.
    """
    if sex not in (1, 2):
        raise ValueError("sex must be 1 (male) or 2 (female)")
    if not 0 <= seq3 <= 999:
        raise ValueError("seq3 must be within 0..999")
    want_odd = sex == 1
    if (seq3 % 2 == 1) != want_odd:
        seq3 = seq3 - 1 if seq3 > 0 else 1
    first17 = f"{int(area6):06d}{birth_date:%Y%m%d}{seq3:03d}"
    return first17 + id_checksum_char(first17)


def parse_id_number(s: str) -> tuple[_dt.date, int] | None:
    """Birth date and sex encoded in a valid ID number.

    Parameters
    ----------
    s : str
        Candidate ID number (a lowercase ``x`` is accepted).

    Returns
    -------
    tuple of (datetime.date, int) or None
        ``(birth_date, sex)`` with sex 1/2, or None when ``s`` is not a valid number.
    """
    if not is_valid_id_number(s):
        return None
    birth = _dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    return birth, 1 if int(s[16]) % 2 == 1 else 2


def is_valid_id_number(s: Any) -> bool:
    """Whether ``s`` is a well-formed 18-character ID number with a correct checksum.

    Parameters
    ----------
    s : Any
        Candidate value; non-strings are invalid.

    Returns
    -------
    bool
        True when the format, the birth date and the check character are all valid.
    """
    if not isinstance(s, str) or len(s) != 18 or not s.isascii():
        return False
    body, check = s[:17], s[17].upper()
    if not body.isdigit() or check not in _ID_CHECK:
        return False
    try:
        _dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return id_checksum_char(body) == check


def valid_id_numbers(values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Vectorised checksum test (format + check character, not the date).

    Parameters
    ----------
    values : array_like of str
        Candidate ID numbers; missing values (None/NaN) are invalid.

    Returns
    -------
    ndarray of bool
        True where the value has 17 digits and the matching check character.
    """
    arr = np.asarray(values, dtype=object).ravel()
    ok_type = np.array([isinstance(v, str) and len(v) == 18 and v.isascii() for v in arr], bool)
    out = np.zeros(arr.size, dtype=bool)
    if not ok_type.any():
        return out.reshape(np.shape(values))
    good = np.asarray([v.upper() for v in arr[ok_type]], dtype="S18")
    mat = good.view(np.uint8).reshape(-1, 18)
    digits = mat[:, :17].astype(np.int64) - ord("0")
    all_digits = ((digits >= 0) & (digits <= 9)).all(axis=1)
    total = (np.clip(digits, 0, 9) * _ID_WEIGHTS[None, :]).sum(axis=1)
    expected = np.frombuffer(_ID_CHECK.encode(), dtype=np.uint8)[total % 11]
    out[np.flatnonzero(ok_type)] = all_digits & (mat[:, 17] == expected)
    return out.reshape(np.shape(values))
