"""Row keys: one string per row for a table's key, and growing sets of them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class KeySet:
    """A growing set of string keys with fast vectorised membership.

    Membership is a hash-set probe per value, so checking a chunk costs the chunk's size,
    not the set's: a file's earlier keys (duplicate detection) grow with every chunk, and
    rebuilding a hashed index of all of them per chunk made a file's checks quadratic in
    its chunks. Each form is made on first use and kept up to date after: the hash set by
    :meth:`contains` (a file's keys so far), :attr:`index` by the store's known keys,
    which are only ever asked for as an index.
    """

    def __init__(self, values: Any = ()) -> None:
        self._set: set[Any] | None = None
        self._parts: list[np.ndarray] = []
        self._index: pd.Index | None = None
        if len(values):
            self.add(values)

    def add(self, values: Any) -> None:
        """Add ``values`` (missing ones are ignored)."""
        arr = np.asarray(values, dtype=object).ravel()
        arr = arr[~pd.isna(arr)]
        if arr.size:
            self._parts.append(arr)
            if self._set is not None:
                self._set.update(arr.tolist())
            self._index = None

    @property
    def index(self) -> pd.Index:
        """The distinct keys so far, in the order first added, as one index."""
        if self._index is None:
            if not self._parts:
                self._index = pd.Index([], dtype=object)
            else:
                arr = np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
                self._index = pd.Index(pd.unique(arr), dtype=object)
                self._parts = [self._index.to_numpy()]
        return self._index

    def _members(self) -> set[Any]:
        if self._set is None:
            self._set = set()
            for part in self._parts:
                self._set.update(part.tolist())
        return self._set

    def contains(self, values: Any) -> np.ndarray:
        """Which of ``values`` are in the set (a boolean array)."""
        vals = np.asarray(values, dtype=object).ravel().tolist()
        members = self._members()
        if not members:
            return np.zeros(len(vals), dtype=bool)
        return np.fromiter(map(members.__contains__, vals), dtype=bool, count=len(vals))

    def __len__(self) -> int:
        return len(self._members())


def key_strings(df: pd.DataFrame, key: tuple[str, ...]) -> np.ndarray:
    """One string per row for a (possibly composite) key (parts joined by U+001F)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for k in key:
        v = df[k]
        if pd.api.types.is_datetime64_any_dtype(v.dtype):
            ints = (
                v.to_numpy(dtype="datetime64[ns]").view("int64")
                if v.dt.tz is None
                else v.dt.tz_convert("UTC")
                .dt.tz_localize(None)
                .to_numpy("datetime64[ns]")
                .view("int64")
            )
            arr = pc.cast(pa.array(ints), pa.string())
        elif v.dtype == object:
            arr = pa.array(v.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        else:
            arr = pc.cast(pa.array(v, from_pandas=True), pa.string())
        parts.append(pc.fill_null(arr, ""))
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


def member(values: np.ndarray, known: pd.Index, extra: KeySet | None) -> np.ndarray:
    """Which of ``values`` are in ``known`` or, when given, in ``extra``."""
    hit = (
        known.get_indexer(pd.Index(values, dtype=object)) >= 0
        if len(known)
        else np.zeros(len(values), dtype=bool)
    )
    if extra is not None and len(extra) and not hit.all():
        hit |= extra.contains(values)
    return hit
