"""Incremental refresh: per-unit aggregates kept in the source engine between runs.

Every run leaves one table, ``verdict_unit_aggregates_<fingerprint>_<generation>``, in
the engine that holds the events: one row per exposed unit with its variant, exposure
time, breakdown values and the accumulators of every measure (see
:mod:`verdict.analysis.plan`). The caller persists the small :class:`IncrementalState`
(``to_dict()``, JSON-able) and passes it back (``from_dict()``). The next run then

1. rebuilds from scratch if the state is absent, ``full`` is asked for, the
   fingerprint differs (an experiment or metric definition, the data-source mapping or
   the SQL layout changed), the kept table is gone, the new ``end`` is before the
   state's ``through``, or an exposure row appeared that the kept table cannot have
   seen: the exposure rows of ``[start, through)`` are counted (one filtered scan) and
   compared with the count the table was built from (``exposure_rows``);
2. otherwise reads exposure rows and events only from ``through`` on (events from
   ``through - cuped_days`` when CUPED is on, for the covariate of units exposed
   since), merges them into a new table and drops the old one;
3. computes the per-variant statistics from the new table, so incremental and full
   runs produce the same figures.

Limits: an event that arrives late with a timestamp at or before ``through`` is never
read by an incremental run (its window was already scanned); a refresh with
``full=True`` (``verdict analyze KEY --full``) picks it up. Events and exposure rows are
assumed to be immutable once written (a row replaced by another with the same count
of rows before ``through`` goes unnoticed). Tables are named with the
``verdict_unit_aggregates_`` prefix, which schema migrations ignore.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "LAYOUT_VERSION",
    "TABLE_PREFIX",
    "IncrementalState",
    "new_table_name",
    "state_fingerprint",
]

TABLE_PREFIX = "verdict_unit_aggregates_"
# Bumped whenever the per-unit table's columns or meaning change: old states rebuild.
LAYOUT_VERSION = "3"


@dataclass(frozen=True)
class IncrementalState:
    """Where the kept per-unit table is, what it was built from, and up to when."""

    table: str
    fingerprint: str
    through: datetime
    # Exposure rows of the window [start, through) the table was built from (counted
    # before the build); None (a state from an older layout) means: rebuild.
    exposure_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "fingerprint": self.fingerprint,
            "through": self.through.isoformat(),
            "exposure_rows": self.exposure_rows,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IncrementalState:
        table = str(data["table"])
        if not table.startswith(TABLE_PREFIX) or not table.replace("_", "").isalnum():
            raise ValueError(f"table: not a Verdict aggregate table name: {table!r}")
        through = datetime.fromisoformat(str(data["through"]))
        if through.tzinfo is None:
            raise ValueError("through: must carry a timezone")
        rows = data.get("exposure_rows")
        if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 0):
            raise ValueError(f"exposure_rows: not a row count: {rows!r}")
        return cls(
            table=table, fingerprint=str(data["fingerprint"]), through=through, exposure_rows=rows
        )


def state_fingerprint(spec_fingerprint: str, mapping_fingerprint: str) -> str:
    """The fingerprint a kept table must match: definitions, mapping and layout."""
    text = f"{LAYOUT_VERSION}:{spec_fingerprint}:{mapping_fingerprint}"
    return hashlib.sha256(text.encode()).hexdigest()


def new_table_name(fingerprint: str) -> str:
    """A fresh table name for one build (lower case, so no engine needs quotes)."""
    return f"{TABLE_PREFIX}{fingerprint[:16]}_{uuid.uuid4().hex[:8]}"
