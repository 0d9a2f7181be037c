"""The `tracelab` command: each subcommand is a thin call into the library plus its display."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated

# numpy (imported by pyarrow) would start an OpenBLAS thread pool that TraceLab never uses;
# without it, `collect` and `synth` may fork their workers directly (see tracelab.workers).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click
import orjson
import typer
from rich.console import Console
from rich.markup import escape

from tracelab import __version__
from tracelab import display as show
from tracelab.ask.settings import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_MAX_TURNS,
    DEFAULT_TIME_LIMIT_S,
    MAX_TIME_LIMIT_S,
    MAX_TURNS_LIMIT,
)

app = typer.Typer(
    help="TraceLab — collect, sanitize and analyze coding-agent (Claude Code, Codex CLI) traces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Build and inspect the DuckDB analysis database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
figure_app = typer.Typer(
    help="Inspect figures written by `tracelab analyze`.", no_args_is_help=True
)
app.add_typer(figure_app, name="figure")
export_app = typer.Typer(help="Export a trace for serving simulators.", no_args_is_help=True)
app.add_typer(export_app, name="export")

console = Console()
err = Console(stderr=True)

#: Most worker processes `collect` / `synth` start: beyond it, only fork and memory cost grow.
MAX_WORKERS = 64


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _print_json(data: dict) -> None:
    """`--json` output: indented, on stdout, nothing else there."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _version(value: bool) -> None:
    if value:
        console.print(f"tracelab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """TraceLab: coding-agent workload analysis."""


# --- collect ------------------------------------------------------------------------------


@app.command()
def collect(
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the trace here (.jsonl, .jsonl.gz, .parquet)."),
    ] = None,
    home: Annotated[
        list[Path] | None, typer.Option("--home", help="Scan this home instead of yours.")
    ] = None,
    all_users: Annotated[
        bool, typer.Option("--all-users", help="Scan every home under --home-root.")
    ] = False,
    home_root: Annotated[Path, typer.Option("--home-root", help="Root of the homes.")] = Path(
        "/home"
    ),
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Re-read every file; ignore the incremental cache.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=MAX_WORKERS, help="Parser processes."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a machine-readable report.")
    ] = False,
) -> None:
    """Scan ~/.claude (+ ~/.claude.back) and ~/.codex and write the normalized step trace."""
    from tracelab.collect import collect as run_collect
    from tracelab.sources.discover import all_homes, current_home, home_for

    if all_users:
        try:
            homes = all_homes(home_root)
        except (FileNotFoundError, PermissionError) as exc:
            _fail(str(exc))
    elif home:
        homes = [home_for(h) for h in home]
        for h in homes:
            if not h.path.is_dir():
                _fail(f"home {h.path} is not a directory")
    else:
        homes = [current_home()]
    _check_output(output, "trace")
    with show.byte_progress("Collecting", quiet=as_json) as progress:
        report, _ = run_collect(
            homes, output, cache=not no_cache, workers=workers, progress=progress
        )
    if as_json:
        _print_json(report.to_json())
        return
    if report.files == 0 and not report.skipped_files:
        looked = ", ".join(str(h.path) for h in homes) or str(home_root)
        err.print(
            f"[yellow]No agent session logs found[/] in {escape(looked)} (looked for "
            ".claude/projects, .claude.back/projects, .codex/sessions). "
            "To see TraceLab work anyway: [bold]tracelab demo[/]",
            soft_wrap=True,
        )
        if output is None:
            return
    show.collect_report(console, report)


def _check_output(path: Path | None, kind: str) -> None:
    """Before any work: `path` can take what the command writes (`filecheck.OUTPUT_FORMATS`)."""
    from tracelab.filecheck import OutputPathError, check_output

    if path is not None:
        try:
            check_output(path, kind)
        except OutputPathError as exc:
            _fail(str(exc))


def _check_output_dir(path: Path) -> None:
    from tracelab.filecheck import OutputPathError, check_output_dir

    try:
        check_output_dir(path)
    except OutputPathError as exc:
        _fail(str(exc))


def _check_input(path: Path) -> None:
    """Before any work: `path` is a trace file TraceLab reads."""
    from tracelab.filecheck import check_trace_input
    from tracelab.io import TraceFormatError

    try:
        check_trace_input(path)
    except (TraceFormatError, FileNotFoundError) as exc:
        _fail(str(exc))


# --- sanitize / audit ---------------------------------------------------------------------


@app.command()
def sanitize(
    input: Annotated[Path, typer.Argument(help="A normalized trace (.jsonl[.gz] or .parquet).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write public rows.")],
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="Share a pseudonym key (default: your own).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
) -> None:
    """Make a public trace: allow-listed fields, keyed pseudonyms, then a privacy audit."""
    from tracelab.io import TraceFormatError
    from tracelab.keys import SanitizeKeyError, load_or_create_key
    from tracelab.sanitize import SanitizeError, sanitize_file

    _check_input(input)
    _check_output(output, "trace")
    try:
        key = load_or_create_key(key_file)
    except SanitizeKeyError as exc:
        _fail(str(exc))
    try:
        with show.spinner(f"Sanitizing {input} and auditing the result", quiet=as_json):
            report = sanitize_file(input, output, key)
    except TraceFormatError as exc:
        _fail(str(exc))
    except SanitizeError as exc:
        _fail(str(exc), code=1)
    if as_json:
        _print_json(report.to_json())
        return
    show.sanitize_report(console, report, output)


@app.command()
def audit(
    file: Annotated[Path, typer.Argument(help="A trace file to check for private data.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable findings.")] = False,
    every: Annotated[
        bool, typer.Option("--all", help="List every finding (default: grouped by field).")
    ] = False,
) -> None:
    """Scan every value of a trace; exit 1 listing line and field of anything private."""
    from tracelab.privacy import MAX_LISTED_FINDINGS, audit_file

    _check_input(file)
    with show.spinner(f"Auditing {file}", quiet=as_json):
        report = audit_file(file, max_findings=None if every or as_json else MAX_LISTED_FINDINGS)
    if as_json:
        _print_json(report.to_json())
    else:
        show.audit_report(console, report, file, every=every)
    if not report.ok:
        raise typer.Exit(1)


# --- db -----------------------------------------------------------------------------------


@db_app.command("build")
def db_build(
    input: Annotated[Path, typer.Argument(help="Normalized/sanitized trace or public dataset.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="DuckDB file to write.")] = Path(
        "trace.duckdb"
    ),
) -> None:
    """Build the DuckDB analysis database (tables rounds, tool_calls, timing_events)."""
    import duckdb

    from tracelab.io import TraceFormatError
    from tracelab.tracedb import build_db

    _check_input(input)
    _check_output(output, "database")
    try:
        with show.spinner(f"Building {output}"):
            report = build_db(input, output)
    except TraceFormatError as exc:
        _fail(str(exc))
    except duckdb.Error as exc:
        _fail(f"{input}: not a readable trace ({exc})")
    show.db_report(console, report, output)


# --- reading a trace: the shared input options ---------------------------------------------

DbOption = Annotated[
    Path | None, typer.Option("--db", help="Trace database (.duckdb, ours or the public one).")
]
InputOption = Annotated[
    Path | None,
    typer.Option(
        "-i",
        "--input",
        help="Trace file (.jsonl, .jsonl.gz, .parquet); its database is built once and cached.",
    ),
]
PricesOption = Annotated[
    str | None,
    typer.Option(
        "--prices",
        help="Prices: genai-prices (default: list prices at each step's time), study (the "
        "study's Table 6, the reference's lookup) or a price table CSV FILE.",
    ),
]


def _price_source(prices: str | None):
    """The one resolver of `--prices` (every command and the web app go through it)."""
    from tracelab.pricing import PriceTableError, resolve_source

    try:
        return resolve_source(prices)
    except (OSError, PriceTableError) as exc:
        _fail(f"price table: {exc}")


def _open_trace(
    db: Path | None,
    input_path: Path | None,
    prices: str | None,
    quiet: bool,
    steps_only: bool = False,
    memory_limit: str | None = None,
):
    """Resolve --db / -i, open the database read-only (DuckDB's `memory_limit`: see
    `tracedb.open_db`) and prepare the metric tables (with `steps_only`, `step_facts` and its
    own tables: a command that reads no tool or request facts does not pay for them)."""
    import duckdb

    from tracelab.io import TraceFormatError
    from tracelab.metrics.steps import FACT_TABLES, STEP_TABLES, prepare
    from tracelab.tracedb import check_tables, open_db
    from tracelab.traceinput import TraceInputError, cached_db_path, resolve_trace

    price_source = _price_source(prices)
    try:
        label = "Opening the trace"
        if input_path is not None and input_path.is_file() and db is None:
            with contextlib.suppress(OSError):
                if not cached_db_path(input_path).is_file():
                    label = f"Building the trace database from {input_path} (cached for next time)"
        with show.spinner(label, quiet=quiet):
            resolved = resolve_trace(db, input_path)
            con = open_db(resolved.db, memory_limit=memory_limit)
            check_tables(con, resolved.db)
            prepare(con, price_source, tables=STEP_TABLES if steps_only else FACT_TABLES)
    except (TraceInputError, TraceFormatError, FileNotFoundError) as exc:
        _fail(str(exc))
    except duckdb.Error as exc:
        _fail(f"{db or input_path}: not a readable trace database ({exc})")
    if resolved.built is not None and resolved.built.skipped_lines and not quiet:
        err.print(f"[yellow]note:[/] {escape(resolved.built.summary())}", soft_wrap=True)
    return con


# --- analyze / figure ---------------------------------------------------------------------


def _figure_workers() -> int:
    """Worker processes drawing figures: `TRACELAB_FIGURE_WORKERS` if set, else two where two
    CPUs are ours, else none (drawn in this process)."""
    env = os.environ.get("TRACELAB_FIGURE_WORKERS", "").strip()
    if env:
        if not env.isdigit():
            _fail(f"TRACELAB_FIGURE_WORKERS={env!r}: not a number of processes")
        return int(env)
    from tracelab.workers import usable_cpus

    return 2 if usable_cpus() >= 2 else 0


def _run_study(
    db: Path | None,
    input_path: Path | None,
    prices: Path | None,
    experiments: list,
    out: Path | None,
    figures: bool,
):
    """Compute every experiment once (figures drawn by worker processes meanwhile) and the
    report's overview and integrity findings; returns the `ReportData`."""
    from tracelab.experiments.drawing import FigurePool
    from tracelab.experiments.runner import run_experiments
    from tracelab.experiments.store import stamp
    from tracelab.reportdata import gather
    from tracelab.tracedb import TABLES_MEMORY_LIMIT

    workers = _figure_workers() if figures else 0
    # started before the trace is opened: no DuckDB threads yet, so the workers fork cheaply
    pool = FigurePool(workers) if workers else None
    # Tables only: nothing draws beside the queries, so they may have more memory (no spilling).
    limit = None if figures else TABLES_MEMORY_LIMIT
    try:
        con = _open_trace(db, input_path, prices, quiet=False, memory_limit=limit)
        extras = []
        with show.experiment_progress(len(experiments)) as on_done:
            runs = run_experiments(
                con,
                experiments,
                out=out,
                figures=figures,
                on_done=on_done,
                pool=pool,
                while_drawing=lambda: extras.append(gather(con, [], stamp(con))),
            )
    finally:
        if pool is not None:
            pool.close()
    data = extras[0]
    data.runs = runs
    return data


@app.command()
def analyze(
    db: DbOption = None,
    input_path: InputOption = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder for the experiments' outputs.")
    ] = Path("tracelab-analysis"),
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Experiment id, name or category (repeatable)."),
    ] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="List the experiments and their questions.")
    ] = False,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Tables only (faster).")] = False,
    report_file: Annotated[
        Path | None,
        typer.Option("--report", help="Also write the HTML report here (same computation)."),
    ] = None,
    prices: PricesOption = None,
) -> None:
    """Run the study's experiments (tables, figures, READMEs) into OUTPUT/<category>/<name>/."""
    from tracelab.experiments.registry import UnknownExperimentError, all_experiments, select
    from tracelab.report import write_report
    from tracelab.reportdata import save_extras

    if list_only:
        show.experiment_list(console, all_experiments())
        return
    try:
        chosen = select(only)
    except UnknownExperimentError as exc:
        _fail(str(exc.args[0]))
    _check_output_dir(output)
    _check_output(report_file, "html")
    data = _run_study(db, input_path, prices, chosen, output, figures=not no_figures)
    save_extras(output, data)
    show.analyze_report(console, data.runs, output)
    if report_file is not None:
        with show.spinner(f"Writing {report_file}"):
            write_report(data, report_file)
        show.report_written(console, data.runs, report_file)
    if any(not r.ok for r in data.runs):
        raise typer.Exit(1)


@figure_app.command("extract")
def figure_extract(
    png: Annotated[Path, typer.Argument(help="A figure written by `tracelab analyze`.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Folder for the files (default: list them)."),
    ] = None,
) -> None:
    """Get the README, CSV data and code version embedded in a figure's PNG back out."""
    from tracelab.figures.pngmeta import PngError, extract
    from tracelab.io import atomic_write_bytes

    if not png.is_file():
        _fail(f"{png}: no such file")
    try:
        texts = extract(png.read_bytes())
    except PngError as exc:
        _fail(f"{png}: {exc}")
    embedded = {k.split(":", 1)[1]: v for k, v in texts.items() if k.startswith("tracelab:")}
    if not embedded:
        _fail(f"{png}: no TraceLab data embedded (not written by `tracelab analyze`?)", code=1)
    if output is None:
        for name, text in embedded.items():
            console.print(f"[bold]{escape(name)}[/]  {len(text.encode()):,} bytes")
        console.print("Write them out with [bold]-o FOLDER[/].")
        return
    for name, text in embedded.items():
        atomic_write_bytes(output / name, text.encode())
        console.print(f"wrote {escape(str(output / name))}")


# --- summary / report / validate / export -------------------------------------------------


@app.command()
def summary(
    db: DbOption = None,
    input_path: InputOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable facts.")] = False,
    prices: PricesOption = None,
) -> None:
    """The headline facts of a trace (the study's Table 1 and introduction numbers)."""
    from tracelab.summary import summary_facts

    con = _open_trace(db, input_path, prices, quiet=as_json)
    facts = summary_facts(con, reference=True)
    if as_json:
        _print_json(facts)
        return
    show.summary_report(console, facts)


@app.command()
def report(
    db: DbOption = None,
    input_path: InputOption = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")] = Path(
        "tracelab-report.html"
    ),
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Render from this `tracelab analyze` folder, computing nothing (with --db/-i: "
            "check that it is of that trace).",
        ),
    ] = None,
    prices: PricesOption = None,
) -> None:
    """One self-contained HTML report: every table and figure, interactive charts, no network."""
    from tracelab.experiments.registry import all_experiments
    from tracelab.report import write_report

    _check_output(output, "html")
    if from_dir is not None:
        data = _load_analysis(from_dir, db, input_path)
    else:
        data = _run_study(db, input_path, prices, all_experiments(), None, figures=True)
    with show.spinner(f"Writing {output}"):
        write_report(data, output)
    show.report_written(console, data.runs, output)


def _load_analysis(folder: Path, db: Path | None, input_path: Path | None):
    """An analyze folder's `ReportData`; with a trace given, only if it was computed from it."""
    from tracelab.reportdata import AnalysisFolderError, load_analysis

    trace = None
    if db is not None or input_path is not None:
        import duckdb

        from tracelab.tracedb import open_db, trace_meta
        from tracelab.traceinput import TraceInputError, resolve_trace

        try:
            with open_db(resolve_trace(db, input_path).db) as con:
                trace = trace_meta(con)
        except (TraceInputError, FileNotFoundError, duckdb.Error) as exc:
            _fail(str(exc))
    try:
        return load_analysis(folder, trace)
    except AnalysisFolderError as exc:
        _fail(str(exc))


@app.command()
def validate(
    db: DbOption = None,
    input_path: InputOption = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also write the Markdown report here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable results.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Duplicate keys fail (default: a warning).")
    ] = False,
) -> None:
    """Integrity audits of a trace, each with pass/fail; exit 1 if any check fails."""
    from tracelab.io import atomic_write_bytes
    from tracelab.validate import run_checks

    _check_output(output, "markdown")
    con = _open_trace(db, input_path, None, quiet=as_json, steps_only=True)
    with show.spinner("Running integrity checks", quiet=as_json):
        result = run_checks(con, strict=strict)
    if output is not None:
        atomic_write_bytes(output, result.markdown().encode())
    if as_json:
        _print_json(result.to_json())
    else:
        show.validation_report(console, result, output)
    if not result.ok:
        raise typer.Exit(1)


@export_app.command("replay-csv")
def export_replay_csv_command(
    db: DbOption = None,
    input_path: InputOption = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV file to write.")] = Path(
        "replay.csv"
    ),
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="ours (observed arrivals and waits) or reference (the study's own CSV: "
            "shuffled session ids, synthetic session arrivals, tool-only waits).",
        ),
    ] = "ours",
    arrival: Annotated[
        str | None,
        typer.Option("--arrival", help="reference: poisson (default) or uniform sessions."),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option("--rate", help="reference: sessions per second (default 1)."),
    ] = None,
) -> None:
    """The multi-round CSV a serving simulator replays (one row per step, by session)."""
    from tracelab.export.reference_csv import ARRIVALS, export_reference_csv
    from tracelab.export.replay_csv import export_replay_csv

    if fmt not in ("ours", "reference"):
        _fail(f"--format must be ours or reference, got {fmt!r}")
    if fmt == "ours" and (arrival is not None or rate is not None):
        _fail("--arrival and --rate apply to --format reference only")
    if arrival is not None and arrival not in ARRIVALS:
        _fail(f"--arrival must be {' or '.join(ARRIVALS)}, got {arrival!r}")
    if rate is not None and not rate > 0:
        _fail(f"--rate must be > 0 sessions per second, got {rate}")
    _check_output(output, "csv")
    con = _open_trace(db, input_path, None, quiet=False, steps_only=True)
    with show.spinner(f"Writing {output}"):
        if fmt == "reference":
            report = export_reference_csv(
                con, output, arrival=arrival or "poisson", rate=1.0 if rate is None else rate
            )
        else:
            report = export_replay_csv(con, output)
    if fmt == "reference":
        show.reference_csv_report(console, report, output)
    else:
        show.export_report(console, report, output)


@export_app.command("mooncake")
def export_mooncake_command(
    db: DbOption = None,
    input_path: InputOption = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="JSONL file to write.")] = Path(
        "mooncake.jsonl"
    ),
    block_size: Annotated[
        int, typer.Option("--block-size", min=1, help="Tokens per KV-cache block.")
    ] = 512,
) -> None:
    """The Mooncake trace for KV-cache simulators (JSONL: arrival, lengths, block hash_ids)."""
    from tracelab.export.mooncake import export_mooncake

    _check_output(output, "jsonl")
    con = _open_trace(db, input_path, None, quiet=False, steps_only=True)
    with show.spinner(f"Writing {output}"):
        report = export_mooncake(con, output, block_size=block_size)
    show.mooncake_report(console, report, output)


@export_app.command("vllm-multiturn")
def export_vllm_multiturn_command(
    db: DbOption = None,
    input_path: InputOption = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="JSON file to write.")] = Path(
        "conversations.json"
    ),
    max_sessions: Annotated[
        int | None,
        typer.Option("--max-sessions", min=0, help="Keep the first N sessions by arrival."),
    ] = None,
    min_steps: Annotated[
        int, typer.Option("--min-steps", min=1, help="Keep sessions with at least K steps.")
    ] = 1,
) -> None:
    """Conversations for vLLM's multi-turn benchmark (filler text of each turn's length)."""
    from tracelab.export.vllm_multiturn import export_vllm_multiturn

    _check_output(output, "json")
    con = _open_trace(db, input_path, None, quiet=False, steps_only=True)
    with show.spinner(f"Writing {output}"):
        report = export_vllm_multiturn(con, output, max_sessions=max_sessions, min_steps=min_steps)
    show.vllm_multiturn_report(console, report, output)


# --- usage --------------------------------------------------------------------------------


@app.command()
def usage(
    report: Annotated[
        str,
        typer.Argument(help="daily (default), weekly, monthly, session, project or blocks."),
    ] = "daily",
    since: Annotated[
        str | None, typer.Option("--since", help="First day (YYYY-MM-DD), in --timezone.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day (YYYY-MM-DD), in --timezone.")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", "-z", help="IANA zone of days and times (default: local)."),
    ] = None,
    breakdown: Annotated[
        bool, typer.Option("--breakdown", "-b", help="A row per model under each row.")
    ] = False,
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", help="Only this agent: claude or codex (repeatable)."),
    ] = None,
    project: Annotated[
        list[str] | None,
        typer.Option(
            "--project",
            help="Only this project: its directory, or its pseudonym in a sanitized trace "
            "(repeatable).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Machine-readable CSV.")] = False,
    db: DbOption = None,
    input_path: InputOption = None,
    prices: PricesOption = None,
    home: Annotated[
        list[Path] | None,
        typer.Option("--home", help="Collect this home instead of yours (without --db/-i)."),
    ] = None,
    now: Annotated[
        str | None, typer.Option("--now", hidden=True, help="The current time (ISO-8601).")
    ] = None,
) -> None:
    """What you spent per day, week, month, session, project or 5-hour block.

    Without --db / -i it collects your ~/.claude and ~/.codex first (incrementally: a repeat
    run on unchanged logs takes a fraction of a second). Subagents count in their parent's
    session.
    """
    import duckdb

    from tracelab.display_usage import usage_csv, usage_json, usage_table
    from tracelab.metrics.usage import REPORTS, Query, open_usage
    from tracelab.metrics.usage import report as usage_report
    from tracelab.schema import PROVIDERS
    from tracelab.usage import (
        UsageError,
        check_zone,
        collect_homes,
        ensure_facts,
        local_zone,
        parse_day,
        prices_key,
    )

    quiet = as_json or as_csv
    if report not in REPORTS:
        _fail(f"unknown report {report!r}: one of {', '.join(REPORTS)}")
    if as_json and as_csv:
        _fail("give either --json or --csv, not both")
    unknown = sorted(set(provider or ()) - set(PROVIDERS))
    if unknown:
        _fail(f"--provider takes {' or '.join(PROVIDERS)}, not {', '.join(unknown)}")
    try:
        query = Query(
            report=report,
            timezone=check_zone(timezone) if timezone else local_zone(),
            since=parse_day(since, "--since"),
            until=parse_day(until, "--until"),
            providers=tuple(dict.fromkeys(provider or ())),
            projects=_project_values(project or []),
            breakdown=breakdown,
            now=_parse_now(now),
        )
    except UsageError as exc:
        _fail(str(exc))
    if query.since and query.until and query.since > query.until:
        _fail(f"--since {query.since} is after --until {query.until}")

    collected = None
    if db is not None or input_path is not None:
        source = db if db is not None else input_path
        if db is not None and input_path is not None:
            _fail("give either --db or -i, not both")
        if input_path is not None:
            _check_input(input_path)
        elif not source.is_file():
            _fail(f"{source}: no such file")
    else:
        homes = _usage_homes(home)
        with show.byte_progress("Collecting", quiet=quiet) as progress:
            collected, source = collect_homes(homes, progress=progress)
        if collected.files == 0:
            looked = ", ".join(str(h.path) for h in homes)
            _fail(
                f"no agent session logs found in {looked} (looked for .claude/projects, "
                ".claude.back/projects, .codex/sessions); give a trace with -i TRACE or --db",
                code=1,
            )
        db, input_path = None, source
    try:
        facts = ensure_facts(
            source,
            prices_key(prices),
            lambda: _open_trace(db, input_path, prices, quiet, steps_only=True),
        )
        con = open_usage(facts.path)
        result = usage_report(con, query)
    except (OSError, duckdb.Error) as exc:
        _fail(f"usage: {exc}".splitlines()[0])
    footer = []
    if collected is not None:
        state = "no change since the last run" if collected.up_to_date else "updated"
        footer.append(f"Collected {collected.files:,} log files ({state}).")
        if collected.skipped_files:
            footer.append(f"{len(collected.skipped_files):,} unreadable files skipped.")
    if as_json:
        extra = {"collect": collected.to_json()} if collected is not None else {}
        _print_json(usage_json(result, extra))
    elif as_csv:
        sys.stdout.write(usage_csv(result))
    else:
        usage_table(console, result, footer)


def _project_values(values: list[str]) -> tuple[str, ...]:
    """`--project` values as given, plus the absolute path of those naming a directory."""
    out: list[str] = []
    for value in values:
        out.append(value)
        path = Path(value).expanduser()
        if path.is_dir():
            out.append(str(path.resolve()))
    return tuple(dict.fromkeys(out))


def _parse_now(text: str | None):
    from datetime import UTC, datetime

    from tracelab.usage import UsageError

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now {text!r}: not an ISO-8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _usage_homes(home: list[Path] | None):
    from tracelab.sources.discover import current_home, home_for

    if not home:
        return [current_home()]
    homes = [home_for(h) for h in home]
    for h in homes:
        if not h.path.is_dir():
            _fail(f"home {h.path} is not a directory")
    return homes


# --- synth / demo -------------------------------------------------------------------------


synth_app = typer.Typer(
    help="Generate SYNTHETIC coding-agent workloads (raw Claude Code / Codex logs) from a "
    "profile; fit a profile to a trace; check a generated trace against a profile's targets.",
)
app.add_typer(synth_app, name="synth")


@synth_app.callback(invoke_without_command=True)
def synth(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Fake home to write into.")
    ] = None,
    sessions: Annotated[int, typer.Option("--sessions", min=1, help="Number of sessions.")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (deterministic).")] = 0,
    providers: Annotated[
        str, typer.Option("--providers", help="Comma-separated: claude,codex.")
    ] = "claude,codex",
    profile: Annotated[
        str, typer.Option("--profile", help="'study' (default) or a profile JSON file.")
    ] = "study",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, max=MAX_WORKERS, help="Writer processes (default: one per CPU)."
        ),
    ] = None,
) -> None:
    """Write SYNTHETIC raw Claude Code / Codex session files (a fake home) drawn from a workload
    profile: `tracelab synth -o DIR --sessions N [--profile study|FILE]`."""
    if ctx.invoked_subcommand is not None:
        return
    from tracelab.synth import ProfileError, generate_home, load_profile

    if output is None:
        _fail("missing -o/--output DIR (or a subcommand: fit, check)")
    chosen = tuple(p.strip() for p in providers.split(",") if p.strip())
    unknown = set(chosen) - {"claude", "codex"}
    if unknown or not chosen:
        _fail(f"--providers takes claude and/or codex, not {', '.join(sorted(unknown)) or '∅'}")
    try:
        prof = load_profile(profile)
        prof.provider_shares(chosen)
    except ProfileError as exc:
        _fail(str(exc))
    try:
        with show.synth_progress(sessions) as progress:
            summary = generate_home(
                output,
                sessions=sessions,
                seed=seed,
                providers=chosen,
                profile=prof,
                workers=workers,
                progress=progress,
            )
    except FileExistsError as exc:
        _fail(str(exc))
    show.synth_report(console, summary)


def _synth_trace(path: Path, quiet: bool = False):
    """A prepared connection to the trace at `path`: a trace file or database, or a (synthetic)
    home directory, collected into a temporary trace first."""
    if not path.is_dir():
        return _open_trace(None, path, None, quiet)
    import tempfile

    from tracelab.collect import collect as run_collect
    from tracelab.metrics.steps import prepare
    from tracelab.sources.discover import home_for
    from tracelab.tracedb import build_db, open_db

    scratch = Path(tempfile.mkdtemp(prefix="tracelab-synth-"))
    trace, db = scratch / "trace.parquet", scratch / "trace.duckdb"
    with show.spinner(f"Collecting {path} and building its database", quiet=quiet):
        report, _ = run_collect([home_for(path)], trace, cache=False)
        if not report.files:
            _fail(f"{path}: no agent session logs in this directory")
        build_db(trace, db)
        con = open_db(db)
        prepare(con)
    return con


def _synth_targets(source: str, quiet: bool):
    """(targets, label) of a profile ('study' or a .json file) or of a trace (its measure)."""
    from tracelab.synth.calibration import measure, targets_from
    from tracelab.synth.profile import PACKAGED, ProfileError, load_profile

    if source in PACKAGED or source.lower().endswith(".json"):
        try:
            prof = load_profile(source)
        except ProfileError as exc:
            _fail(str(exc))
        if not prof.targets:
            _fail(f"profile {prof.name!r} lists no targets")
        return list(prof.targets), f"profile {prof.name}"
    path = Path(source)
    if not path.exists():
        _fail(f"{source}: no such profile or trace (give 'study', a profile .json or a trace)")
    con = _synth_trace(path, quiet)
    with show.spinner(f"Measuring {path}", quiet=quiet):
        targets = targets_from(measure(con), f"measured on {path.name}")
    return targets, f"trace {path.name}"


@synth_app.command("check")
def synth_check(
    source: Annotated[
        str, typer.Argument(help="'study', a profile .json, or a trace to take targets from.")
    ],
    against: Annotated[
        Path,
        typer.Option(
            "--against", help="The trace to judge: a trace file, database or synthetic home."
        ),
    ],
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Relative tolerance of a PASS.")
    ] = 0.10,
    only: Annotated[
        str | None, typer.Option("--only", help="Only quantities whose key contains this.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable verdicts.")] = False,
) -> None:
    """Target vs achieved value of every calibrated quantity, with a verdict; exit 1 on a FAIL."""
    from tracelab.synth.calibration import compare, measure

    if tolerance < 0:
        _fail("--tolerance must be ≥ 0")
    targets, label = _synth_targets(source, as_json)
    if only:
        targets = [t for t in targets if only in t.key]
        if not targets:
            _fail(f"no target key contains {only!r}")
    con = _synth_trace(against, as_json)
    with show.spinner(f"Measuring {against}", quiet=as_json):
        verdicts = compare(targets, measure(con), tolerance)
    failed = sum(not v.ok for v in verdicts)
    if as_json:
        _print_json(
            {
                "targets": label,
                "against": str(against),
                "tolerance": tolerance,
                "passed": len(verdicts) - failed,
                "failed": failed,
                "verdicts": [v.to_json() for v in verdicts],
            }
        )
    else:
        show.synth_check_report(console, verdicts, label, against, tolerance)
    if failed:
        raise typer.Exit(1)


@synth_app.command("fit")
def synth_fit(
    trace: Annotated[
        Path, typer.Argument(help="A trace file or database (or a home of raw logs).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="The profile JSON to write.")],
    name: Annotated[str, typer.Option("--name", help="The profile's name.")] = "fitted",
) -> None:
    """Learn a workload profile (quantiles and rates, no content) from a trace."""
    from tracelab.io import atomic_write_bytes
    from tracelab.synth.fit import FitError, fit_profile
    from tracelab.synth.profile import dumps_profile

    if not trace.exists():
        _fail(f"{trace}: no such file")
    _check_output(output, "profile")
    con = _synth_trace(trace)
    try:
        with show.spinner(f"Fitting a profile to {trace}"):
            doc = fit_profile(con, name=name, source="a trace")
    except FitError as exc:
        _fail(str(exc), code=1)
    atomic_write_bytes(output, dumps_profile(doc).encode())
    show.synth_fit_report(console, doc, output)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option("--dir", help="Where the demo writes its files.")] = Path(
        "tracelab-demo"
    ),
    sessions: Annotated[int, typer.Option("--sessions", min=1, help="Synthetic sessions.")] = 60,
    seed: Annotated[int, typer.Option("--seed")] = 7,
) -> None:
    """Run the whole pipeline on a SYNTHETIC trace: synth → collect → sanitize → audit → db."""
    from tracelab.demo import run_demo

    run_demo(console, workdir, sessions=sessions, seed=seed)


# --- serve --------------------------------------------------------------------------------


@app.command()
def serve(
    db: DbOption = None,
    input_path: InputOption = None,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
    ] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (default: loopback only).")
    ] = "127.0.0.1",
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open the browser.")
    ] = False,
    prices: PricesOption = None,
    idle_minutes: Annotated[
        float,
        typer.Option(
            "--idle-minutes",
            min=0,
            help="Close a trace's database after this many minutes unused, releasing its "
            "memory (0: never).",
        ),
    ] = 10.0,
    ask_base_url: Annotated[
        str | None,
        typer.Option(
            "--ask-base-url",
            help="The Ask page's default OpenAI-compatible endpoint (default: the local model).",
        ),
    ] = None,
    ask_model: Annotated[
        str | None, typer.Option("--ask-model", help="Model name at --ask-base-url.")
    ] = None,
    ask_api_key_env: Annotated[
        str,
        typer.Option(
            "--ask-api-key-env", help="Environment variable holding the Ask endpoint's API key."
        ),
    ] = DEFAULT_API_KEY_ENV,
) -> None:
    """The local web app: explore a trace in the browser; nothing leaves the machine.

    Without --db / -i it collects your ~/.claude and ~/.codex in the background (or offers the
    SYNTHETIC demo trace when there are no logs). The Ask page's endpoint, if not on this
    machine, is used only once its remote switch is turned on in the page.
    """
    from tracelab.io import TraceFormatError
    from tracelab.traceinput import TraceInputError, resolve_trace
    from tracelab.web.server import ListenError, listen
    from tracelab.web.server import serve as run_server

    price_source = _price_source(prices)
    ask_defaults = _backend_settings(  # checked before the server starts
        ask_base_url, ask_model, ask_api_key_env, prefix="--ask-"
    )
    try:
        sock = listen(host, port)  # before any work: a port in use is one line, not a traceback
    except ListenError as exc:
        _fail(str(exc))
    resolved_db, source = None, None
    if db is not None or input_path is not None:
        try:
            with show.spinner("Opening the trace (its database is built once and cached)"):
                resolved = resolve_trace(db, input_path)
        except (TraceInputError, TraceFormatError, FileNotFoundError) as exc:
            sock.close()
            _fail(str(exc))
        resolved_db, source = resolved.db, input_path
    run_server(
        resolved_db,
        source,
        host=host,
        port=port,
        open_browser=not no_browser,
        say=lambda text: console.print(escape(text), soft_wrap=True),
        prices=price_source,
        sock=sock,
        idle_close_s=idle_minutes * 60,
        ask=ask_defaults,
    )


# --- ask ----------------------------------------------------------------------------------


def _backend_settings(base_url: str | None, model: str | None, key_env: str, prefix: str = "--"):
    """The chat backend options checked by the Ask page's rules (`ask.settings`): a bad value
    is one `error:` line naming its option (`<prefix>base-url`, `<prefix>api-key-env`)."""
    from tracelab.ask.settings import BackendSettings, SettingsError, check_base_url, check_key_env

    try:
        url = check_base_url(base_url)
    except SettingsError as exc:
        _fail(f"{prefix}base-url: {exc}")
    try:
        name = check_key_env(key_env)
    except SettingsError as exc:
        _fail(f"{prefix}api-key-env: {exc}")
    return BackendSettings(url, model, name)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question about the trace.")],
    db: DbOption = None,
    input_path: InputOption = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="OpenAI-compatible endpoint (default: the local model)."),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model name at --base-url.")] = None,
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="Environment variable holding the API key.")
    ] = DEFAULT_API_KEY_ENV,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow an endpoint not on this machine (tool "
            "results are sent there; raw logs never are).",
        ),
    ] = False,
    max_turns: Annotated[
        int,
        typer.Option("--max-turns", min=1, max=MAX_TURNS_LIMIT, help="Model turns per question."),
    ] = DEFAULT_MAX_TURNS,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            click_type=click.FloatRange(0, MAX_TIME_LIMIT_S, min_open=True),
            help="Seconds per question (model and queries).",
        ),
    ] = DEFAULT_TIME_LIMIT_S,
    chat: Annotated[
        bool, typer.Option("--chat", help="Keep asking follow-up questions (empty line ends).")
    ] = False,
    prices: PricesOption = None,
) -> None:
    """Ask a question about a trace: an LLM answers with tools and shows its evidence."""
    import duckdb

    from tracelab.ask.backends import BackendError, make_backend
    from tracelab.ask.display import answer_footer
    from tracelab.ask.loop import Conversation
    from tracelab.ask.sandbox import Sandbox
    from tracelab.io import TraceFormatError
    from tracelab.traceinput import TraceInputError, resolve_trace

    price_source = _price_source(prices)
    settings = _backend_settings(base_url, model, api_key_env)
    try:
        backend = make_backend(
            settings.base_url, settings.model, settings.api_key_env, allow_remote
        )
    except (BackendError, ImportError) as exc:
        _fail(str(exc))
    try:
        with show.spinner("Opening the trace (sanitized columns only)"):
            resolved = resolve_trace(db, input_path)
            sandbox = Sandbox(resolved.db, prices=price_source)
    except (TraceInputError, TraceFormatError, FileNotFoundError) as exc:
        _fail(str(exc))
    except duckdb.Error as exc:
        _fail(f"{db or input_path}: not a readable trace database ({exc})")
    conversation = Conversation(sandbox, backend, max_turns=max_turns, time_limit_s=timeout)

    def on_event(kind: str, payload) -> None:
        if kind == "token":
            console.out(payload, end="", highlight=False)
        elif kind == "tool_call":
            console.print(f"\n[dim]→ {payload['tool']} {escape(str(payload['arguments']))}[/]")

    while True:
        console.print(f"[bold]Q:[/] {escape(question)}")
        answer = conversation.ask(question, on_event)
        console.print()
        answer_footer(console, answer)
        if not chat:
            break
        question = console.input("[bold]follow-up> [/]").strip()
        if not question:
            break
    sandbox.close()


# --- contribute / pool (tracelab.pool.cli) -------------------------------------------------

from tracelab.pool.cli import contribute as _contribute  # noqa: E402
from tracelab.pool.cli import pool_app as _pool_app  # noqa: E402

app.command("contribute")(_contribute)
app.add_typer(_pool_app, name="pool")


def run() -> None:
    """The `tracelab` command: the app, with a usage error (an option out of its range, a
    missing argument) printed as one `error:` line and exit 2 instead of a framed panel."""
    import click

    try:
        code = app(standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError:  # the help is already printed
        raise SystemExit(2) from None
    except click.exceptions.UsageError as exc:
        where = f"{exc.ctx.command_path}: " if exc.ctx is not None else ""
        err.print(f"[bold red]error:[/] {escape(where + exc.format_message())}", soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Abort:
        err.print("Aborted.")
        raise SystemExit(1) from None
    except click.exceptions.ClickException as exc:
        err.print(f"[bold red]error:[/] {escape(exc.format_message())}", soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    run()
