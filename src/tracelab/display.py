"""Rich renderings of the library's reports: what a person reads after each command."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

_MAX_LISTED = 15


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def human_count(n: float | None) -> str:
    """12,345 → '12,345'; big token totals → '1.23 M' / '4.56 B'."""
    if n is None:
        return "—"
    if abs(n) >= 1e9:
        return f"{n / 1e9:.2f} B"
    if abs(n) >= 1e6:
        return f"{n / 1e6:.2f} M"
    return f"{n:,.0f}"


@contextlib.contextmanager
def byte_progress(label: str, quiet: bool = False) -> Iterator[Any]:
    """A progress bar over bytes; yields the callback `(done, total)` the library calls."""
    if quiet:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )  # lazily: a no-op command never draws a bar

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


@contextlib.contextmanager
def spinner(label: str, quiet: bool = False) -> Iterator[None]:
    """A status line on stderr while a step without countable progress runs."""
    if quiet:
        yield
        return
    with Console(stderr=True).status(escape(label)):
        yield


def collect_report(console: Console, report: Any) -> None:
    table = Table(title="Collected sessions", title_justify="left")
    for col in ("user", "provider"):
        table.add_column(col)
    for col in ("sessions", "steps", "tool calls"):
        table.add_column(col, justify="right")
    totals = [0, 0, 0]
    for key, stats in sorted(report.groups.items()):
        user, provider = key.split("\t")
        table.add_row(
            escape(user),
            provider,
            f"{stats.sessions:,}",
            f"{stats.steps:,}",
            f"{stats.tool_calls:,}",
        )
        for i, v in enumerate((stats.sessions, stats.steps, stats.tool_calls)):
            totals[i] += v
    if len(report.groups) > 1:
        table.add_section()
        table.add_row("total", "", *(f"{v:,}" for v in totals))
    console.print(table)
    speed = report.bytes_parsed / report.seconds / 1e6 if report.seconds > 0 else 0.0
    parts = [
        f"{report.files:,} files, {human_bytes(report.bytes)}",
        f"{report.rows:,} steps",
        f"{report.seconds:.2f} s",
    ]
    if report.up_to_date:
        parts.append("nothing changed since the last run (output up to date)")
    else:
        if report.bytes_parsed:
            rate = f"{speed:.0f} MB/s" if speed >= 1 else f"{speed * 1000:.0f} KB/s"
            parts.append(f"parsed {human_bytes(report.bytes_parsed)} at {rate}")
        if report.cached_files:
            parts.append(f"{report.cached_files:,} files unchanged (cached)")
    if report.duplicates_dropped:
        parts.append(
            f"{report.duplicates_dropped:,} duplicate steps dropped (backups, subagent replays)"
        )
    if report.replays_dropped:
        parts.append(f"{report.replays_dropped:,} replayed steps dropped (side-question agents)")
    console.print(" · ".join(parts))
    if report.output:
        console.print(f"Wrote [bold]{escape(report.output)}[/]")
    from tracelab.sources.common import NO_USAGE

    no_usage = [s.path for s in report.skipped_files if s.reason == NO_USAGE]
    skipped = [s for s in report.skipped_files if s.reason != NO_USAGE]
    if no_usage:
        n = len(no_usage)
        console.print(
            f"[yellow]Skipped {n} session(s): {'its log has' if n == 1 else 'their logs have'} "
            "no usage data[/] (an agent log format without token counts):",
            soft_wrap=True,
        )
        for path in no_usage[:_MAX_LISTED]:
            console.print(f"  {escape(path)}", soft_wrap=True)
        _more(console, n)
    if skipped:
        console.print(f"[yellow]Skipped {len(skipped)} file(s):[/]")
        for skip in skipped[:_MAX_LISTED]:
            console.print(f"  {escape(skip.path)}: {skip.reason}", soft_wrap=True)
        _more(console, len(skipped))
    if report.file_problems:
        console.print(
            f"[yellow]{len(report.file_problems)} file(s) had unreadable parts "
            f"({report.skipped_lines} line(s) skipped; every good row kept):[/]"
        )
        for path, problems in list(report.file_problems.items())[:_MAX_LISTED]:
            console.print(f"  {escape(path)}: {escape('; '.join(problems))}", soft_wrap=True)
        _more(console, len(report.file_problems))


def _more(console: Console, n: int) -> None:
    if n > _MAX_LISTED:
        console.print(f"  … and {n - _MAX_LISTED} more (see --json)")


def sanitize_report(console: Console, report: Any, output: Path) -> None:
    console.print(
        f"Sanitized {report.rows_in:,} rows → {report.rows_out:,} public rows in "
        f"[bold]{escape(str(output))}[/]"
    )
    if report.skipped_lines:
        console.print(f"[yellow]Skipped {report.skipped_lines} unreadable input line(s).[/]")
    audit_report(console, report.audit, output)


def audit_report(console: Console, report: Any, path: Path, every: bool = False) -> None:
    """Pass/fail; on failure the findings grouped by field and reason (lines listed), or
    every finding on its own line with `every`."""
    if report.ok:
        console.print(
            f"[green]Privacy audit passed[/]: {report.rows:,} rows of {escape(str(path))}, "
            "no findings."
        )
        return
    console.print(
        f"[bold red]Privacy audit FAILED[/]: {report.finding_count:,} finding(s) in "
        f"{escape(str(path))}"
    )
    if every:
        for f in report.findings:
            console.print(f"  line {f.line}: {escape(f.field)}: {escape(f.reason)}", soft_wrap=True)
    else:
        groups = list(report.groups.items())
        for (field, reason), group in groups[: _MAX_LISTED * 2]:
            lines = group.lines
            shown = ", ".join(str(n) for n in lines[:5]) + (", …" if len(lines) > 5 else "")
            console.print(
                f"  {escape(field)}: {escape(reason)} — {group.count:,} × (line {shown})",
                soft_wrap=True,
            )
        if len(groups) > _MAX_LISTED * 2:
            console.print(f"  … and {len(groups) - _MAX_LISTED * 2} more kinds")
    if every and not report.complete:
        console.print(
            f"  (the first {len(report.findings):,} findings are listed; "
            "`tracelab audit --all` lists every one)"
        )
    elif not every:
        console.print("  Every finding with its line: --all; machine-readable: --json.")


def db_report(console: Console, report: Any, output: Path) -> None:
    console.print(
        f"Built [bold]{escape(str(output))}[/]: {report.rows:,} rounds, "
        f"{report.tool_calls:,} tool calls, "
        f"{report.timing_events:,} timing events in {report.seconds:.2f} s"
    )
    if report.skipped_lines:
        console.print(f"[yellow]Skipped {report.skipped_lines} unreadable line(s).[/]")


def synth_report(console: Console, summary: Any) -> None:
    console.print(
        f"Wrote SYNTHETIC agent logs to [bold]{escape(str(summary.home))}[/]: "
        f"{summary.files} files, "
        f"{human_bytes(summary.bytes)}"
    )
    for provider in sorted(summary.sessions):
        sessions, steps = summary.sessions[provider], summary.steps.get(provider, 0)
        tools = summary.tool_calls.get(provider, 0)
        console.print(f"  {provider}: {sessions} sessions, {steps} steps, {tools} tool calls")


@contextlib.contextmanager
def synth_progress(total: int, quiet: bool = False) -> Iterator[Any]:
    """A progress bar over planned sessions; yields `generate_home`'s progress callback."""
    if quiet:
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )  # lazily: a no-op command never draws a bar

    columns = (
        TextColumn("[bold]Generating"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} sessions"),
        TextColumn("{task.description}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("", total=total)

        def on_progress(done: int, planned: int, steps: int) -> None:
            progress.update(task, completed=done, total=planned, description=f"{steps:,} steps")

        yield on_progress


def _synth_value(value: float | None, unit: str) -> str:
    from tracelab.experiments.fmt import format_value

    kind = {"count": "float", "tokens": "tokens", "ms": "ms", "pct": "pct"}.get(unit, "float")
    return format_value(value, kind)


def synth_check_report(
    console: Console, verdicts: list[Any], targets: str, against: Path, tolerance: float
) -> None:
    """The calibration table: every target, the achieved value, the error and the verdict."""
    table = Table(title=f"Calibration: {escape(targets)} vs {escape(str(against))}")
    table.add_column("quantity", style="bold", no_wrap=True)
    for name in ("target", "achieved", "error"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    sources = console.width >= 150  # the sources fit beside the numbers only on wide terminals
    if sources:
        table.add_column("source", overflow="ellipsis", no_wrap=True)
    for v in verdicts:
        target = _synth_value(v.target, v.unit)
        if v.bound == "lower":
            target = "≥ " + target
        error = "–" if v.error is None else f"{v.error:+.1%}"
        if v.error is not None and v.target == 0:
            error = f"{v.error:+.3g}"
        verdict = "[green]PASS[/]" if v.ok else "[bold red]FAIL[/]"
        cells = [escape(v.key), target, _synth_value(v.achieved, v.unit), error, verdict]
        table.add_row(*cells, *([escape(v.source)] if sources else []))
    console.print(table)
    failed = sum(not v.ok for v in verdicts)
    summary = (
        f"{len(verdicts)} targets: {len(verdicts) - failed} PASS, {failed} FAIL "
        f"(tolerance ±{tolerance:.0%} relative)"
    )
    console.print(f"[bold red]{summary}[/]" if failed else f"[green]{summary}[/]")


def synth_fit_report(console: Console, doc: dict, output: Path) -> None:
    providers = doc["providers"]
    console.print(f"Wrote profile [bold]{escape(doc['name'])}[/] to {escape(str(output))}")
    for name, p in providers.items():
        models = ", ".join(escape(m) for m in list(p["models"])[:3])
        console.print(
            f"  {name}: {p['session_share']:.1%} of sessions, {len(p['models'])} models "
            f"({models}{', …' if len(p['models']) > 3 else ''}), {len(p['tools'])} tools"
        )
    console.print(
        f"  {len(doc['targets'])} targets (the trace's measured quantities). Generate from it "
        f"with [bold]tracelab synth -o DIR --profile {escape(str(output))}[/]."
    )


# --- analyses (analyze, report) -----------------------------------------------------------


def experiment_list(console: Console, experiments: list[Any]) -> None:
    table = Table(title="Experiments (run some with --only ID, NAME or CATEGORY)")
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("study item", no_wrap=True)
    table.add_column("question")
    for exp in experiments:
        table.add_row(escape(exp.id), escape(exp.study_item), escape(exp.question))
    console.print(table)


@contextlib.contextmanager
def experiment_progress(total: int, quiet: bool = False) -> Iterator[Any]:
    """A progress bar over experiments; yields the `on_done(run)` callback of the runner."""
    if quiet:
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
    )  # lazily: a no-op command never draws a bar

    columns = (
        TextColumn("[bold]Experiments"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("", total=total)

        def on_done(run: Any) -> None:
            progress.update(task, advance=1, description=escape(run.experiment.id))

        yield on_done


def _run_seconds(run: Any) -> str:
    return f"{run.compute_s + run.plot_s + run.write_s:.2f} s"


def analyze_report(console: Console, runs: list[Any], output: Path) -> None:
    table = Table(title="Analyses")
    table.add_column("experiment", style="bold", no_wrap=True)
    table.add_column("tables", justify="right", no_wrap=True)
    table.add_column("figures", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("status")
    for run in runs:
        ok = run.ok
        table.add_row(
            escape(run.experiment.id),
            str(len(run.result.tables)) if run.result else "–",
            str(len(run.figures)),
            _run_seconds(run),
            "[green]ok[/]" if ok else f"[red]failed[/] {escape(run.error or '')}",
        )
    console.print(table)
    failed = sum(not r.ok for r in runs)
    console.print(
        f"{len(runs) - failed} of {len(runs)} experiments written to [bold]{escape(str(output))}"
        f"[/] (index: {escape(str(output / 'index.md'))})"
        + (f"; [red]{failed} failed[/]" if failed else "")
    )


def report_written(console: Console, runs: list[Any], output: Path) -> None:
    failed = [r for r in runs if not r.ok]
    size = output.stat().st_size if output.exists() else 0
    console.print(
        f"Report: [bold]{escape(str(output))}[/] ({human_bytes(size)}, "
        f"{len(runs) - len(failed)} experiments; open it in any browser, no network needed)"
    )
    for run in failed:
        console.print(f"[red]failed[/] {escape(run.experiment.id)}: {escape(run.error or '')}")


# --- summary ------------------------------------------------------------------------------


def headline_table(
    console: Console, rows: list[dict], title: str, prices: str | None = None
) -> None:
    """The headline facts (Table 1's core), one column per provider plus the total; `prices`
    names the price source."""
    from tracelab.experiments.fmt import cost_text, format_value

    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for row in rows:
        table.add_column(row["provider"], justify="right")
    metrics = [
        ("sessions", "sessions", "int"),
        ("users", "users", "int"),
        ("LLM steps", "steps", "int"),
        ("tool calls", "tool_calls", "int"),
        ("input tokens", "input_tokens", "tokens"),
        ("  prefix (cache read)", "prefix_tokens", "tokens"),
        ("  append (fresh)", "append_tokens", "tokens"),
        ("    cache writes", "cache_write_tokens", "tokens"),
        ("      5-minute", "cache_write_5m_tokens", "tokens"),
        ("      1-hour", "cache_write_1h_tokens", "tokens"),
        ("      no 5m/1h split in the log", "cache_write_unsplit_tokens", "tokens"),
        ("output tokens", "output_tokens", "tokens"),
        ("  reasoning", "reasoning_tokens", "tokens"),
        ("est. API price equiv.", "cost", "cost"),
        ("  steps priced exactly", "priced_exact", "int"),
        ("  steps priced by family fallback", "priced_fallback", "int"),
        ("  steps unpriced", "unpriced_steps", "int"),
        ("prefix hit rate", "prefix_hit_rate", "pct"),
    ]
    for label, key, kind in metrics:
        if kind == "cost":
            table.add_row(label, *(cost_text(r.get(key), r.get("unpriced_steps")) for r in rows))
        else:
            table.add_row(label, *(format_value(r.get(key), kind) for r in rows))
    console.print(table)
    if prices:
        console.print(
            f"Prices: {escape(prices)}; how each model was priced: "
            "tracelab analyze --only trace_facts/prices."
        )
    unpriced = [r for r in rows if r.get("unpriced_steps")]
    for r in unpriced:
        if r["provider"] != "total":
            console.print(
                f"[yellow]note:[/] {r['unpriced_steps']:,} {escape(r['provider'])} steps use "
                "models without a price; they carry no cost (see trace_facts/prices)."
            )


def summary_report(console: Console, summary: dict) -> None:
    """`tracelab summary`: Table 1's core, then the introduction's facts per provider."""
    from tracelab.experiments.fmt import format_value
    from tracelab.summary import FACTS

    groups = summary["groups"]
    trace = summary.get("trace") or {}
    title = "Headline summary" + (f" — {trace['source_file']}" if "source_file" in trace else "")
    headline_table(
        console,
        [summary["headline"][g] | {"provider": g} for g in groups],
        title,
        prices=(summary.get("prices") or {}).get("source"),
    )
    table = Table(title="Key facts", title_justify="left")
    table.add_column("fact")
    for g in groups:
        table.add_column(g, justify="right")
    for key, label, kind in FACTS:
        values = [summary["facts"][g].get(key) for g in groups]
        if all(v is None for v in values):
            continue
        table.add_row(label, *(format_value(v, kind) for v in values))
    console.print(table)
    for g in groups:
        names = summary["facts"][g].get("top3_tools")
        if names:
            console.print(f"top-3 tools ({escape(g)}): {escape(names)}")
    if summary.get("reference_overview"):
        reference_overview_table(console, summary["reference_overview"])
    console.print(
        "Percentiles: linear interpolation (quantile_cont). Every table: tracelab analyze"
    )


#: (label, path in a `metrics.reference_overview` block, display kind) of the figures the
#: human-readable summary shows (the hit rates by trigger are in "Key facts"); `--json` has
#: every figure.
REFERENCE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("steps with a user message", "scope.rounds_with_visible_user_message", "int"),
    ("steps started by a tool result", "scope.rounds_started_from_tool_result", "int"),
    (
        "new input per user-initiated step (avg)",
        "tokens.input.average_new_input_tokens_when_started_with_user_message",
        "tokens",
    ),
    (
        "new input per tool-initiated step (avg)",
        "tokens.input.average_new_input_tokens_when_started_with_tool_result",
        "tokens",
    ),
    (
        "context growth, user-initiated (p50)",
        "tokens.input.median_user_context_delta_tokens",
        "tokens",
    ),
    (
        "context growth, tool-initiated (p50)",
        "tokens.input.median_tool_result_context_delta_tokens",
        "tokens",
    ),
    (
        "user steps that shrink the context",
        "tokens.input.total_input_growth_when_started_with_user_message.negative_growth_share",
        "pct",
    ),
    (
        "observable generation time (total)",
        "generation_timing.total_observable_generation_time_seconds",
        "s",
    ),
    (
        "observable generation time (p50)",
        "generation_timing.p50_observable_generation_time_seconds",
        "s",
    ),
    (
        "decode speed, Σ output / Σ time (tok/s)",
        "generation_timing.average_normalized_decoding_speed_tokens_per_second",
        "float1",
    ),
    (
        "post-reasoning decode speed (tok/s)",
        "generation_timing.post_reasoning_tpot_estimate.average_decode_speed_tokens_per_second",
        "float1",
    ),
    (
        "residual TTFT (avg)",
        "generation_timing.estimated_ttft_from_exact_reasoning_tokens.estimated_average_seconds",
        "s",
    ),
    ("human waits (> 0)", "generation_timing.rounds_with_waiting_for_human_input_time", "int"),
    (
        "human wait (total)",
        "generation_timing.total_waiting_for_human_input_seconds",
        "s",
    ),
    (
        "human wait (p50)",
        "generation_timing.median_waiting_for_human_input_seconds",
        "s",
    ),
    ("tool latency (total)", "tools.effective_latency.total_seconds", "s"),
    ("tool latency (p50)", "tools.effective_latency.p50_seconds", "s"),
    ("tool latency (p90)", "tools.effective_latency.p90_seconds", "s"),
    ("tool calls without a latency", "tools.effective_latency.tool_calls_missing_latency", "int"),
)


def _at(block: dict, path: str) -> Any:
    for key in path.split("."):
        block = block.get(key) if isinstance(block, dict) else None
    return block


def reference_overview_table(console: Console, blocks: dict[str, dict]) -> None:
    """The reference's overview figures people read first, per provider and merged."""
    from tracelab.experiments.fmt import format_value

    names = [g for g in blocks if g != "merged"] + ["merged"]
    table = Table(title="Reference overview (overview_summary figures)", title_justify="left")
    table.add_column("figure")
    for g in names:
        table.add_column(g, justify="right")
    for label, path, kind in REFERENCE_ROWS:
        table.add_row(label, *(format_value(_at(blocks[g], path), kind) for g in names))
    console.print(table)


# --- validate -----------------------------------------------------------------------------

_STATUS_STYLE = {"PASS": "green", "INFO": "cyan", "WARNING": "yellow", "ERROR": "bold red"}


def validation_report(console: Console, result: Any, output: Path | None) -> None:
    """One row per check (status coloured, count / denominator, what it checks), then verdict."""
    table = Table(title="Integrity checks", title_justify="left")
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("what")
    for c in result.checks:
        style = _STATUS_STYLE.get(c.status, "")
        table.add_row(
            escape(c.spec.id),
            f"[{style}]{c.status}[/]",
            f"{c.count:,} / {c.denominator:,}",
            escape(c.spec.title),
        )
    console.print(table)
    from tracelab.validate import findings_text

    verdict = "[bold green]OK[/]" if result.ok else "[bold red]ERRORS[/]"
    console.print(
        f"{verdict}: {len(result.checks)} checks; findings: {findings_text(result.counts())}."
    )
    if output is not None:
        console.print(f"Markdown report with examples: [bold]{escape(str(output))}[/]")
    else:
        console.print("Examples of each finding: [bold]-o report.md[/] or [bold]--json[/].")


# --- export -------------------------------------------------------------------------------


def export_report(console: Console, report: Any, output: Path) -> None:
    """One line with the counts and the file, then the columns a simulator will find."""
    console.print(
        f"Wrote [bold]{escape(str(output))}[/]: {report.rows:,} steps of "
        f"{report.sessions:,} sessions in {report.seconds:.2f} s",
        soft_wrap=True,
    )
    console.print(
        "columns: " + ", ".join(report.columns) + " (arrival_time_ms counts from the trace's "
        "first step; within a session arrival + duration + wait_after = the next arrival; "
        "wait_after_ms is empty for a session's last step)",
        soft_wrap=True,
    )
    if report.untimed_steps:
        console.print(
            f"{report.untimed_steps:,} steps without a timestamp took their session's clock "
            "(the previous step's end)",
            soft_wrap=True,
        )


def reference_csv_report(console: Console, report: Any, output: Path) -> None:
    """The counts and the file, then what is synthetic in the reference CSV."""
    console.print(
        f"Wrote [bold]{escape(str(output))}[/]: {report.rows:,} steps of "
        f"{report.sessions:,} sessions in {report.seconds:.2f} s (the reference's CSV format)",
        soft_wrap=True,
    )
    console.print(
        "columns: " + ", ".join(report.columns) + f" (id: shuffled session ordinal; "
        f"arrival_time: synthetic {report.arrival} session arrivals at {report.rate:g}/s; "
        "tool_wait_after_ms: the step's tools' wall time, no human wait)",
        soft_wrap=True,
    )


def mooncake_report(console: Console, report: Any, output: Path) -> None:
    """The requests written, the blocks and their reuse, and any untimed sessions left out."""
    console.print(
        f"Wrote [bold]{escape(str(output))}[/]: {report.rows:,} requests of "
        f"{report.sessions:,} sessions in {report.seconds:.2f} s",
        soft_wrap=True,
    )
    reused = report.reused_share
    reuse = f", {reused:.1%} of them reused within their session" if reused is not None else ""
    console.print(
        f"hash_ids: {report.blocks:,} blocks of {report.block_size:,} tokens, "
        f"{report.distinct_blocks:,} distinct ids{reuse} (a step shares the full blocks of its "
        "cached prefix with the session's previous step)",
        soft_wrap=True,
    )
    if report.skipped_steps:
        console.print(
            f"[yellow]note:[/] left out {report.skipped_steps:,} steps of "
            f"{report.skipped_sessions:,} sessions without any timestamp",
            soft_wrap=True,
        )


def vllm_multiturn_report(console: Console, report: Any, output: Path) -> None:
    """The conversations written, their synthesized tokens, and what the filters left out."""
    console.print(
        f"Wrote [bold]{escape(str(output))}[/]: {report.conversations:,} conversations, "
        f"{report.turns:,} user+assistant turns ({human_bytes(report.bytes)}) "
        f"in {report.seconds:.2f} s",
        soft_wrap=True,
    )
    console.print(
        f"filler content: {human_count(report.user_tokens)} user + "
        f"{human_count(report.assistant_tokens)} assistant tokens "
        "(delays_ms per conversation: the wait before each user turn)",
        soft_wrap=True,
    )
    if report.skipped_sessions:
        kept = [f"≥ {report.min_steps:,} steps"]
        if report.max_sessions is not None:
            kept.append(f"the first {report.max_sessions:,} by arrival")
        console.print(
            f"left out {report.skipped_sessions:,} sessions (kept: {', '.join(kept)})",
            soft_wrap=True,
        )
