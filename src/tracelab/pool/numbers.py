"""A contribution's manifest numbers, accumulated table by table as the rows stream by.

Why here and not in SQL over the staged file: the ingest already holds each validated Arrow
table, so counting it costs a few vectorized passes, where DuckDB would read the whole file
again. What is counted (the manifest entry's fields): rows, sessions (distinct provider +
session id), tool calls (the length of every `tools` list), the window (the earliest first and
the latest last event time of a step, `fingerprint.step_times`), the model histogram (an empty
or null model as "(none)"), the provider histogram and the distinct non-empty users.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


class Numbers:
    """Feed `update` every table of the kept rows; `result()` is the manifest's numbers."""

    def __init__(self) -> None:
        self.rows = 0
        self.tool_calls = 0
        self.sessions: set[tuple[str, str]] = set()
        self.first: str | None = None
        self.last: str | None = None
        self.models: Counter[str] = Counter()
        self.providers: Counter[str] = Counter()
        self.users: set[str] = set()

    def update(self, table: pa.Table, first_time: pa.Array, last_time: pa.Array) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not len(table):
            return
        self.rows += len(table)
        lengths = pc.list_value_length(table.column("tools"))
        self.tool_calls += pc.sum(lengths).as_py() or 0
        pairs = pa.table({"p": table.column("provider"), "s": table.column("session_id")})
        for row in pairs.group_by(["p", "s"]).aggregate([]).to_pylist():
            self.sessions.add((row["p"], row["s"]))
        lo, hi = pc.min(first_time).as_py(), pc.max(last_time).as_py()
        if lo is not None and (self.first is None or lo < self.first):
            self.first = lo
        if hi is not None and (self.last is None or hi > self.last):
            self.last = hi
        model = pc.fill_null(table.column("model"), "")
        model = pc.if_else(pc.equal(model, ""), "(none)", model)
        self._count(self.models, model)
        self._count(self.providers, table.column("provider"))
        users = pc.drop_null(pc.unique(table.column("user"))).to_pylist()
        self.users.update(u for u in users if u)

    @staticmethod
    def _count(counter: Counter[str], column: pa.ChunkedArray) -> None:
        import pyarrow.compute as pc

        for item in pc.value_counts(column).to_pylist():
            if item["values"] is not None:
                counter[item["values"]] += item["counts"]

    def result(self) -> tuple:
        """(rows, sessions, tool calls, first, last, models, providers, users)."""
        return (
            self.rows,
            len(self.sessions),
            self.tool_calls,
            self.first,
            self.last,
            dict(self.models),
            dict(self.providers),
            sorted(self.users) or None,
        )
