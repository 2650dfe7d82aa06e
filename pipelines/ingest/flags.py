"""The first failing check of each row, and the quarantine rows it becomes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipelines.ingest.files import BAD_CHAR
from pipelines.ingest.ids import mask_id
from pipelines.ingest.read import RawChunk

QUARANTINE_COLUMNS = ["row_number", "column_name", "value", "reason", "detail", "raw"]


class Flags:
    """The first failing check of each of ``n`` rows: reason, column, value and detail.

    A row keeps the first flag it gets; later checks only flag rows still ok.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.reason = np.full(n, None, dtype=object)
        self.column = np.full(n, None, dtype=object)
        self.value = np.full(n, None, dtype=object)
        self.detail = np.full(n, None, dtype=object)
        # Kept beside ``reason`` so that asking (once per check) costs no scan of objects.
        self._ok = np.ones(n, dtype=bool)

    @property
    def ok(self) -> np.ndarray:
        """Which rows have passed every check so far (a copy: the caller may change it)."""
        return self._ok.copy()

    def flag(
        self,
        mask: np.ndarray,
        reason: str,
        column: str | None,
        value: Any = None,
        detail: Any = None,
    ) -> None:
        """Flag the rows of ``mask`` not flagged yet.

        Parameters
        ----------
        mask : numpy.ndarray
            The rows that fail the check.
        reason : str
            The reason code (one of :data:`pipelines.ingest.schema.REASONS`).
        column : str or None
            The contract column the failure is about.
        value : optional
            The offending value: a Series (by position), a scalar, or an array over all rows.
        detail : optional
            A human explanation: a scalar or an array over all rows.
        """
        m = np.asarray(mask, dtype=bool) & self._ok
        if not m.any():
            return
        self._ok[m] = False
        self.reason[m] = reason
        self.column[m] = column
        if value is not None:
            if isinstance(value, pd.Series):
                sub = value.iloc[np.flatnonzero(m)]
                v = sub.astype(object).where(sub.notna(), None).to_numpy(dtype=object)
            elif np.isscalar(value):
                v = np.asarray(value, dtype=object)
            else:
                v = np.asarray(value, dtype=object)[m]
            self.value[m] = v
        if detail is not None:
            d = detail if np.isscalar(detail) else np.asarray(detail, dtype=object)[m]
            self.detail[m] = d


def quarantine_frame(chunk: RawChunk, flags: Flags, pos: np.ndarray) -> pd.DataFrame:
    """The quarantine rows of the rows at positions ``pos`` of ``chunk``.

    Each carries its row number, the failing column, value, reason and detail, and the
    row as delivered (``raw``: ID numbers masked, undecodable bytes shown as U+FFFD).
    """
    if pos.size == 0:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    orig = chunk.original.iloc[pos]
    id_headers = [h for h, c in chunk.mapping.items() if c == "id_number"]
    records = orig.astype(object).to_dict("records")
    for r in records:
        for h in id_headers:
            if r.get(h):
                r[h] = mask_id(r[h])
        for k, v in list(r.items()):
            if isinstance(v, str) and BAD_CHAR in v:
                r[k] = v.replace(BAD_CHAR, "\ufffd")
            elif v is None or (isinstance(v, float) and np.isnan(v)):
                r[k] = ""
            else:
                r[k] = str(v)
    values = flags.value[pos]
    values = np.array(
        [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values],
        dtype=object,
    )
    return pd.DataFrame(
        {
            "row_number": chunk.row_number[pos],
            "column_name": flags.column[pos],
            "value": values,
            "reason": flags.reason[pos],
            "detail": [None if d is None else str(d) for d in flags.detail[pos]],
            "raw": records,
        }
    )
