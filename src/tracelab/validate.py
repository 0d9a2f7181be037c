"""`tracelab validate`: integrity audits of a trace database, each a pass/fail check in SQL.

Why: every analysis trusts a few invariants of the normalized format (token identities, one row
per step, ordered timestamps). A trace that breaks them still produces numbers — wrong ones. Each
check here counts the items that break one invariant, over a stated population (the
denominator), with up to `MAX_EXAMPLES` offending rows named by `round_pk` / `session_id` /
`trace_key` (pseudonyms in a sanitized trace, so the report can be shared).

A check is two SQL statements over the database tables (`rounds`, `tool_calls`,
`timing_events`) and the prepared metric tables (`tracelab.metrics.steps`):
`population` — one row per checked item, with its `provider` (or, `counted`, the items counted
per provider); `offending` — one row per item that breaks the invariant, with the `round_pk` of
its step and a `detail` text.

Every finding has ONE severity (`CheckSpec.severity`), the only field that decides how it is
shown and what the exit code is:
- "error": a broken invariant of the format (token identities, a step counted twice): the
  numbers built on it are wrong. `ok` is False, `tracelab validate` exits 1.
- "warning": something real logs always contain (events written out of order by the CLI, clock
  skew, non-positive latencies) that the analyses already tolerate; shown, exit 0.
- "info": a fact about the trace, not a defect (steps without an input event).

Duplicate keys (`trace_key`, `round_id` and `(session_id, round_index)` per session, a tool
call id in two steps) are warnings: the public release keeps every row and has them (spec
`public-dataset.md`), and nothing is de-duplicated. `run_checks(strict=True)` (`validate
--strict`) makes them failures.

Constants (documented choices):
- `ORDER_TOLERANCE_MS` = 1 s: an event (or a step) may start up to 1 s before the one before it
  without being flagged — agents write timestamps from more than one clock/thread, at ms
  resolution, and sub-second jitter changes no analysis.
- `LONG_GAP_DAYS` = 7: consecutive steps of one session more than a week apart are a clock jump
  (or a session resumed much later); either way they distort per-session durations.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import duckdb

from tracelab.experiments.fmt import format_value
from tracelab.metrics.sql import rows
from tracelab.metrics.steps import STEP_TABLES, ms_between, prepare
from tracelab.schema import TOKEN_FIELDS

ORDER_TOLERANCE_MS = 1000
LONG_GAP_DAYS = 7
MAX_EXAMPLES = 5

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)
#: Older names of the severities (still accepted by `CheckSpec`).
FAIL, WARN = ERROR, WARNING


def _txt(expr: str) -> str:
    """SQL text of a value for a `detail` message (NULL shown as 'null')."""
    return f"coalesce(({expr})::VARCHAR, 'null')"


def _secs(ms_expr: str) -> str:
    """SQL text '12.3 s' of a millisecond expression."""
    return f"printf('%.1f s', ({ms_expr}) / 1000.0)"


@dataclass(frozen=True)
class CheckSpec:
    """One invariant: what it checks, and the SQL of its population and offending items."""

    id: str
    title: str
    description: str
    severity: str
    unit: str
    population: str
    offending: str
    #: A duplicate-key check: a warning, a failure under `strict`.
    key: bool = False
    #: `population` gives (provider, count) rows instead of one row per item (a count that
    #: needs no pass of its own over the items).
    counted: bool = False

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"check {self.id}: severity must be one of {SEVERITIES}")


# --- 1. token identities --------------------------------------------------------------------

_CLAUDE_TOTAL = CheckSpec(
    id="tokens.claude_total",
    title="Claude input total = prefix + append",
    description="Claude steps must satisfy `input_tokens_total = prefix_tokens + "
    "newly_append_tokens` exactly (the format's identity); a missing count breaks it too.",
    severity=ERROR,
    unit="Claude steps",
    population="SELECT provider FROM rounds WHERE provider = 'claude'",
    offending=f"""
        SELECT round_pk,
               'input_tokens_total ' || {_txt("input_tokens_total")} || ' ≠ prefix '
               || {_txt("prefix_tokens")} || ' + append ' || {_txt("newly_append_tokens")}
               AS detail
        FROM rounds
        WHERE provider = 'claude'
          AND input_tokens_total IS DISTINCT FROM prefix_tokens + newly_append_tokens
    """,
)

_CLAUDE_SPLIT = CheckSpec(
    id="tokens.claude_split",
    title="Claude append/prefix match the raw usage split",
    description="Where Claude's raw usage split is present: `newly_append_tokens = "
    "claude_uncached_input_tokens + claude_cache_creation_input_tokens` and `prefix_tokens = "
    "claude_cache_read_input_tokens`.",
    severity=ERROR,
    unit="Claude steps with the raw split",
    population="""
        SELECT provider FROM rounds
        WHERE provider = 'claude' AND claude_uncached_input_tokens IS NOT NULL
          AND claude_cache_creation_input_tokens IS NOT NULL
          AND claude_cache_read_input_tokens IS NOT NULL
    """,
    offending=f"""
        SELECT round_pk,
               'append ' || {_txt("newly_append_tokens")} || ' vs uncached '
               || claude_uncached_input_tokens || ' + creation '
               || claude_cache_creation_input_tokens || '; prefix '
               || {_txt("prefix_tokens")} || ' vs cache_read ' || claude_cache_read_input_tokens
               AS detail
        FROM rounds
        WHERE provider = 'claude' AND claude_uncached_input_tokens IS NOT NULL
          AND claude_cache_creation_input_tokens IS NOT NULL
          AND claude_cache_read_input_tokens IS NOT NULL
          AND (newly_append_tokens IS DISTINCT FROM
                   claude_uncached_input_tokens + claude_cache_creation_input_tokens
               OR prefix_tokens IS DISTINCT FROM claude_cache_read_input_tokens)
    """,
)

_CODEX_APPEND = CheckSpec(
    id="tokens.codex_append",
    title="Codex append = max(0, input total − prefix)",
    description="Codex steps with both `input_tokens_total` and `prefix_tokens` must have "
    "`newly_append_tokens = max(0, input_tokens_total − prefix_tokens)` (cached input is "
    "included in Codex's input count).",
    severity=ERROR,
    unit="Codex steps with input and prefix counts",
    population="""
        SELECT provider FROM rounds
        WHERE provider = 'codex' AND input_tokens_total IS NOT NULL
          AND prefix_tokens IS NOT NULL
    """,
    offending=f"""
        SELECT round_pk,
               'append ' || {_txt("newly_append_tokens")} || ' vs max(0, '
               || input_tokens_total || ' − ' || prefix_tokens || ')' AS detail
        FROM rounds
        WHERE provider = 'codex' AND input_tokens_total IS NOT NULL
          AND prefix_tokens IS NOT NULL
          AND newly_append_tokens IS DISTINCT FROM greatest(0, input_tokens_total - prefix_tokens)
    """,
)

_NEGATIVE_LIST = ", ".join(f"CASE WHEN {f} < 0 THEN '{f} ' || {f} END" for f in TOKEN_FIELDS)
_NEGATIVE = CheckSpec(
    id="tokens.negative",
    title="No negative token counts",
    description="Every token count of a step (" + ", ".join(f"`{f}`" for f in TOKEN_FIELDS) + ") "
    "is ≥ 0 where present.",
    severity=ERROR,
    unit="steps",
    population="SELECT provider FROM rounds",
    offending=f"""
        SELECT round_pk, concat_ws('; ', {_NEGATIVE_LIST}) AS detail
        FROM rounds
        WHERE {" OR ".join(f"{f} < 0" for f in TOKEN_FIELDS)}
    """,
)

# --- 2. non-positive latencies --------------------------------------------------------------


def _tool_latency_check(column: str, label: str, why: str) -> CheckSpec:
    """Tool calls whose `column` latency is ≤ 0 (real logs have them: a warning)."""
    return CheckSpec(
        id=f"latency.tool_{label}",
        title=f"Tool {label} latency > 0",
        description=f"Tool calls with a `{column}` should have it > 0. {why} Analyses keep "
        "only strictly positive effective latencies (internal if present, else wall), so "
        "these calls drop out of latency distributions.",
        severity=WARNING,
        unit=f"tool calls with {label} latency",
        population=f"SELECT provider FROM tool_calls WHERE {column} IS NOT NULL",
        offending=f"""
            SELECT round_pk,
                   {_txt("tool_name")} || ' ' || {_txt("tool_call_id")} || ': ' || {column}
                   || ' ms' AS detail
            FROM tool_calls WHERE {column} <= 0
        """,
    )


_WALL_WHY = "≤ 0 means clock skew between the call's and its result's timestamps."
_INTERNAL_WHY = (
    "The runner reported ≤ 0: usually a command that finished in under half a millisecond "
    "(Codex `Wall time: 0.0000 seconds`, rounded to 0 ms); a negative value is bogus."
)


_GENERATION = CheckSpec(
    id="latency.generation",
    title="Observable generation time > 0",
    description="Among steps with both an input event before the first model output and a "
    "model-output event, the observable generation time (`step_facts.gen_ms`) must be > 0; "
    "≤ 0 means clock skew (such steps drop out of generation-time analyses).",
    severity=WARNING,
    unit="steps with a generation time",
    population="SELECT provider FROM step_facts WHERE gen_ms IS NOT NULL",
    offending=f"""
        SELECT round_pk, 'generation time ' || {_secs("gen_ms")} AS detail
        FROM step_facts WHERE gen_ms <= 0
    """,
)

# --- 3. duplicates --------------------------------------------------------------------------


def _copies(table: str, key: str, not_null: str | None = None) -> str:
    """The rows of `table` whose `key` (columns) an earlier row (by `round_pk`) already has,
    with `first_pk`, the first row's `round_pk`; rows with a null `not_null` column (default:
    `key`) are not keys. No window over every row: the key hashes seen more than once are
    counted first (one integer per row), the keys of those rows only are then grouped exactly
    (a hash collision is only a candidate), and only their rows are joined back."""
    columns = [c.strip() for c in key.split(",")]
    same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM d.{c}" for c in columns)  # as PARTITION BY
    where = f"{not_null or key} IS NOT NULL"
    return f"""(
        SELECT t.*, d.first_pk
        FROM {table} t
        JOIN (SELECT {key}, min(round_pk) AS first_pk FROM {table}
              WHERE {where} AND hash({key}) IN (
                  SELECT hash({key}) FROM {table} WHERE {where}
                  GROUP BY ALL HAVING count(*) > 1)
              GROUP BY ALL HAVING count(*) > 1) d ON {same}
        WHERE t.{where} AND t.round_pk <> d.first_pk
    )"""


_DUP_TRACE_KEY = CheckSpec(
    id="duplicates.trace_key",
    title="trace_key is unique",
    description="`trace_key` is the dedup key: a second row with the same key is the same "
    "step counted twice (the public release keeps such rows). Counted: every copy after the "
    "first (by `round_pk`).",
    severity=WARNING,
    key=True,
    unit="steps with a trace_key",
    population="SELECT provider FROM rounds WHERE trace_key IS NOT NULL",
    offending=f"""
        SELECT round_pk, 'copy of round_pk ' || first_pk AS detail
        FROM {_copies("rounds", "trace_key")}
    """,
)

_DUP_ROUND_ID = CheckSpec(
    id="duplicates.round_id",
    title="round_id is unique within a session",
    description="Two steps of one session with the same `round_id` (the public dataset keeps "
    "some). Counted: every copy after the first (by `round_pk`).",
    severity=WARNING,
    key=True,
    unit="steps with a round_id",
    population="SELECT provider FROM rounds WHERE round_id IS NOT NULL",
    offending=f"""
        SELECT round_pk, 'round_id ' || {_txt("round_id")} || ' first at round_pk ' || first_pk
               AS detail
        FROM {_copies("rounds", "session_id, round_id", "round_id")}
    """,
)

_DUP_ROUND_INDEX = CheckSpec(
    id="duplicates.round_index",
    title="round_index is unique within a session",
    description="Two steps of one session at the same `round_index` (the public dataset keeps "
    "some); steps are then ordered by `round_pk`. Counted: every copy after the first (by "
    "`round_pk`).",
    severity=WARN,
    key=True,
    unit="steps with a round_index",
    population="SELECT provider FROM rounds WHERE round_index IS NOT NULL",
    offending=f"""
        SELECT round_pk, 'round_index ' || round_index || ' first at round_pk ' || first_pk
               AS detail
        FROM {_copies("rounds", "session_id, round_index", "round_index")}
    """,
)

_DUP_TOOL_CALL = CheckSpec(
    id="duplicates.tool_call",
    title="A tool call belongs to one step",
    description="The same (`session_id`, `tool_call_id`) in more than one step (e.g. a subagent "
    "copy of its parent's calls, or a duplicated step) counts one call several times. Counted: "
    "the copies in steps after the first.",
    severity=WARNING,
    key=True,
    unit="tool calls with an id",
    population="SELECT provider FROM tool_calls WHERE tool_call_id IS NOT NULL",
    offending=f"""
        SELECT round_pk, {_txt("tool_name")} || ' ' || tool_call_id || ' first in round_pk '
               || first_pk AS detail
        FROM {_copies("tool_calls", "session_id, tool_call_id", "tool_call_id")}
    """,
)

# --- 4. timing-event order ------------------------------------------------------------------

#: Each timestamped event with the previous timestamped event of its step: one window over
#: the whole table in (round_pk, event_pos) order, the previous row being of the same step when
#: its round_pk is (no partition per step: the sort is shared by both cores).
_TIMED_EVENTS = """
    SELECT round_pk, event_pos, event_type, timestamp,
           lag(round_pk) OVER w AS prev_pk, lag(timestamp) OVER w AS prev_ts,
           lag(event_type) OVER w AS prev_type
    FROM timing_events WHERE timestamp IS NOT NULL
    WINDOW w AS (ORDER BY round_pk, event_pos)
"""
_EVENT_BACKSTEP = ms_between("timestamp", "prev_ts")

_EVENT_ORDER = CheckSpec(
    id="timing.event_order",
    title="Timing events of a step are in time order",
    description="Each timestamped event must not be earlier than the previous timestamped "
    f"event of the same step by more than {ORDER_TOLERANCE_MS} ms (tolerance for jitter "
    "between writers). Real Claude Code / Codex logs always have some (the CLI writes events from "
    "more than one thread), so this is a warning: the generation time of such a step is wrong.",
    severity=WARNING,
    unit="events after another timestamped event of their step",
    # every timestamped event but the first of its step (a step has one provider)
    population="""
        SELECT provider, count(timestamp) - count(DISTINCT round_pk) FILTER (timestamp IS NOT NULL)
        FROM timing_events GROUP BY provider
    """,
    counted=True,
    offending=f"""
        SELECT round_pk,
               'event ' || event_pos || ' (' || {_txt("event_type")} || ') is '
               || {_secs(_EVENT_BACKSTEP)} || ' before the previous ' || {_txt("prev_type")}
               AS detail
        FROM ({_TIMED_EVENTS})
        WHERE prev_pk = round_pk AND {_EVENT_BACKSTEP} > {ORDER_TOLERANCE_MS}
    """,
)

# --- 5. steps without timing / input type ---------------------------------------------------

_NO_EVENTS = CheckSpec(
    id="timing.no_events",
    title="Every step has a timestamped event",
    description="Steps without any timing event carrying a timestamp have no start time: they "
    "drop out of every timing analysis (their tokens still count).",
    severity=WARNING,
    unit="steps",
    population="SELECT provider FROM rounds",
    # `step_events` has a row per step with events, `first_ts` null when none is timestamped;
    # only those few steps' events are counted again for the detail
    offending="""
        WITH untimed AS (
            SELECT r.round_pk, ev.round_pk IS NOT NULL AS has_events
            FROM rounds r LEFT JOIN step_events ev USING (round_pk)
            WHERE ev.first_ts IS NULL
        )
        SELECT u.round_pk,
               CASE WHEN NOT u.has_events THEN 'no timing events'
                    ELSE e.events || ' events, none with a timestamp' END AS detail
        FROM untimed u
        LEFT JOIN (SELECT round_pk, count(*) AS events FROM timing_events
                   WHERE round_pk IN (SELECT round_pk FROM untimed WHERE has_events)
                   GROUP BY round_pk) e USING (round_pk)
    """,
)

_NO_FIRST_INPUT = CheckSpec(
    id="timing.no_first_input",
    title="Every step has a first input event type",
    description="Steps with a null `first_input_event_type` had no user message or tool result "
    "before them; they are neither user- nor tool-initiated (informational).",
    severity=INFO,
    unit="steps",
    population="SELECT provider FROM rounds",
    offending=f"""
        SELECT round_pk, {_txt("timing_event_count")} || ' events, no input event' AS detail
        FROM rounds WHERE first_input_event_type IS NULL
    """,
)

# --- 6. session clock jumps -----------------------------------------------------------------

#: Each timed step (first and last event known) with the previous timed step of its session:
#: in a session whose every step is timed that is the step's `prev_pk` (joined by key); the
#: steps of the other sessions go through a window.
_TIMED_STEPS = f"""
    WITH untimed AS (
        SELECT DISTINCT session_id FROM step_facts WHERE started_at IS NULL OR ended_at IS NULL
    ),
    linked AS (
        SELECT s.round_pk, s.provider, s.session_id, s.seq, s.started_at,
               p.ended_at AS prev_end, p.seq AS prev_seq
        FROM step_facts s LEFT JOIN step_facts p ON p.round_pk = s.prev_pk
        WHERE NOT EXISTS (
            SELECT 1 FROM untimed u WHERE u.session_id IS NOT DISTINCT FROM s.session_id)
        UNION ALL
        SELECT round_pk, provider, session_id, seq, started_at,
               lag(ended_at) OVER w AS prev_end, lag(seq) OVER w AS prev_seq
        FROM step_facts s
        WHERE started_at IS NOT NULL AND ended_at IS NOT NULL
          AND EXISTS (SELECT 1 FROM untimed u WHERE u.session_id IS NOT DISTINCT FROM s.session_id)
        WINDOW w AS (PARTITION BY session_id ORDER BY seq)
    )
    SELECT *, {ms_between("prev_end", "started_at")} AS gap_ms FROM linked
"""
_TIMED_SESSIONS = """
    SELECT any_value(provider) AS provider FROM step_facts
    WHERE started_at IS NOT NULL AND ended_at IS NOT NULL
    GROUP BY session_id HAVING count(*) >= 2
"""


def _session_jump_check(
    id: str, title: str, description: str, condition: str, detail: str
) -> CheckSpec:
    """Sessions with at least one step meeting `condition`; the first such step is the example."""
    return CheckSpec(
        id=id,
        title=title,
        description=description,
        severity=WARNING,
        unit="sessions with ≥ 2 timed steps",
        population=_TIMED_SESSIONS,
        offending=f"""
            SELECT round_pk, {detail} AS detail
            FROM ({_TIMED_STEPS})
            WHERE {condition}
            QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY seq) = 1
        """,
    )


_BACKWARD = _session_jump_check(
    "sessions.backward_jump",
    "Steps of a session do not go back in time",
    "Sessions with a step whose first event is earlier than the previous step's last event by "
    f"more than {ORDER_TOLERANCE_MS} ms (a clock jump, or steps interleaved out of order). "
    "Counted per session; the example is its first such step.",
    f"gap_ms < -{ORDER_TOLERANCE_MS}",
    f"'step ' || seq || ' starts ' || {_secs('-gap_ms')} || ' before step ' || prev_seq "
    "|| ' ended'",
)

_LONG_GAP = _session_jump_check(
    "sessions.long_gap",
    f"Consecutive steps of a session are ≤ {LONG_GAP_DAYS} days apart",
    f"Sessions with two consecutive steps more than {LONG_GAP_DAYS} days apart (a clock jump "
    "or a session resumed much later; either inflates per-session durations). Counted per "
    "session; the example is its first such step.",
    f"gap_ms > {LONG_GAP_DAYS} * 86400000.0",
    "'step ' || seq || ' starts ' || printf('%.1f', gap_ms / 86400000.0) "
    "|| ' days after step ' || prev_seq",
)

CHECKS: tuple[CheckSpec, ...] = (
    _CLAUDE_TOTAL,
    _CLAUDE_SPLIT,
    _CODEX_APPEND,
    _NEGATIVE,
    _tool_latency_check("tool_wall_latency_ms", "wall", _WALL_WHY),
    _tool_latency_check("tool_internal_latency_ms", "internal", _INTERNAL_WHY),
    _GENERATION,
    _DUP_TRACE_KEY,
    _DUP_ROUND_ID,
    _DUP_ROUND_INDEX,
    _DUP_TOOL_CALL,
    _EVENT_ORDER,
    _NO_EVENTS,
    _NO_FIRST_INPUT,
    _BACKWARD,
    _LONG_GAP,
)


# --- results --------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """The outcome of one check: counts (total and per provider) and a few examples."""

    spec: CheckSpec
    count: int
    denominator: int
    by_provider: dict[str, tuple[int, int]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.count == 0

    @property
    def status(self) -> str:
        """PASS, or the severity of the finding in capitals (ERROR, WARNING, INFO)."""
        return "PASS" if self.passed else self.spec.severity.upper()

    def share(self) -> str:
        """'1.2%' of the denominator, or '–' when there is nothing to check."""
        return format_value(self.count / self.denominator if self.denominator else None, "pct")

    def to_json(self) -> dict[str, Any]:
        s = self.spec
        return {
            "id": s.id,
            "title": s.title,
            "description": s.description,
            "severity": s.severity,
            "status": self.status,
            "passed": self.passed,
            "count": self.count,
            "denominator": self.denominator,
            "unit": s.unit,
            "by_provider": {
                p: {"count": c, "denominator": d} for p, (c, d) in self.by_provider.items()
            },
            "examples": self.examples,
        }


@dataclass
class ValidationResult:
    """Every check's outcome; `ok` unless a check of severity "error" found something."""

    checks: list[CheckResult]
    trace: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings(ERROR)

    def findings(self, severity: str) -> list[CheckResult]:
        """The checks of `severity` that found something."""
        return [c for c in self.checks if not c.passed and c.spec.severity == severity]

    def counts(self) -> dict[str, int]:
        """Findings per severity, every severity present (0 when none)."""
        return {s: len(self.findings(s)) for s in SEVERITIES}

    def check(self, check_id: str) -> CheckResult:
        for c in self.checks:
            if c.spec.id == check_id:
                return c
        raise KeyError(check_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "findings": self.counts(),
            "trace": self.trace,
            "constants": {
                "order_tolerance_ms": ORDER_TOLERANCE_MS,
                "long_gap_days": LONG_GAP_DAYS,
            },
            "checks": [c.to_json() for c in self.checks],
        }

    def markdown(self) -> str:
        return validation_markdown(self)


def _md(text: Any) -> str:
    """A value safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def validation_markdown(result: ValidationResult) -> str:
    """Summary table (check, status, count / denominator), then one section per check."""
    lines = ["# TraceLab integrity checks", ""]
    if result.trace:
        source = result.trace.get("source_file", "?")
        lines += [f"Trace: {_md(source)} ({result.trace.get('rows', '?')} steps)", ""]
    verdict = "OK" if result.ok else "ERRORS"
    lines += [
        f"**{verdict}**: {len(result.checks)} checks; findings: {findings_text(result.counts())}. "
        f"Tolerances: event/step order {ORDER_TOLERANCE_MS} ms, session gap {LONG_GAP_DAYS} "
        "days.",
        "",
        "| check | status | count / denominator | share |",
        "|:---|:---|---:|---:|",
    ]
    for c in result.checks:
        lines.append(
            f"| [{c.spec.id}](#{c.spec.id.replace('.', '')}) {_md(c.spec.title)} | {c.status} | "
            f"{c.count:,} / {c.denominator:,} | {c.share()} |"
        )
    for c in result.checks:
        lines += ["", *_check_section(c)]
    return "\n".join(lines) + "\n"


def findings_text(counts: dict[str, int]) -> str:
    """'1 error, 3 warnings, 0 info' from `ValidationResult.counts()` (or its JSON)."""
    plural = {ERROR: "errors", WARNING: "warnings", INFO: "info"}
    return ", ".join(
        f"{counts.get(s, 0)} {s if counts.get(s, 0) == 1 else plural[s]}" for s in SEVERITIES
    )


def _check_section(c: CheckResult) -> list[str]:
    lines = [
        f"## {c.spec.id}",
        "",
        f"**{c.status}** ({c.spec.severity}) — {c.spec.title}. {c.spec.description}",
        "",
        f"Offending: {c.count:,} of {c.denominator:,} {c.spec.unit} ({c.share()}).",
    ]
    if len(c.by_provider) > 1 or (c.by_provider and c.count):
        per = ", ".join(f"{p} {n:,} / {d:,}" for p, (n, d) in c.by_provider.items())
        lines[-1] += f" Per provider: {per}."
    if c.examples:
        lines += ["", "| round_pk | session_id | trace_key | detail |", "|---:|:---|:---|:---|"]
        lines += [
            f"| {e['round_pk']} | {_md(e['session_id'])} | {_md(e['trace_key'])} | "
            f"{_md(e['detail'])} |"
            for e in c.examples
        ]
    return lines


# --- running --------------------------------------------------------------------------------


def run_check(con: duckdb.DuckDBPyConnection, spec: CheckSpec) -> CheckResult:
    """Count one check's population and offending items (per provider) and fetch examples, in
    one statement (the offending items are joined to their steps once)."""
    population = (
        f"SELECT p, sum(n)::BIGINT FROM ({spec.population}) _(p, n) GROUP BY ALL"
        if spec.counted
        else f"SELECT provider, count(*) FROM ({spec.population}) GROUP BY ALL"
    )
    sql = f"""
        WITH hits AS MATERIALIZED (
            SELECT o.round_pk, o.detail, r.provider, r.session_id, r.trace_key
            FROM ({spec.offending}) o JOIN rounds r USING (round_pk)
        )
        SELECT 'population', coalesce(p, '?'), n, NULL, NULL, NULL, NULL FROM ({population}) _(p, n)
        UNION ALL
        SELECT 'hits', coalesce(provider, '?'), count(*), NULL, NULL, NULL, NULL
        FROM hits GROUP BY ALL
        UNION ALL
        (SELECT 'example', NULL, NULL, round_pk, session_id, trace_key, detail
         FROM hits ORDER BY round_pk LIMIT {MAX_EXAMPLES})
    """
    population_n: dict[str, int] = {}
    hits: dict[str, int] = {}
    examples = []
    names = ("round_pk", "session_id", "trace_key", "detail")
    for part, provider, n, *example in rows(con, sql):
        if part == "population" and n:
            population_n[provider] = population_n.get(provider, 0) + n
        elif part == "hits":
            hits[provider] = hits.get(provider, 0) + n
        elif part == "example":
            examples.append(dict(zip(names, example, strict=True)))
    examples.sort(key=lambda e: e["round_pk"])
    providers = sorted(set(population_n) | set(hits))
    return CheckResult(
        spec=spec,
        count=sum(hits.values()),
        denominator=sum(population_n.values()),
        by_provider={p: (hits.get(p, 0), population_n.get(p, 0)) for p in providers},
        examples=examples,
    )


def run_checks(con: duckdb.DuckDBPyConnection, strict: bool = False) -> ValidationResult:
    """Run every check of `CHECKS` on a trace database (metric tables prepared if needed);
    with `strict`, duplicate keys are failures instead of warnings."""
    from tracelab.tracedb import trace_meta

    prepare(con, tables=STEP_TABLES)  # no tool or request facts needed
    specs = [replace(s, severity=FAIL) if strict and s.key else s for s in CHECKS]
    return ValidationResult([run_check(con, spec) for spec in specs], trace_meta(con))
