"""The JSON behind the Overview and Dashboard pages, computed in DuckDB over the fact tables.

KPIs come from the metric functions (`metrics.overview.headline`, `cache_savings`); the charts'
numbers are aggregates of fact-table columns whose metric definitions live in `tracelab.metrics`
(cost columns, effective latency, generation time, human wait, the step hit ratio). The charts
read the narrowest fact tables that hold them, so a cold server draws them before it has built
`step_facts`: the cost and token charts read `step_costs` (rounds and prices only), the timing
charts `tool_facts`, `human_waits` and `steps.GENERATION_FROM`. Every distribution has a fixed
size whatever the trace size: CDFs are `metrics.sql.quantile_curve` (201 quantiles), histograms
are bins, and the prefix-vs-append scatter is a seeded sample (by a hash of the step's key, so it
does not depend on row order) whose size and population are reported.
Local time: the browser sends its IANA time zone; DuckDB converts the TIMESTAMPTZ columns.
"""

from __future__ import annotations

import decimal
import functools
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import duckdb
import orjson

from tracelab.experiments.common import providers
from tracelab.metrics import tools
from tracelab.metrics.cache import STEP_HIT_RATIO_SQL
from tracelab.metrics.costs import price_coverage
from tracelab.metrics.generation import OUTPUT_BINS_PER_DECADE, log10_bin_sql
from tracelab.metrics.overview import cache_savings, headline
from tracelab.metrics.sql import quantile_curve, records, scalar
from tracelab.metrics.steps import (
    GENERATION_FROM,
    GENERATION_TABLES,
    TOOL_LATENCIES_FROM,
    prepare,
)
from tracelab.web.traces import TraceStore

#: Points of the prefix-vs-append scatter (a seeded sample of the steps), drawn as SVG
#: markers: in a fresh chromium 1,000 points draw in ~55 ms, 2,000 in ~95 ms, 4,000 in ~155 ms
#: (~210 ms as WebGL, whose context costs more than it saves) — the page's largest chart.
SCATTER_POINTS = 1500
#: The seed of the scatter's sample.
SCATTER_SEED = 7
#: The steps' tokens and costs (`steps.STEP_COSTS_SQL`): every chart of the `steps` part reads it.
STEPS = "step_costs"
#: Hit-ratio histogram: 10 bins of 10 %, the last closed at 100 %.
HIT_RATIO_BINS = 10
DEFAULT_TZ = "UTC"


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def valid_tz(tz: str | None) -> str:
    """The IANA zone if known, else UTC (a bad value must not reach SQL or fail the page)."""
    return tz if tz and tz in _zones() else DEFAULT_TZ


def jsonable(value: Any) -> Any:
    """Rows as JSON: datetimes as ISO-8601 strings, containers recursively."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    return str(value)


def encode(data: Any) -> bytes:
    """JSON bytes of API data (orjson: NaN becomes null, dates ISO-8601)."""
    return _dumps(jsonable(data))


def _dumps(data: Any) -> bytes:
    """JSON bytes of data already made `jsonable`."""
    return orjson.dumps(data, default=_default)


def local_zone() -> str:
    """This machine's IANA zone (TZ, else the /etc/localtime link), else UTC: the zone the
    dashboard is precomputed for at start-up, since the browser usually runs here too."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = str(Path("/etc/localtime").resolve())
        candidates.append(target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "")
    except OSError:
        pass
    return next((valid_tz(z) for z in candidates if z and z in _zones()), DEFAULT_TZ)


#: Names of UTC that a browser reports as "UTC" (ECMA-402 canonicalizes the zone's IANA links:
#: chromium on a machine whose /etc/localtime is Etc/UTC asks for tz=UTC).
UTC_ALIASES = frozenset(
    [
        "Etc/UTC",
        "Etc/UCT",
        "Etc/Universal",
        "Etc/Zulu",
        "UCT",
        "Universal",
        "Zulu",
        "Etc/GMT",
        "Etc/GMT0",
        "Etc/GMT+0",
        "Etc/GMT-0",
        "GMT",
        "GMT0",
        "GMT+0",
        "GMT-0",
        "Etc/Greenwich",
        "Greenwich",
    ]
)


def browser_zone() -> str:
    """`local_zone()` as a browser on this machine names it: the zone the dashboard is
    precomputed for at start-up (a different name would cost the first page a query)."""
    zone = local_zone()
    return "UTC" if zone in UTC_ALIASES else zone


#: The dashboard comes in two parts, so the page draws one while the server computes the
#: other: `steps` (highlights, activity, cost and token charts: `step_costs` and the base
#: tables, no event) and `tools` (tool latency and counts, the timing CDFs: the events' tables,
#: no price). `PART_TABLES`: the fact tables each part reads.
PARTS = ("steps", "tools")
PART_TABLES = {
    "steps": (STEPS,),
    "tools": ("tool_facts", "human_waits", *GENERATION_TABLES),
}
#: Bumped when the JSON of a part changes: the disk cache of an older TraceLab is not read.
_CACHE_VERSION = "v6"


def _part_key(part: str, tz: str) -> str:
    """The disk-cache key of a part (only the `steps` part depends on the zone)."""
    zone = f"-{tz}" if part == "steps" else ""
    return f"dashboard-{_CACHE_VERSION}-{part}{zone}"


def part_json(store: TraceStore, part: str, tz: str) -> bytes:
    """One part of the dashboard of `store` (zone `tz`: only the `steps` part depends on it),
    computed once and kept encoded, in memory and on disk."""
    if part not in PART_TABLES:
        raise ValueError(f"no dashboard part {part!r} (parts: {', '.join(PARTS)})")
    tables = PART_TABLES[part]
    if part == "tools":

        def compute_tools(con: duckdb.DuckDBPyConnection) -> bytes:
            return _dumps(tools_part(con))

        return store.disk_cached(_part_key(part, tz), compute_tools, tables)

    def compute_steps(con: duckdb.DuckDBPyConnection) -> bytes:
        rest = store.cached("dashboard-steps", steps_part, tables)
        return _dumps(_assemble(tz, *activity(con, tz), rest))

    return store.disk_cached(_part_key(part, tz), compute_steps, tables)


def cached_json(store: TraceStore, tz: str) -> bytes:
    """The whole dashboard of `store` in zone `tz` (both parts in one object, in `dashboard`'s
    key order). Only its activity charts depend on the zone: a browser in another zone than the
    one precomputed at start-up (even an alias of it, `UTC` for `Etc/UTC`) waits for one query,
    not the whole dashboard again."""
    steps = orjson.loads(part_json(store, "steps", tz))
    return _dumps(steps | orjson.loads(part_json(store, "tools", tz)))


#: The order the warm-up computes the dashboard's parts in (see `warm`).
WARM_ORDER = ("tools", "steps")
#: How long the warm-up's background stage waits for a browser to draw a page of the trace.
PAGE_WAIT_S = 5.0


def warm(store: TraceStore, page_wait_s: float = 0.0) -> None:
    """At start-up: the dashboard's parts for this machine's zone (from the disk cache when this
    database was served before), then, as background work (`TraceStore.in_background`), every
    page's fact tables and the overview, so the first visit to any page finds them ready.

    The `tools` part comes first (`WARM_ORDER`): it needs no price, so DuckDB builds its event
    tables without holding the GIL while the server still imports its web stack and
    genai-prices loads in its own thread (`tracelab.pricing.preload`); the `steps` part then
    finds the prices loaded. The background stage waits up to `page_wait_s` for a browser to
    have drawn a page of the trace (`TraceStore.drawn`): on a small machine it would otherwise
    slow the drawing of the first page, and another page's first request prepares what it
    needs itself."""
    zone = browser_zone()
    for part in WARM_ORDER:
        part_json(store, part, zone)
    store.drawn.wait(page_wait_s)

    def rest() -> None:
        store.warm()
        store.cached("overview", overview)

    store.in_background(rest)


def overview(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Headline KPIs per provider and total (with the steps priced exactly, by fallback and
    not at all, and the 5-minute / 1-hour cache-write split), cache savings, date range, and
    the price source."""
    head = headline(con)
    savings = {r["provider"]: r["cache_savings"] for r in cache_savings(con)}
    for row in head:
        row["cache_savings"] = savings.get(row["provider"])
    return jsonable({"headline": head, "providers": providers(con), "prices": price_coverage(con)})


def _curve(points: dict[str, list[tuple[float, float]]]) -> dict[str, dict[str, list[float]]]:
    return {g: {"x": [p[0] for p in pts], "y": [p[1] for p in pts]} for g, pts in points.items()}


ACTIVITY_SQL = f"""
WITH local AS (
    SELECT timezone(?, started_at) AS t, provider, session_id, cost_total
    FROM {STEPS} WHERE started_at IS NOT NULL
)
SELECT grouping(CAST(t AS DATE)) = 0 AS is_daily,
       CAST(t AS DATE) AS day, provider, isodow(t) AS weekday, hour(t) AS hour,
       count(*) AS steps, count(DISTINCT session_id) AS sessions, sum(cost_total) AS cost
FROM local
GROUP BY GROUPING SETS ((CAST(t AS DATE), provider), (isodow(t), hour(t)))
ORDER BY is_daily DESC, day, provider, weekday, hour
"""


def activity(
    con: duckdb.DuckDBPyConnection, tz: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """In one pass over the steps' local times (zone `tz`): steps, sessions and cost per local
    day and provider (the activity calendar), and steps per local ISO weekday (1 = Monday) ×
    hour of day (the heatmap)."""
    days: list[dict[str, Any]] = []
    hours: list[dict[str, Any]] = []
    for r in records(con, ACTIVITY_SQL, [tz]):
        if r["is_daily"]:
            days.append({k: r[k] for k in ("day", "provider", "steps", "sessions", "cost")})
        else:
            hours.append({k: r[k] for k in ("weekday", "hour", "steps")})
    return days, hours


def daily(con: duckdb.DuckDBPyConnection, tz: str) -> list[dict[str, Any]]:
    """Steps, sessions and cost per local day and provider (the activity calendar)."""
    return activity(con, tz)[0]


def hour_weekday(con: duckdb.DuckDBPyConnection, tz: str) -> list[dict[str, Any]]:
    """Steps per local ISO weekday (1 = Monday) × hour of day."""
    return activity(con, tz)[1]


#: Steps without a price (they carry no cost; `metrics.costs.price_coverage` counts the same).
UNPRICED = "price_match IS NULL"
#: Projects drawn one by one in the cost-per-project chart; the rest are summed as one bar.
TOP_PROJECTS = 20


def cost_by_model(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per model: cost of cached (prefix), fresh (append: uncached input, 5-minute and 1-hour
    cache writes) and output tokens, how it was priced (`fallback_steps`); `unpriced_steps`
    carry no cost (an unpriced model's costs are null, and the page lists it as unpriced)."""
    return records(
        con,
        f"""
        SELECT coalesce(model, '(unknown)') AS model, any_value(provider) AS provider,
               count(*) AS steps, bool_and(priced) AS priced,
               count(*) FILTER (WHERE {UNPRICED}) AS unpriced_steps,
               count(*) FILTER (WHERE price_match = 'fallback') AS fallback_steps,
               sum(cost_prefix) AS cached, sum(cost_append) AS fresh,
               sum(cost_input) AS fresh_input, sum(cost_write_5m) AS write_5m,
               sum(cost_write_1h) AS write_1h, sum(cost_output) AS output,
               sum(cost_total) AS total
        FROM {STEPS} GROUP BY 1 ORDER BY total DESC NULLS LAST, steps DESC
        """,
    )


def cost_by_project(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Cost per project (the sessions' working directory, `rounds.project`) and provider: the
    `TOP_PROJECTS` costliest projects, the rest summed as `other` (with how many they are);
    steps without a project count as project null."""
    rows = records(
        con,
        f"""
        WITH per AS (
            SELECT r.project, s.provider, count(*) AS steps,
                   count(DISTINCT s.session_id) AS sessions, sum(s.cost_total) AS cost,
                   count(*) FILTER (WHERE {UNPRICED}) AS unpriced_steps
            FROM {STEPS} s JOIN rounds r USING (round_pk) GROUP BY ALL
        ),
        ranked AS (
            SELECT project, row_number() OVER (
                       ORDER BY sum(coalesce(cost, 0)) DESC, sum(steps) DESC, project NULLS LAST
                   ) AS rank
            FROM per GROUP BY project
        )
        SELECT per.*, ranked.rank
        FROM per JOIN ranked ON per.project IS NOT DISTINCT FROM ranked.project
        ORDER BY ranked.rank, per.provider
        """,
    )
    top = [r for r in rows if r["rank"] <= TOP_PROJECTS]
    rest = [r for r in rows if r["rank"] > TOP_PROJECTS]
    other: dict[str, dict[str, Any]] = {}
    for r in rest:
        empty = {"provider": r["provider"], "steps": 0, "cost": None, "unpriced_steps": 0}
        o = other.setdefault(r["provider"], empty)
        o["steps"] += r["steps"]
        o["unpriced_steps"] += r["unpriced_steps"]
        if r["cost"] is not None:
            o["cost"] = (o["cost"] or 0) + r["cost"]
    return {
        "projects": top,
        "other": list(other.values()),
        "other_projects": len({r["project"] for r in rest}),
    }


def scatter(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """A seeded sample of (prefix, append) per step, with the population it is drawn from: the
    `SCATTER_POINTS` steps with input whose hash of (round_pk, seed) is smallest — the same
    steps whatever the order the table's rows are in."""
    population = scalar(con, f"SELECT count(*) FROM {STEPS} WHERE context > 0")
    rows = records(
        con,
        f"""
        SELECT provider, prefix, append, session_id, round_pk
        FROM {STEPS} WHERE context > 0
        ORDER BY hash(round_pk, {SCATTER_SEED}), round_pk LIMIT {SCATTER_POINTS}
        """,
    )
    groups: dict[str, dict[str, list]] = {}
    for r in sorted(rows, key=lambda r: r["round_pk"]):
        g = groups.setdefault(r["provider"] or "?", {"x": [], "y": [], "session": [], "step": []})
        g["x"].append(r["prefix"])
        g["y"].append(r["append"])
        g["session"].append(r["session_id"])
        g["step"].append(r["round_pk"])
    return {"population": population, "sampled": len(rows), "groups": groups}


def output_histogram(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Steps per log bin of output tokens (bin k: [10^(k/n), 10^((k+1)/n)), output ≥ 1)."""
    rows = records(
        con,
        f"""
        SELECT provider, {log10_bin_sql("output")} AS bin, count(*) AS steps
        FROM {STEPS} WHERE output >= 1 GROUP BY ALL ORDER BY provider, bin
        """,
    )
    zero = records(
        con, f"SELECT provider, count(*) AS steps FROM {STEPS} WHERE output < 1 GROUP BY ALL"
    )
    return {"per_decade": OUTPUT_BINS_PER_DECADE, "bins": rows, "zero_output": zero}


def hit_ratio_bins(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Steps per bin of the step hit ratio prefix / (prefix + append) (steps with input):
    `bins` equal bins over [0, 1] (the page labels them from this count), `counts` per
    provider and bin."""
    n = HIT_RATIO_BINS
    counts = records(
        con,
        f"""
        SELECT provider, least(floor({STEP_HIT_RATIO_SQL} * {n})::INTEGER, {n - 1}) AS bin,
               count(*) AS steps
        FROM {STEPS} WHERE context > 0 GROUP BY ALL ORDER BY provider, bin
        """,
    )
    return {"bins": n, "counts": counts}


def highlights(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Notable sessions and steps, each with the session (and step) it links to."""
    out: list[dict[str, Any]] = []
    per_session = f"""
        SELECT session_id, any_value(provider) AS provider, count(*) AS steps,
               sum(cost_total) AS cost,
               epoch_ms(max(started_at)) - epoch_ms(min(started_at)) AS duration_ms,
               sum(tool_call_count) AS tool_calls
        FROM {STEPS} GROUP BY session_id
    """
    picks = (
        ("most_steps", "Longest session (steps)", "steps", "steps"),
        ("longest", "Longest session (wall time)", "duration_ms", "ms"),
        ("priciest", "Priciest session", "cost", "usd"),
        ("most_tools", "Most tool calls in a session", "tool_calls", "count"),
    )
    # The sessions are aggregated once; each pick is the top one of them.
    tops = " UNION ALL ".join(
        f"(SELECT '{key}' AS pick, * FROM per_session WHERE {column} IS NOT NULL "
        f"ORDER BY {column} DESC, session_id LIMIT 1)"
        for key, _, column, _ in picks
    )
    found = {
        r["pick"]: r
        for r in records(con, f"WITH per_session AS MATERIALIZED ({per_session}) {tops}")
    }
    for key, title, column, kind in picks:
        if key in found:
            r = found[key]
            out.append(
                {"key": key, "title": title, "value": r[column], "kind": kind, **_link(r, None)}
            )
    slow = records(
        con,
        f"""
        SELECT session_id, provider, round_pk, {tools.TOOL} AS tool, {tools.LATENCY} AS ms
        FROM {TOOL_LATENCIES_FROM} WHERE {tools.POSITIVE}
        ORDER BY ms DESC, round_pk LIMIT 1
        """,
    )
    if slow:
        r = slow[0]
        out.append(
            {
                "key": "slowest_tool",
                "title": f"Slowest tool call ({r['tool']})",
                "value": r["ms"],
                "kind": "ms",
                **_link(r, r["round_pk"]),
            }
        )
    big = records(
        con,
        f"SELECT session_id, provider, round_pk, context FROM {STEPS} "
        "ORDER BY context DESC, round_pk LIMIT 1",
    )
    if big:
        r = big[0]
        out.append(
            {
                "key": "largest_context",
                "title": "Largest context (one step)",
                "value": r["context"],
                "kind": "tokens",
                **_link(r, r["round_pk"]),
            }
        )
    return out


def _link(row: dict[str, Any], step: int | None) -> dict[str, Any]:
    return {"session_id": row["session_id"], "provider": row.get("provider"), "step": step}


def dashboard(con: duckdb.DuckDBPyConnection, tz: str) -> dict[str, Any]:
    """Everything the Dashboard page draws, in one object (both parts; see `PARTS`)."""
    rest = steps_part(con)  # prepares the tables `activity` reads too
    return _assemble(tz, *activity(con, tz), rest) | tools_part(con)


def steps_part(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The `steps` part's charts that do not depend on the time zone (JSON-ready): they read
    `step_costs` only."""
    prepare(con, tables=PART_TABLES["steps"])
    return jsonable(
        {
            "providers": providers(con, STEPS),
            "cost_by_model": cost_by_model(con),
            "cost_by_project": cost_by_project(con),
            "scatter": scatter(con),
            "output_hist": output_histogram(con),
            "hit_ratio_bins": hit_ratio_bins(con),
            "highlights": highlights(con),
        }
    )


def tools_part(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The `tools` part (zone-free, JSON-ready): tool latency and counts (`tool_facts`), and the
    generation-time and human-wait CDFs."""
    prepare(con, tables=PART_TABLES["tools"])
    tool_cdf = quantile_curve(
        con, f"FROM tool_facts WHERE {tools.POSITIVE}", tools.LATENCY, "provider"
    )
    gen_cdf = quantile_curve(con, f"FROM {GENERATION_FROM} WHERE gen_ms > 0", "gen_ms", "provider")
    wait_cdf = quantile_curve(con, "FROM human_waits WHERE wait_ms > 0", "wait_ms", "provider")
    return jsonable(
        {
            "tool_latency_cdf": _curve(tool_cdf),
            "latency_by_tool": tools.tool_latency(con, top=12),
            "tool_counts": tools.popularity(con, top=15),
            "generation_cdf": _curve(gen_cdf),
            "human_wait_cdf": _curve(wait_cdf),
        }
    )


def _assemble(
    tz: str, days: list[dict[str, Any]], hours: list[dict[str, Any]], rest: dict[str, Any]
) -> dict[str, Any]:
    """The `steps` part of zone `tz`: its activity charts and its zone-free charts (`rest`),
    in the response's key order."""
    out = {"timezone": tz, "providers": rest["providers"]}
    out |= {"daily": jsonable(days), "hour_weekday": jsonable(hours)}
    return out | {k: v for k, v in rest.items() if k != "providers"}
