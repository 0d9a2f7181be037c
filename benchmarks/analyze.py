"""Benchmark the analyses at the study's size: build, every table, every figure, the report.

Why: `tracelab analyze` must stay interactive on a trace as large as the study's (≈357k steps,
≈430k tool calls, ≈4.3k sessions) on a 2-core laptop. This script generates a study-shaped
synthetic trace (`synthtrace.py`), then measures, each in its own subprocess exactly as a user
runs it:

1. the DuckDB build from the JSONL (`tracelab.tracedb.build_db`)      target ≤ 20 s
   baseline: DuckDB `read_json` count(*) over the same file (ratios below are against it)
2. `tracelab analyze --db X --no-figures` (all tables)                  target ≤ 15 s
3. `tracelab analyze --db X --report R` — the full study in ONE run:    target ≤ 22 s
   tables, figures (drawn by 2 worker processes) and the HTML report    peak RSS ≤ 1 GB
4. the same with `TRACELAB_FIGURE_WORKERS=0` (figures drawn in the main process): what the
   worker processes buy
5. `tracelab report --from OUT` (the report rendered from the folder, nothing recomputed)
6. per-experiment compute / plot / write times from the runs' `run.json`, slowest first, and
   what the runs spend outside the experiments (start-up, `metrics.steps.prepare` — also
   measured on its own, for every fact table and for the step tables only, and its pricing
   part, `metrics.costs.prepare_costs`: target ≤ 10 % of `analyze --no-figures`).

Memory, three ways. `os.wait4(pid)` gives the peak RSS of the largest single process of the
run (the main one or a drawing worker), never the sum. The run's total is sampled every 50 ms
over the child and all its descendants: summed RSS (a page a forked worker shares with its
parent counted in each: an upper bound) and summed PSS (shared pages split: the memory the
run takes). The 1 GB target applies to the largest process and to the summed PSS. CPU time
(user + system, the child and every process it waited for, its workers included) is printed
beside each wall time: other load inflates it far less. Children are pinned to `--cores` CPUs
(default 2) where the OS allows it, so a big machine measures a laptop. Times of the CLI runs
are wall-clock, Python start-up and imports included (what a user waits); the build row is
`build_db`'s own time. Other work on the machine inflates every time: the load average is
printed before and after each run.

    uv run python benchmarks/analyze.py [-n 357000] [--keep DIR | --reuse DIR] [--cores 2]
    uv run python benchmarks/analyze.py --reuse DIR --before OLD [--reps 3]

`--before OLD` (a checkout of an older commit with its own `.venv`, e.g. a `git worktree`)
measures instead whether this code is slower than that one on the same work: each side builds
its own database from the same trace (`build_db`) and runs `analyze --no-figures --only` the
experiments both have, alternating old/new `--reps` times; the medians' ratio new ÷ old must
be ≤ 1.10 (`TARGET_VS_BEFORE`). Both run with their own interpreter and nothing of this
checkout on their path.

Exit status 1 when a target is missed or an experiment failed. A script, never a unit test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from synthtrace import write_trace

TARGET_BUILD_S = 20.0
TARGET_TABLES_S = 15.0
TARGET_ALL_S = 22.0
TARGET_RSS_MB = 2048.0
TARGET_ALL_RSS_MB = 1024.0
#: `--before`: this code's time ÷ the older checkout's, on the same work (median of runs).
TARGET_VS_BEFORE = 1.10

#: The experiment ids of the interpreter's tracelab (`--before`: the ones both sides have).
IDS_SNIPPET = """
import orjson
from tracelab.experiments.registry import all_experiments
print(orjson.dumps([e.id for e in all_experiments()]).decode())
"""

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

#: `prepare` of every fact table (what `analyze` needs), and of the step tables only (what a
#: command or page that reads no tool or request facts pays: exports, validate, usage).
PREPARE_SNIPPET = """
import sys, time, orjson
from pathlib import Path
from tracelab.metrics.steps import FACT_TABLES, STEP_TABLES, prepare
from tracelab.tracedb import open_db
con = open_db(Path(sys.argv[1]))
t = time.perf_counter()
prepare(con, tables=STEP_TABLES if sys.argv[2:] == ["steps"] else FACT_TABLES)
print(orjson.dumps({"seconds": time.perf_counter() - t}).decode())
"""

#: The pricing part of `prepare` on its own: genai-prices loaded, rates resolved once per
#: distinct model (`metrics.costs.prepare_costs`); the per-step arithmetic is part of
#: `step_facts`' own pass.
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
    """One subprocess: wall seconds, exit code, peak RSS of its largest process and of its
    whole process tree (MB, sampled), its stdout (last line), the load around it."""

    label: str
    wall_s: float
    code: int
    rss_mb: float
    last_line: str
    tree_rss_mb: float = 0.0
    tree_pss_mb: float = 0.0
    load: str = ""
    cpu_s: float = 0.0


def _mem_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB; PSS shares each shared page among its users."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, pss


def _children(pid: int) -> list[int]:
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids += [int(k) for k in fh.read().split()]
    except OSError:
        pass
    return kids


class TreeRss:
    """Samples the summed RSS and PSS of a process and its descendants (Linux /proc) every
    50 ms. RSS counts a page shared by forked workers in each of them; PSS splits it."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kib, self.peak_pss_kib = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            todo, rss, pss = [self.pid], 0, 0
            while todo:
                pid = todo.pop()
                r, p = _mem_kib(pid)
                rss, pss = rss + r, pss + p
                todo += _children(pid)
            self.peak_kib = max(self.peak_kib, rss)
            self.peak_pss_kib = max(self.peak_pss_kib, pss)

    def stop(self) -> tuple[float, float]:
        """(peak summed RSS, peak summed PSS) in MB."""
        self._stop.set()
        self._thread.join()
        return self.peak_kib / 1024, self.peak_pss_kib / 1024


def _pin(cores: int) -> None:
    """Restrict this (child) process to the first `cores` CPUs it may use."""
    if cores and hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) > cores:
            os.sched_setaffinity(0, allowed[:cores])


def measure(
    label: str, argv: list[str], log_dir: Path, cores: int, env: dict[str, str] | None = None
) -> Measured:
    """Run `argv` to completion; its wall time, peak RSS (wait4's rusage: the largest process)
    and the sampled peak of its process tree's summed RSS."""
    stem = label.replace(" ", "_").replace("/", "_")
    out_path, err_path = log_dir / f"{stem}.out", log_dir / f"{stem}.err"
    env = {
        **os.environ,
        "TRACELAB_CACHE_DIR": str(log_dir / "cache"),
        "COLUMNS": "160",
        **(env or {}),
    }
    load_before = load_note(short=True)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, env=env, preexec_fn=lambda: _pin(cores)
        )
        tree = TreeRss(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        tree_mb, tree_pss_mb = tree.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen
    kib = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss
    lines = out_path.read_text(errors="replace").strip().splitlines()
    load = f"load {load_before} → {load_note(short=True)}"
    last = lines[-1] if lines else ""
    m = Measured(label, wall, proc.returncode, kib / 1024, last, tree_mb, tree_pss_mb, load)
    m.cpu_s = usage.ru_utime + usage.ru_stime  # the child and every process it waited for
    status_text = "ok" if m.code == 0 else f"exit {m.code} (see {err_path})"
    print(
        f"  {label:<30} {wall:7.2f} s (CPU {m.cpu_s:6.2f} s)  peak RSS {m.rss_mb:5.0f} MB "
        f"(all processes: RSS {tree_mb:5.0f} MB, PSS {tree_pss_mb:5.0f} MB)  "
        f"{load}  {status_text}",
        flush=True,
    )
    return m


def load_note(short: bool = False) -> str:
    """The 1-minute load average: other work on the machine inflates every time measured."""
    if not hasattr(os, "getloadavg"):
        return "?" if short else "load average unknown"
    load = os.getloadavg()[0]
    if short:
        return f"{load:.1f}"
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


def _without_times(html: Path) -> int:
    """A hash of a report without its "generated" times."""
    import re

    return hash(re.sub(rb"\d{4}-\d\d-\d\d \d\d:\d\d UTC", b"", html.read_bytes()))


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
    prep_steps, prep_steps_json = python(
        "prepare step tables only", PREPARE_SNIPPET, db, Path("steps")
    )
    pricing, pricing_json = python("pricing (prepare_costs)", PRICING_SNIPPET, db)
    tables_out, full_out = workdir / "out-tables", workdir / "out-full"
    serial_out = workdir / "out-serial"
    for out in (tables_out, full_out, serial_out):
        shutil.rmtree(out, ignore_errors=True)
    html, serial_html, from_html = (
        workdir / "report.html",
        workdir / "report-serial.html",
        workdir / "report-from.html",
    )
    tables = cli("analyze --no-figures", "analyze", "--db", db, "--no-figures", "-o", tables_out)
    full = cli(
        "analyze --report (one run)", "analyze", "--db", db, "-o", full_out, "--report", html
    )
    serial = measure(
        "same, figures in-process",
        tracelab_argv(
            *map(str, ("analyze", "--db", db, "-o", serial_out, "--report", serial_html))
        ),
        logs,
        cores,
        env={"TRACELAB_FIGURE_WORKERS": "0"},
    )
    from_dir = cli("report --from OUT", "report", "--from", full_out, "-o", from_html)
    same = (
        html.is_file() and from_html.is_file() and _without_times(html) == _without_times(from_html)
    )
    print(f"  report --from OUT is the report of analyze --report (times aside): {same}")

    base_s = base_json.get("seconds")

    def row(what: str, m_or_s: Measured | float, target: float | None = None) -> tuple:
        seconds = m_or_s.wall_s if isinstance(m_or_s, Measured) else m_or_s
        return (what, seconds, "s", target, seconds / base_s if base_s else None)

    def rss(what: str, m: Measured, target: float = TARGET_RSS_MB) -> tuple:
        return (f"peak RSS: {what}", m.rss_mb, "MB", target, None)

    nan = float("nan")
    ok = print_summary(
        [
            row("DB build (build_db)", built["seconds"], TARGET_BUILD_S),
            row("baseline: read_json count(*)", base_s or nan),
            row("prepare metric tables (every table)", prep_json.get("seconds", nan)),
            row("  of which pricing (prepare_costs)", pricing_json.get("seconds", nan)),
            row("prepare, step tables only", prep_steps_json.get("seconds", nan)),
            row("analyze --no-figures (all tables)", tables, TARGET_TABLES_S),
            (
                "pricing / analyze --no-figures",
                pricing_json.get("seconds", nan) / tables.wall_s * 100,
                "%",
                TARGET_PRICING_SHARE * 100,
                None,
            ),
            row("analyze --report: tables+figures+report", full, TARGET_ALL_S),
            row("  same, figures drawn in-process", serial),
            ("analyze --report: CPU time, all processes", full.cpu_s, "s", None, None),
            ("  same, figures drawn in-process", serial.cpu_s, "s", None, None),
            row("report --from OUT (render only)", from_dir),
            rss("build", build),
            rss("analyze --no-figures", tables),
            rss("analyze --report, largest process", full, TARGET_ALL_RSS_MB),
            ("all its processes: summed PSS", full.tree_pss_mb, "MB", TARGET_ALL_RSS_MB, None),
            ("all its processes: summed RSS (†)", full.tree_rss_mb, "MB", None, None),
            rss("same, figures in-process", serial, TARGET_ALL_RSS_MB),
            rss("report --from", from_dir),
        ]
    )
    print(
        "(†) RSS counts the pages a forked worker shares with its parent (libraries, modules) "
        "in each process; PSS splits them: the memory the run really takes."
    )
    if serial.wall_s and full.wall_s:
        print(
            f"drawing in 2 worker processes: {serial.wall_s / full.wall_s:.2f}× faster "
            "than in-process (same outputs)"
        )
    tables_run, full_run = load_run(tables_out), load_run(full_out)
    print_experiments(experiment_rows(tables_run, full_run))
    print(
        "outside the experiments (start-up, opening the trace, preparing the metric tables, "
        f"index): {tables.wall_s - inside_s(tables_run):.2f} s of the --no-figures run; "
        "in the --report run, plot times are the workers' (they overlap the main process)"
    )
    failed = failures(tables_run, full_run)
    for line in failed:
        print(f"FAILED {line}")
    runs = (base, prep, prep_steps, pricing, tables, full, serial, from_dir)
    exits = {m.label: m.code for m in runs if m.code != 0}
    if exits:
        print(f"non-zero exits: {exits} (stderr in {logs})")
    print(f"after the runs: {load_note()}")
    return 0 if ok and not failed and not exits else 1


# --- --before: the same work on an older checkout ------------------------------------------


def _checkout_python(checkout: Path) -> Path:
    python = checkout / ".venv" / "bin" / "python"
    if not python.is_file():
        sys.exit(f"--before: {python} not found (run `uv sync` in {checkout})")
    return python


def _describe(checkout: Path) -> str:
    """The checkout's commit (short hash and subject), for the printout."""
    done = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()[:80] or "?"


def compare_before(workdir: Path, before: Path, reps: int, cores: int) -> int:
    """Build + `analyze --no-figures` on the experiments both have, this checkout vs `before`,
    alternating; prints each run and the medians' ratios. Exit 1 when a ratio exceeds
    `TARGET_VS_BEFORE` or a run failed."""
    import statistics

    src = workdir / "trace.jsonl"
    logs = workdir / "logs-before"
    logs.mkdir(parents=True, exist_ok=True)
    env = {"PYTHONPATH": ""}  # each side imports its own tracelab only
    sides = {"before": _checkout_python(before), "now": Path(sys.executable)}
    ids = {}
    for side, python in sides.items():
        done = subprocess.run(
            [str(python), "-c", IDS_SNIPPET], capture_output=True, env={**os.environ, **env}
        )
        if done.returncode != 0:
            sys.exit(f"--before: cannot list the {side} experiments: {done.stderr.decode()[-300:]}")
        ids[side] = orjson.loads(done.stdout.splitlines()[-1])
    common = [i for i in ids["now"] if i in set(ids["before"])]
    print(f"before: {before} ({_describe(before)})")
    print(f"now:    {Path(__file__).resolve().parents[1]} ({_describe(Path(__file__).parent)})")
    print(
        f"{len(common)} experiments both have (before {len(ids['before'])}, now "
        f"{len(ids['now'])}); {reps} alternating runs each, on {cores or 'all'} cores, "
        f"{load_note()}"
    )
    only = [arg for exp_id in common for arg in ("--only", exp_id)]
    runs: dict[tuple[str, str], list[Measured]] = {}
    failed = False
    for rep in range(reps):
        for stage in ("build", "analyze --no-figures"):
            for side, python in sides.items():
                db = workdir / f"{side}.duckdb"
                label = f"{side} {stage} #{rep + 1}"
                if stage == "build":
                    argv = [str(python), "-c", BUILD_SNIPPET, str(src), str(db)]
                else:
                    out = workdir / f"out-{side}"
                    shutil.rmtree(out, ignore_errors=True)
                    cli = [str(python), "-c", "from tracelab.cli import app; app()"]
                    argv = [*cli, "analyze", "--db", str(db), "--no-figures", *only, "-o", str(out)]
                m = measure(label, argv, logs, cores, env=env)
                if stage == "build" and m.code == 0:
                    m.wall_s = orjson.loads(m.last_line)["seconds"]  # build_db's own time
                failed |= m.code != 0
                runs.setdefault((stage, side), []).append(m)
    print()
    print(f"{'median of ' + str(reps):<24} {'before':>16} {'now':>16} {'now ÷ before':>14}")
    ok = not failed
    for stage in ("build", "analyze --no-figures"):
        before_runs, now_runs = runs[(stage, "before")], runs[(stage, "now")]
        cells = []
        for what, get in (("wall", lambda m: m.wall_s), ("CPU", lambda m: m.cpu_s)):
            b = statistics.median(get(m) for m in before_runs)
            n = statistics.median(get(m) for m in now_runs)
            ratio = n / b if b else float("nan")
            verdict = ""
            if what == "wall":
                passed = ratio <= TARGET_VS_BEFORE
                ok &= passed
                verdict = f"  {'PASS' if passed else 'FAIL'} (≤ {TARGET_VS_BEFORE:.2f})"
            cells.append(
                f"{stage + ' ' + what:<24} {b:14.2f} s {n:14.2f} s {ratio:13.2f}×{verdict}"
            )
        print("\n".join(cells))
    print(f"after the runs: {load_note()}")
    return 0 if ok else 1


def _before_mode(args: argparse.Namespace) -> int:
    """`--before`: on a reused trace, or a new one (kept in --keep DIR, else a temp folder)."""
    if args.reuse:
        if not (args.reuse / "trace.jsonl").is_file():
            sys.exit(f"--reuse: {args.reuse / 'trace.jsonl'} does not exist")
        return compare_before(args.reuse, args.before, args.reps, args.cores)
    with tempfile.TemporaryDirectory(prefix="analyze-bench-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        write_trace(workdir / "trace.jsonl", args.n)
        return compare_before(workdir, args.before, args.reps, args.cores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=357_000, help="synthetic steps (default 357,000)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--keep", type=Path, help="work in DIR and keep everything there")
    where.add_argument("--reuse", type=Path, help="reuse DIR/trace.jsonl (skip generation)")
    parser.add_argument("--cores", type=int, default=2, help="CPUs for the children (0: all)")
    parser.add_argument(
        "--before",
        type=Path,
        help="an older checkout (with its own .venv): compare build + analyze --no-figures",
    )
    parser.add_argument("--reps", type=int, default=3, help="--before: runs of each side")
    args = parser.parse_args()
    if args.before:
        sys.exit(_before_mode(args))
    if args.reuse or args.keep:
        workdir = args.reuse or args.keep
        workdir.mkdir(parents=True, exist_ok=True)
        sys.exit(run(workdir, args.n, bool(args.reuse), args.cores))
    with tempfile.TemporaryDirectory(prefix="analyze-bench-") as tmp:
        code = run(Path(tmp), args.n, False, args.cores)
    sys.exit(code)


if __name__ == "__main__":
    main()
