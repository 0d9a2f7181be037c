"""How an answer looks in the terminal: streamed text, then the evidence (query and table)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from tracelab.ask.loop import Answer
from tracelab.ask.tools import Evidence

TABLE_ROWS = 20


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def evidence(console: Console, ev: Evidence, number: int) -> None:
    title = f"[bold]evidence {number}[/] · {ev.tool}"
    if ev.error:
        console.print(f"{title} · [red]tool error:[/] {escape(ev.error)}", soft_wrap=True)
        return
    console.print(f"{title} · {len(ev.rows)} row(s) in {ev.seconds:.2f} s", soft_wrap=True)
    sql = ev.sql
    if ev.params:
        sql += "\n-- parameters: " + ", ".join(repr(p) for p in ev.params)
    console.print(Syntax(sql, "sql", word_wrap=True, theme="ansi_dark"))
    table = Table(show_edge=False, pad_edge=False)
    for col in ev.columns:
        table.add_column(escape(col))
    for row in ev.rows[:TABLE_ROWS]:
        table.add_row(*(escape(_cell(v)) for v in row))
    console.print(table)
    more = len(ev.rows) - TABLE_ROWS
    if more > 0 or ev.truncated:
        console.print(
            f"[dim]… {max(more, 0)} more row(s) not shown"
            f"{' (result cut at the row cap)' if ev.truncated else ''}[/]"
        )


def answer_footer(console: Console, answer: Answer) -> None:
    for i, ev in enumerate(answer.evidence, start=1):
        evidence(console, ev, i)
    if not answer.evidence:
        console.print("[yellow]no tool was called: this answer rests on no evidence[/]")
    if answer.ungrounded:
        console.print(
            "[yellow]warning:[/] numbers not found in this answer's tool results: "
            + escape(", ".join(answer.ungrounded)),
            soft_wrap=True,
        )
    if answer.stopped:
        console.print(f"[yellow]stopped:[/] {escape(answer.stopped)}", soft_wrap=True)
    console.print(
        f"[dim]{answer.turns} turn(s), {answer.tool_calls} tool call(s), "
        f"{answer.completion_tokens} completion tokens, {answer.seconds:.1f} s[/]"
    )
