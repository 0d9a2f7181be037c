"""Benchmark the analyses at the study's size: build, every table, every figure, the report.

Why: `tracelab analyze` must stay interactive on a trace as large as the study's (≈357k steps,
≈430k tool calls, ≈4.3k sessions) on a 2-core laptop. This script generates a study-shaped
synthetic trace (`synthtrace.py`), then measures, each in its own subprocess exactly as a user
runs it:

1. the DuckDB build from the JSONL (`tracelab.tracedb.build_db`)      target ≤ 20 s
   baseline: DuckDB `read_json` count(*) over the same file (ratios below are against it)
2. `tracelab analyze --db X --no-figures` (all tables)                  target ≤ 15 s
3. `tracelab analyze --db X` (figures) and `tracelab report --db X`     target ≤ 90 s together
4. the peak RSS of each of those subprocesses                           target ≤ 2 GB each
5. per-experiment compute / plot / write times from the runs' `run.json`, slowest first, and
   what the runs spend outside the experiments (start-up, `metrics.steps.prepare` — also
   measured on its own, and its pricing part, `metrics.costs.prepare_costs`: target ≤ 10 % of
   `analyze --no-figures`).

Peak RSS is per subprocess: each child is reaped with `os.wait4(pid)`, whose rusage covers that
child (and anything it waited for) only — not the generator or earlier children. Children are
pinned to `--cores` CPUs (default 2) where the OS allows it, so a big machine measures a laptop.
Times of the CLI runs are wall-clock, Python start-up and imports included (what a user waits);
the build row is `build_db`'s own time (its wall time incl. start-up is shown in the log).

    uv run python benchmarks/analyze.py [-n 357000] [--keep DIR | --reuse DIR] [--cores 2]

Exit status 1 when a target is missed or an experiment failed. A script, never a unit test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from synthtrace import write_trace

TARGET_BUILD_S = 20.0
TARGET_TABLES_S = 15.0
TARGET_ALL_S = 90.0
TARGET_RSS_MB = 2048.0

BUILD_SNIPPET = """
import sys, orjson
from pathlib import Path
from tracelab.tracedb import build_db
r = build_db(Path(sys.argv[1]), Path(sys.argv[2]))
print(orjson.dumps({"seconds": r.seconds, "rows": r.rows, "tool_calls": r.tool_calls,
                    "timing_events": r.timing_events, "skipped": r.skipped_lines}).decode())
"""

BASELINE_SNIPPET = """
import sys, time, duckdb, orjson
t = time.perf_counter()
(n,) = duckdb.connect().execute(
    "SELECT count(*) FROM read_json(?, format='newline_delimited')", [sys.argv[1]]
).fetchone()
print(orjson.dumps({"seconds": time.perf_counter() - t, "rows": n}).decode())
"""

PREPARE_SNIPPET = """
import sys, time, orjson
from pathlib import Path
from tracelab.metrics.steps import prepare
from tracelab.tracedb import open_db
con = open_db(Path(sys.argv[1]))
t = time.perf_counter()
prepare(con)
print(orjson.dumps({"seconds": time.perf_counter() - t}).decode())
"""

#: The pricing part of `prepare` on its own: genai-prices loaded, rates resolved once per
#: distinct model, the per-step cost table computed in SQL (`metrics.costs.prepare_costs`).
PRICING_SNIPPET = """
import sys, time, orjson
from pathlib import Path
from tracelab.metrics.costs import prepare_costs
from tracelab.pricing import default_source
from tracelab.tracedb import open_db
con = open_db(Path(sys.argv[1]))
t = time.perf_counter()
prepare_costs(con, default_source())
print(orjson.dumps({"seconds": time.perf_counter() - t}).decode())
"""
TARGET_PRICING_SHARE = 0.10


@dataclass
class Measured:
    """One subprocess: wall seconds, exit code, peak RSS (MB), and its stdout (last line)."""

    label: str
    wall_s: float
    code: int
    rss_mb: float
    last_line: str


def _pin(cores: int) -> None:
    """Restrict this (child) process to the first `cores` CPUs it may use."""
    if cores and hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) > cores:
            os.sched_setaffinity(0, allowed[:cores])


def measure(label: str, argv: list[str], log_dir: Path, cores: int) -> Measured:
    """Run `argv` to completion; its own wall time and peak RSS (via wait4's rusage)."""
    stem = label.replace(" ", "_").replace("/", "_")
    out_path, err_path = log_dir / f"{stem}.out", log_dir / f"{stem}.err"
    env = {**os.environ, "TRACELAB_CACHE_DIR": str(log_dir / "cache"), "COLUMNS": "160"}
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, env=env, preexec_fn=lambda: _pin(cores)
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen
    kib = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss
    lines = out_path.read_text(errors="replace").strip().splitlines()
    m = Measured(label, wall, proc.returncode, kib / 1024, lines[-1] if lines else "")
    status_text = "ok" if m.code == 0 else f"exit {m.code} (see {err_path})"
    print(f"  {label:<28} {wall:7.2f} s  peak RSS {m.rss_mb:7.0f} MB  {status_text}", flush=True)
    return m


def load_note() -> str:
    """The 1-minute load average: other work on the machine inflates every time measured."""
    if not hasattr(os, "getloadavg"):
        return "load average unknown"
    load = os.getloadavg()[0]
    busy = " — the machine is busy, times are inflated" if load > 1.0 else ""
    return f"load average {load:.2f}{busy}"


def tracelab_argv(*args: str) -> list[str]:
    """The `tracelab` command of this environment (console script, else via the module)."""
    script = Path(sys.executable).with_name("tracelab")
    if script.is_file():
        return [str(script), *args]
    return [sys.executable, "-c", "from tracelab.cli import app; app()", *args]


# --- reporting ----------------------------------------------------------------------------


def _status(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return "PASS" if value <= target else "FAIL"


def print_summary(rows: list[tuple[str, float, str, float | None, float | None]]) -> bool:
    """rows: (what, value, unit, target, ratio to baseline). Returns True when all pass."""
    print()
    print(f"{'measurement':<40} {'measured':>12} {'target':>12} {'status':>7} {'× baseline':>11}")
    print("-" * 86)
    ok = True
    for what, value, unit, target, ratio in rows:
        status = _status(value, target)
        ok &= status != "FAIL"
        target_text = f"≤ {target:,.0f} {unit}" if target is not None else "—"
        ratio_text = f"{ratio:.1f}×" if ratio is not None else ""
        print(f"{what:<40} {value:>9,.1f} {unit:<2} {target_text:>12} {status:>7} {ratio_text:>11}")
    return ok


def load_run(out: Path) -> dict[str, dict]:
    """The experiments of an analyze run's `run.json` by id (empty if the run wrote none)."""
    path = out / "run.json"
    if not path.is_file():
        return {}
    return {e["id"]: e for e in orjson.loads(path.read_bytes())["experiments"]}


def inside_s(run: dict[str, dict]) -> float:
    """Seconds spent inside the experiments of a run (compute + plot + write)."""
    return sum(e["compute_s"] + e["plot_s"] + e["write_s"] for e in run.values())


def experiment_rows(tables: dict[str, dict], figures: dict[str, dict]) -> list[tuple]:
    """(id, tables-run compute, figures-run compute, plot, write, total), slowest first."""
    rows = []
    for exp_id in dict.fromkeys([*figures, *tables]):
        t, f = tables.get(exp_id, {}), figures.get(exp_id, {})
        phases = (f.get("compute_s"), f.get("plot_s"), f.get("write_s"))
        rows.append((exp_id, t.get("compute_s"), *phases, sum(v or 0 for v in phases)))
    return sorted(rows, key=lambda r: -r[5])


def failures(*runs: dict[str, dict]) -> list[str]:
    return list(
        dict.fromkeys(f"{i}: {e['error']}" for run in runs for i, e in run.items() if not e["ok"])
    )


def _s(v: float | None) -> str:
    return f"{v:8.2f}" if v is not None else f"{'–':>8}"


def print_experiments(rows: list[tuple]) -> None:
    print()
    print("Per experiment, slowest first (seconds; 'tables' = compute in the --no-figures run):")
    print(f"{'experiment':<40} {'tables':>8} {'compute':>8} {'plot':>8} {'write':>8} {'total':>8}")
    print("-" * 86)
    for exp_id, t_compute, compute, plot, write, total in rows:
        print(f"{exp_id:<40} {_s(t_compute)} {_s(compute)} {_s(plot)} {_s(write)} {_s(total)}")
    if rows:
        sums = " ".join(_s(sum(r[i] or 0 for r in rows)) for i in range(1, 6))
        print("-" * 86)
        print(f"{f'sum over {len(rows)} experiments':<40} {sums}")


# --- the run ------------------------------------------------------------------------------


def trace_facts(db: Path) -> str:
    """A one-line sanity check of what the synthetic trace contains."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        sessions, steps, users, models = con.execute(
            "SELECT count(DISTINCT session_id), count(*),"
            " count(*) FILTER (WHERE first_input_event_type = 'user_message'),"
            " count(DISTINCT model) FROM rounds"
        ).fetchone()
        (tools,) = con.execute("SELECT count(*) FROM tool_calls").fetchone()
    return (
        f"{sessions:,} sessions, {steps:,} steps ({users:,} user-initiated), "
        f"{tools:,} tool calls, {models} models"
    )


def run(workdir: Path, n: int, reuse: bool, cores: int) -> int:
    src, db = workdir / "trace.jsonl", workdir / "trace.duckdb"
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if reuse:
        if not src.is_file():
            sys.exit(f"--reuse: {src} does not exist")
        print(f"reusing {src} ({src.stat().st_size / 1e6:,.0f} MB)")
    else:
        started = time.perf_counter()
        rows = write_trace(src, n)
        print(
            f"generated {rows:,} synthetic steps, {src.stat().st_size / 1e6:,.0f} MB JSONL "
            f"in {time.perf_counter() - started:.1f} s"
        )
    db.unlink(missing_ok=True)
    print(f"measuring on {cores or 'all'} cores ({load_note()}):")

    def python(label: str, code: str, *args: Path) -> tuple[Measured, dict]:
        """A `python -c` child and the JSON it printed last (empty when it failed)."""
        m = measure(label, [sys.executable, "-c", code, *map(str, args)], logs, cores)
        return m, orjson.loads(m.last_line) if m.code == 0 else {}

    def cli(label: str, *args: str | Path) -> Measured:
        return measure(label, tracelab_argv(*map(str, args)), logs, cores)

    build, built = python("build_db", BUILD_SNIPPET, src, db)
    if build.code != 0:
        print(f"build failed; see {logs}")
        return 1
    print(f"  trace: {trace_facts(db)}")
    base, base_json = python("baseline read_json", BASELINE_SNIPPET, src)
    prep, prep_json = python("prepare metric tables", PREPARE_SNIPPET, db)
    pricing, pricing_json = python("pricing (prepare_costs)", PRICING_SNIPPET, db)
    tables_out, figures_out = workdir / "out-tables", workdir / "out-figures"
    for out in (tables_out, figures_out):
        shutil.rmtree(out, ignore_errors=True)
    tables = cli("analyze --no-figures", "analyze", "--db", db, "--no-figures", "-o", tables_out)
    figures = cli("analyze (figures)", "analyze", "--db", db, "-o", figures_out)
    report = cli("report", "report", "--db", db, "-o", workdir / "report.html")

    base_s = base_json.get("seconds")

    def row(what: str, seconds: float, target: float | None = None) -> tuple:
        return (what, seconds, "s", target, seconds / base_s if base_s else None)

    def rss(what: str, m: Measured) -> tuple:
        return (f"peak RSS: {what}", m.rss_mb, "MB", TARGET_RSS_MB, None)

    nan = float("nan")
    ok = print_summary(
        [
            row("DB build (build_db)", built["seconds"], TARGET_BUILD_S),
            row("baseline: read_json count(*)", base_s or nan),
            row("prepare metric tables (in every run)", prep_json.get("seconds", nan)),
            row("  of which pricing (prepare_costs)", pricing_json.get("seconds", nan)),
            row("analyze --no-figures (all tables)", tables.wall_s, TARGET_TABLES_S),
            (
                "pricing / analyze --no-figures",
                pricing_json.get("seconds", nan) / tables.wall_s * 100,
                "%",
                TARGET_PRICING_SHARE * 100,
                None,
            ),
            row("analyze with figures", figures.wall_s),
            row("report (HTML)", report.wall_s),
            row("analyze with figures + report", figures.wall_s + report.wall_s, TARGET_ALL_S),
            rss("build", build),
            rss("analyze --no-figures", tables),
            rss("analyze with figures", figures),
            rss("report", report),
        ]
    )
    tables_run, figures_run = load_run(tables_out), load_run(figures_out)
    print_experiments(experiment_rows(tables_run, figures_run))
    print(
        "outside the experiments (start-up, opening the trace, preparing the metric tables, "
        f"index): {tables.wall_s - inside_s(tables_run):.2f} s of the --no-figures run, "
        f"{figures.wall_s - inside_s(figures_run):.2f} s of the figures run"
    )
    failed = failures(tables_run, figures_run)
    for line in failed:
        print(f"FAILED {line}")
    exits = {m.label: m.code for m in (base, prep, pricing, tables, figures, report) if m.code != 0}
    if exits:
        print(f"non-zero exits: {exits} (stderr in {logs})")
    print(f"after the runs: {load_note()}")
    return 0 if ok and not failed and not exits else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=357_000, help="synthetic steps (default 357,000)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--keep", type=Path, help="work in DIR and keep everything there")
    where.add_argument("--reuse", type=Path, help="reuse DIR/trace.jsonl (skip generation)")
    parser.add_argument("--cores", type=int, default=2, help="CPUs for the children (0: all)")
    args = parser.parse_args()
    if args.reuse or args.keep:
        workdir = args.reuse or args.keep
        workdir.mkdir(parents=True, exist_ok=True)
        sys.exit(run(workdir, args.n, bool(args.reuse), args.cores))
    with tempfile.TemporaryDirectory(prefix="analyze-bench-") as tmp:
        code = run(Path(tmp), args.n, False, args.cores)
    sys.exit(code)


if __name__ == "__main__":
    main()
