"""`tracelab demo`: the whole pipeline on a SYNTHETIC trace, with no agent logs needed.

synth (a fake home of raw logs) → collect → sanitize → audit → db build → headline summary →
every experiment (analysis/) and the self-contained HTML report (report.html).
Everything is written under one directory and labelled synthetic.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from tracelab import display as show
from tracelab.collect import collect
from tracelab.experiments.registry import all_experiments
from tracelab.experiments.runner import run_experiments
from tracelab.keys import load_or_create_key
from tracelab.metrics.overview import headline
from tracelab.privacy import audit_file
from tracelab.report import report_from_trace, write_report
from tracelab.reportdata import save_extras
from tracelab.sanitize import sanitize_file
from tracelab.sources.discover import home_for
from tracelab.synth import generate_home
from tracelab.synthmarks import SYNTHETIC_HOME
from tracelab.tracedb import build_db, open_db


def run_demo(console: Console, workdir: Path, sessions: int = 60, seed: int = 7) -> dict:
    """Run every stage, print what each produced, return the paths it wrote."""
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / SYNTHETIC_HOME
    trace = workdir / "trace.jsonl.gz"
    public = workdir / "trace.public.jsonl.gz"
    db = workdir / "trace.duckdb"
    analysis = workdir / "analysis"
    report_html = workdir / "report.html"
    console.rule("[bold]TraceLab demo — SYNTHETIC data, no agent logs needed")

    console.print("[bold]1. synth[/]  generating raw Claude Code and Codex session files")
    summary = generate_home(home, sessions=sessions, seed=seed)
    show.synth_report(console, summary)

    console.print("\n[bold]2. collect[/]  normalizing them into one step trace")
    with tempfile.TemporaryDirectory(prefix="tracelab-demo-cache-") as cache:
        report, _ = collect([home_for(home)], trace, cache=Path(cache))
    show.collect_report(console, report)

    console.print("\n[bold]3. sanitize[/]  allow-listed fields, keyed pseudonyms")
    key = _demo_key(workdir / "demo.key")
    sanitized = sanitize_file(trace, public, key)
    show.sanitize_report(console, sanitized, public)

    console.print("\n[bold]4. audit[/]  re-checking the public file on its own")
    show.audit_report(console, audit_file(public), public)

    console.print("\n[bold]5. db build[/]  DuckDB tables rounds, tool_calls, timing_events")
    show.db_report(console, build_db(public, db), db)

    console.print()
    with open_db(db) as con:
        rows = headline(con)
        show.headline_table(console, rows, title="Headline summary (SYNTHETIC trace)")
        console.print("\n[bold]6. analyze + report[/]  every table and figure of the study")
        experiments = all_experiments()
        with show.experiment_progress(len(experiments)) as on_done:
            runs = run_experiments(con, experiments, out=analysis, on_done=on_done)
        data = report_from_trace(con, runs)
        save_extras(analysis, data)
        write_report(data, report_html)
    failed = [r for r in runs if not r.ok]
    for run in failed:
        console.print(f"[red]failed[/] {escape(run.experiment.id)}: {escape(run.error or '')}")
    console.print(
        f"{len(runs) - len(failed)} experiments written to [bold]{escape(str(analysis))}[/]"
    )
    console.print(
        f"\nEverything the demo wrote is in [bold]{escape(str(workdir))}[/] (trace.jsonl.gz "
        "private, trace.public.jsonl.gz sanitized, trace.duckdb, analysis/).\n"
        f"[bold green]Open the report:[/] [bold]{escape(str(report_html.resolve()))}[/]\n"
        "Now your own logs: [bold]tracelab collect -o my-trace.jsonl.gz[/], then "
        "[bold]tracelab report -i my-trace.jsonl.gz[/]"
    )
    return {
        "home": home,
        "trace": trace,
        "public": public,
        "db": db,
        "analysis": analysis,
        "report": report_html,
    }


def _demo_key(path: Path) -> bytes:
    """A demo-only pseudonym key beside the demo files (never the user's real key), created
    on the first demo run and reused after, so re-runs give the same pseudonyms."""
    import secrets

    from tracelab.io import atomic_write_bytes

    if not path.exists():
        atomic_write_bytes(path, secrets.token_hex(32).encode(), mode=0o600)
    return load_or_create_key(path)
