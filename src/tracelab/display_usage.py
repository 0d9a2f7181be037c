"""How a usage report (`metrics.usage.Usage`) is shown: a Rich table with a totals row, or
machine-readable JSON / CSV (numbers as numbers, times as ISO-8601 in the report's zone)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tracelab.metrics.usage import Usage

#: The measure columns: (key, table header).
_MEASURES = (
    ("steps", "Steps"),
    ("prefix", "In cached"),
    ("append", "In new"),
    ("output", "Output"),
    ("reasoning", "Reasoning"),
    ("write_5m", "Write 5m"),
    ("write_1h", "Write 1h"),
    ("tokens", "Tokens"),
)
_BLOCK_EXTRAS = (
    "tokens_per_minute",
    "cost_per_hour",
    "remaining_minutes",
    "projected_tokens",
    "projected_cost",
)
_TITLES = {
    "daily": "Usage by day",
    "weekly": "Usage by week (ISO weeks, from Monday)",
    "monthly": "Usage by month",
    "session": "Usage by session (subagents counted in their parent session)",
    "project": "Usage by project",
    "blocks": "Usage by 5-hour block",
}


def _zone(usage: Usage) -> ZoneInfo:
    return ZoneInfo(usage.query.timezone)


def _value(v: Any, zone: ZoneInfo) -> Any:
    """A JSON/CSV value: dates and times as ISO text (times in the report's zone)."""
    if isinstance(v, datetime):
        return v.astimezone(zone).isoformat(timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return v


def _record(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if k == "models_breakdown":
            out[k] = [_record(part, zone) for part in v]
        else:
            out[k] = _value(v, zone)
    return out


def usage_json(usage: Usage, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `--json` document of a report."""
    q, zone = usage.query, _zone(usage)
    return {
        "report": q.report,
        "timezone": q.timezone,
        "since": _value(q.since, zone),
        "until": _value(q.until, zone),
        "providers": list(q.providers),
        "projects": list(q.projects),
        "price_source": usage.price_source,
        "undated_steps": usage.undated_steps,
        "rows": [_record(r, zone) for r in usage.rows],
        "totals": _record(usage.totals, zone),
        **(
            {"active_block": usage.active_block and _record(usage.active_block, zone)}
            if q.report == "blocks"
            else {}
        ),
        **(extra or {}),
    }


def usage_csv(usage: Usage) -> str:
    """The `--csv` text: one line per row (per row and model with `--breakdown`)."""
    zone = _zone(usage)
    lines: list[dict[str, Any]] = []
    for row in usage.rows:
        base = {k: v for k, v in row.items() if k not in ("models_breakdown", "models")}
        if usage.query.breakdown:
            lead = {k: v for k, v in base.items() if k not in _measure_keys()}
            lines += [{**lead, **part} for part in row.get("models_breakdown", [])]
        else:
            lines.append({**base, "models": " ".join(row["models"] or [])})
    out = io.StringIO()
    if not lines:
        return ""
    names = list(dict.fromkeys(k for line in lines for k in line))
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for line in lines:
        writer.writerow({k: _csv_value(line.get(k), zone) for k in names})
    return out.getvalue()


def _measure_keys() -> set[str]:
    return {k for k, _ in _MEASURES} | {"cost", "priced_share", "models", *_BLOCK_EXTRAS}


def _csv_value(v: Any, zone: ZoneInfo) -> Any:
    v = _value(v, zone)
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else v


# --- the table --------------------------------------------------------------------------------


def _n(v: float | None) -> str:
    """A token count, compact: 1,234 · 241.7k · 29.5M · 1.23B."""
    if v is None:
        return "—"
    if abs(v) >= 1e9:
        return f"{v / 1e9:.2f}B"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.1f}k"
    return f"{v:,.0f}"


def _models(models: list[str] | None) -> str:
    """Model names, the `claude-` prefix dropped (the provider says it)."""
    return escape(" ".join(m.removeprefix("claude-") for m in models or []))


def _clip(text: Any, width: int = 28) -> str:
    """A long id or path, its end kept (the full value is in --json / --csv)."""
    text = str(text)
    return escape(text if len(text) <= width else "…" + text[-(width - 1) :])


def _short_session(session_id: Any) -> str:
    """`provider:` and the first 8 characters of the session key (enough to tell them apart
    in a table; --json has the whole id)."""
    provider, sep, key = str(session_id).partition(":")
    return f"{provider}:{key[:8]}" if sep else str(session_id)[:16]


def _cost(v: float | None) -> str:
    return "—" if v is None else f"${v:,.2f}"


def _share(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def _when(v: datetime | None, zone: ZoneInfo) -> str:
    return "—" if v is None else v.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _lead(usage: Usage, row: dict[str, Any], zone: ZoneInfo) -> list[str]:
    """The identifying cells of a row."""
    report = usage.query.report
    if report == "daily":
        return [row["period"].isoformat()]
    if report == "weekly":
        return [row["period"].isoformat()]
    if report == "monthly":
        return [row["period"].strftime("%Y-%m")]
    if report == "session":
        share = (
            row["subagent_cost"] / row["cost"]
            if row["cost"] and row["subagent_cost"] is not None
            else None
        )
        sub = f"{row['subagents']} · {_share(share)}" if row["subagents"] else "—"
        return [
            escape(_short_session(row["session_id"])),
            _clip(row["project"] or "—", 24),
            _when(row["last_ts"], zone),
            sub,
        ]
    if report == "project":
        return [_clip(row["project"] or "—", 40), f"{row['sessions']:,}"]
    status = "ACTIVE" if row["active"] else ""
    return [_when(row["block_start"], zone), escape(str(row["provider"])), status]


#: The identifying columns of each report: (header, minimum width).
_LEAD = {
    "daily": [("Date", 10)],
    "weekly": [("Week of", 10)],
    "monthly": [("Month", 7)],
    "session": [("Session", 15), ("Project", 14), ("Last activity", 16), ("Subagents", 9)],
    "project": [("Project", 20), ("Sessions", 8)],
    "blocks": [("Block start", 16), ("Provider", 8), ("Status", 6)],
}
#: Columns left out of the table when they are zero in every row (Claude has no reasoning
#: count, old logs no 1-hour writes); --json and --csv always have them.
_OPTIONAL = ("reasoning", "write_1h")


#: The measures a narrow terminal shows (ccusage's compact mode does the same).
_COMPACT = ("steps", "output", "tokens")


def _shown(usage: Usage, width: int) -> list[tuple[str, str]]:
    narrow = width < 104 + 40 * (usage.query.report == "session")
    return [
        (k, h)
        for k, h in _MEASURES
        if (k not in _OPTIONAL or usage.totals[k]) and (not narrow or k in _COMPACT)
    ]


def _cells(row: dict[str, Any], shown: list[tuple[str, str]]) -> list[str]:
    return [
        *(f"{row[k]:,}" if k == "steps" else _n(row[k]) for k, _ in shown),
        _cost(row["cost"]),
        _share(row["priced_share"]),
    ]


def usage_table(console: Console, usage: Usage, footer: list[str] | None = None) -> None:
    """The report as a table (per-model rows indented under their row) with a totals row."""
    zone = _zone(usage)
    q = usage.query
    title = f"{_TITLES[q.report]} · {q.timezone}"
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False
    )
    lead = _LEAD[q.report]
    shown = _shown(usage, console.width)
    for name, width in lead:
        table.add_column(name, min_width=width, no_wrap=name != "Project", overflow="fold")
    for _, header in shown:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("Cost", justify="right", no_wrap=True)
    table.add_column("Priced", justify="right", no_wrap=True)
    extra = 40 * (q.report == "session")
    compact = len(shown) == len(_COMPACT)
    wide = console.width >= 120 + extra  # the models column where it fits
    if wide:
        table.add_column("Models", overflow="fold", min_width=12)
    for row in usage.rows:
        table.add_row(
            *_lead(usage, row, zone), *_cells(row, shown), *([_models(row["models"])] * wide)
        )
        for part in row.get("models_breakdown", []):
            blank = [""] * (len(lead) - 1)
            table.add_row(
                f"└ {_models([part['model']]) if part['model'] else '—'}",
                *blank,
                *_cells(part, shown),
                *([""] * wide),
                style="dim",
            )
    if usage.rows:
        table.rows[-1].end_section = True
    table.add_row(
        "Total",
        *[""] * (len(lead) - 1),
        *_cells(usage.totals, shown),
        *([_models(usage.totals["models"])] * wide),
        style="bold",
    )
    if not usage.rows:
        console.print("[yellow]No steps match[/] (check --since/--until, --provider, --project).")
        return
    console.print(table)
    if q.report == "blocks":
        _active_block(console, usage, zone)
    if compact:
        footer = [*(footer or []), "A wider terminal shows every column; --json / --csv have all."]
    for line in _notes(usage) + (footer or []):
        console.print(f"[dim]{line}[/]", soft_wrap=True)


def _active_block(console: Console, usage: Usage, zone: ZoneInfo) -> None:
    b = usage.active_block
    if b is None:
        console.print("No active block (no block holds the current time).")
        return
    end = _when(b["block_end"], zone)
    left = b["remaining_minutes"]
    console.print(
        f"[bold]Active block[/] ({escape(str(b['provider']))}) until {end}, "
        f"{int(left // 60)} h {int(left % 60):02d} min left."
    )
    if b["tokens_per_minute"] is None:
        console.print("Burn rate: — (one instant of activity so far).")
        return
    cost_h = "—" if b["cost_per_hour"] is None else f"${b['cost_per_hour']:,.2f}/h"
    console.print(
        f"Burn rate: {_n(b['tokens_per_minute'])} tokens/min, {cost_h}. "
        f"Projected at block end: {_n(b['projected_tokens'])} tokens, "
        f"{_cost(b['projected_cost'])}."
    )


def _notes(usage: Usage) -> list[str]:
    notes = []
    if usage.price_source:
        notes.append(f"Prices: {escape(usage.price_source)}.")
    unpriced = usage.totals["steps"] - round(
        (usage.totals["priced_share"] or 0) * usage.totals["steps"]
    )
    if unpriced:
        notes.append(
            f"{unpriced:,} steps of an unpriced model: left out of the cost, never priced at zero."
        )
    if usage.undated_steps:
        notes.append(f"{usage.undated_steps:,} steps without a timestamp are not in any period.")
    return notes
