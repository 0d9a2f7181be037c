"""Every experiment end to end on a synthetic trace: the CLI, the files, the figures' PNGs."""

from __future__ import annotations

import csv
import io
import re
import shutil
import struct

import orjson
import pytest
from typer.testing import CliRunner

from tracelab.cli import app
from tracelab.collect import collect
from tracelab.experiments.registry import all_experiments
from tracelab.experiments.writers import PNG_KEYS, table_csv
from tracelab.figures.pngmeta import extract
from tracelab.report import render_report, report_from_trace
from tracelab.reportdata import load_analysis, save_extras
from tracelab.sources.discover import home_for
from tracelab.synth import generate_home

runner = CliRunner()


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory):
    """A synthetic trace analyzed once: (trace path, output folder, the runs)."""
    from tracelab.experiments.runner import run_experiments
    from tracelab.tracedb import open_db
    from tracelab.traceinput import resolve_trace

    base = tmp_path_factory.mktemp("analyze")
    home = base / "home"
    generate_home(home, sessions=30, seed=3)
    trace = base / "trace.jsonl.gz"
    collect([home_for(home)], trace, cache=False)
    out = base / "out"
    db = resolve_trace(None, trace).db
    con = open_db(db)
    runs = run_experiments(con, all_experiments(), out=out)
    data = report_from_trace(con, runs)
    save_extras(out, data)
    con.close()
    return trace, out, runs, data, db


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_analyze_runs_every_experiment(analyzed):
    _, out, _, _, _ = analyzed
    run = orjson.loads((out / "run.json").read_bytes())
    ids = [e["id"] for e in run["experiments"]]
    assert ids == [e.id for e in all_experiments()]
    assert all(e["ok"] for e in run["experiments"]), [e for e in run["experiments"] if not e["ok"]]
    index = (out / "index.md").read_text()
    for exp in all_experiments():
        folder = out / exp.category / exp.name
        readme = (folder / "README.md").read_text()
        assert exp.question in readme and "## Result" in readme
        assert f"]({exp.category}/{exp.name}/README.md)" in index
        for md in folder.glob("*.md"):
            if md.name != "README.md":
                stem = md.stem
                assert (folder / f"{stem}.csv").is_file() and (folder / f"{stem}.json").is_file()


def test_the_reference_extras_run_end_to_end(analyzed):
    """The timeout schematic is drawn, and the approval audit runs: the synthetic trace is a
    private one whose raw Codex logs are still at hand."""
    _, out, runs, _, _ = analyzed
    ran = {r.experiment.id: r for r in runs}
    folder = out / "prefix_cache" / "timeout_miss_pattern"
    assert (folder / "timeout_miss_steps.csv").is_file()
    assert (folder / "timeout_miss_pattern.png").is_file()
    assert (folder / "timeout_miss_pattern.plotly.json").is_file()
    gap = ran["tool_calls/codex_wall_internal_gap"].result
    by_class = gap.table("codex_approval_by_class").records()
    assert by_class and "Approval audit of" in gap.text
    # the synthetic writer gives no call a sandbox_permissions argument; its apply_patch is a
    # custom_tool_call, which has no function_call record
    assert {r["class"] for r in by_class} <= {"no_escalation_arg", "raw_missing"}
    assert all(r["class"] == "raw_missing" for r in by_class if r["tool"] == "apply_patch")
    assert (
        out / "tool_calls" / "codex_wall_internal_gap" / "codex_approval_by_class.csv"
    ).is_file()


def test_every_png_embeds_its_readme_data_and_version(analyzed):
    _, out, _, _, _ = analyzed
    pngs = sorted(out.rglob("*.png"))
    assert pngs, "no experiment drew a figure"
    for png_path in pngs:
        png = png_path.read_bytes()
        width, height = _png_size(png)
        assert width >= 300 and height >= 200, png_path
        texts = extract(png)
        assert texts[PNG_KEYS["readme"]] == (png_path.parent / "README.md").read_text()
        assert texts[PNG_KEYS["version"]].startswith("tracelab ")
        embedded = texts[PNG_KEYS["data"]]
        assert embedded == png_path.with_suffix(".csv").read_text(), png_path
        assert next(csv.reader(io.StringIO(embedded))), png_path  # a header at least
        assert png_path.with_suffix(".svg").read_bytes().lstrip().startswith(b"<?xml")


def test_embedded_csv_round_trips_to_the_figure_table(analyzed):
    """The PNG's CSV parses back to exactly the figure's data table."""
    _, out, runs, _, _ = analyzed
    checked = 0
    for run in runs:
        for fig in run.figures:
            png = out / run.experiment.category / run.experiment.name / f"{fig.name}.png"
            embedded = extract(png.read_bytes())[PNG_KEYS["data"]]
            assert embedded == table_csv(fig.data)
            parsed = list(csv.reader(io.StringIO(embedded)))
            assert parsed[0] == fig.data.columns
            expected = [["" if v is None else str(v) for v in row] for row in fig.data.rows]
            assert parsed[1:] == expected, fig.name
            checked += 1
    assert checked == len(list(out.rglob("*.png")))


def test_figure_extract_command(analyzed, tmp_path):
    _, out, _, _, _ = analyzed
    png = sorted(out.rglob("*.png"))[0]
    listed = runner.invoke(app, ["figure", "extract", str(png)])
    assert listed.exit_code == 0 and "README.md" in listed.output and "data.csv" in listed.output
    got = runner.invoke(app, ["figure", "extract", str(png), "-o", str(tmp_path / "x")])
    assert got.exit_code == 0, got.output
    assert (tmp_path / "x" / "data.csv").read_text() == png.with_suffix(".csv").read_text()
    assert (tmp_path / "x" / "README.md").read_text() == (png.parent / "README.md").read_text()
    not_png = tmp_path / "x" / "data.csv"
    bad = runner.invoke(app, ["figure", "extract", str(not_png)])
    assert bad.exit_code == 2 and "not a PNG" in bad.output


def test_analyze_list_and_only(analyzed, tmp_path):
    trace, _, _, _, _ = analyzed
    listed = runner.invoke(app, ["analyze", "--list"])
    assert listed.exit_code == 0 and "trace_facts/overview" in listed.output
    got = runner.invoke(
        app,
        [
            "analyze",
            "-i",
            str(trace),
            "-o",
            str(tmp_path / "o"),
            "--only",
            "overview",
            "--only",
            "tool_calls",
        ],
    )
    assert got.exit_code == 0, got.output
    assert "experiments written to" in got.output
    assert (tmp_path / "o" / "tool_calls" / "tool_popularity" / "README.md").is_file()
    assert (tmp_path / "o" / "trace_facts" / "overview" / "table1_overview.tex").is_file()
    assert not (tmp_path / "o" / "session").exists()
    bad = runner.invoke(app, ["analyze", "-i", str(trace), "--only", "nope"])
    assert bad.exit_code == 2 and "no experiment" in bad.output


def test_trace_input_errors_are_clear(tmp_path):
    none = runner.invoke(app, ["analyze", "-o", str(tmp_path / "o")])
    assert none.exit_code == 2 and "no trace given" in none.output
    missing = runner.invoke(app, ["summary", "-i", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"this is not a database")
    bad = runner.invoke(app, ["analyze", "--db", str(junk), "-o", str(tmp_path / "o")])
    assert bad.exit_code == 2 and "not a DuckDB database" in bad.output


def test_a_database_without_trace_tables_is_named_clearly(tmp_path):
    import duckdb

    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE rounds AS SELECT 1 AS x")
    con.close()
    got = runner.invoke(app, ["summary", "--db", str(other)])
    assert got.exit_code == 2
    assert "not a TraceLab trace database" in got.output and "tool_calls" in got.output


# --- one computation: analyze --report, report --from, figures drawn by worker processes -----

STAMP = "2026-01-01 00:00 UTC"  # the report's "generated" time, fixed to compare two reports


def _files(folder):
    """Every file of an analyze folder by relative path, run.json aside (its timings vary)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


def test_report_from_the_folder_equals_the_computed_report(analyzed):
    _, out, _, computed, _ = analyzed
    loaded = load_analysis(out)
    assert [r.experiment.id for r in loaded.runs] == [r.experiment.id for r in computed.runs]
    # figures come back with their PNG exactly as rendered (embedded texts stripped again)
    for got, want in zip(loaded.runs, computed.runs, strict=True):
        assert {k: v[0] for k, v in got.rendered.items()} == {
            k: v[0] for k, v in want.rendered.items()
        }, got.experiment.id
    assert render_report(loaded, STAMP) == render_report(computed, STAMP)


def test_figures_drawn_by_workers_are_byte_for_byte_those_drawn_here(analyzed):
    from tracelab.experiments.drawing import FigurePool, draw

    _, _, runs, _, _ = analyzed
    drawn = [r for r in runs if r.figures]
    with FigurePool(2) as pool:
        futures = [pool.submit(r.experiment, r.result) for r in drawn]
        assert all(f is not None for f in futures)
        remote = [f.result() for f in futures]
    for run, there in zip(drawn, remote, strict=True):
        here = draw(run.experiment, run.result)  # the same Result, drawn in this process
        assert there.error is None and here.error is None
        assert there.rendered == here.rendered, run.experiment.id
        assert [f.interactive for f in there.figures] == [
            f.interactive_json() for f in here.figures
        ]
        assert [(f.name, f.title, f.caption, f.data) for f in there.figures] == [
            (f.name, f.title, f.caption, f.data) for f in here.figures
        ]


def test_analyze_report_in_one_run_with_figure_workers(analyzed, tmp_path, monkeypatch):
    """`analyze --report` with 2 drawing processes writes every file of the in-process run,
    and `report --from` that folder writes the same report (times aside)."""
    _, out, _, _, db = analyzed
    monkeypatch.setenv("TRACELAB_FIGURE_WORKERS", "2")
    folder, html = tmp_path / "o", tmp_path / "r.html"
    got = runner.invoke(app, ["analyze", "--db", str(db), "-o", str(folder), "--report", str(html)])
    assert got.exit_code == 0, got.output
    assert "Report:" in got.output
    # (contents are compared above and below: DuckDB's parallel float sums may differ in the
    # last bit between two computations, so two runs are compared by their files' names)
    assert _files(folder).keys() == _files(out).keys()
    run = orjson.loads((folder / "run.json").read_bytes())
    assert sum(e["figures"] for e in run["experiments"]) == len(list(out.rglob("*.png")))
    again = tmp_path / "again.html"
    got = runner.invoke(app, ["report", "--from", str(folder), "-o", str(again), "--db", str(db)])
    assert got.exit_code == 0, got.output
    generated = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
    first, second = html.read_text(), again.read_text()
    assert len(generated.findall(first)) == 2  # the header and the footer
    assert generated.sub("", first) == generated.sub("", second)


def test_report_from_refuses_what_it_cannot_render(analyzed, tmp_path):
    _, out, _, _, _ = analyzed

    def report_from(folder, *extra):
        got = runner.invoke(
            app, ["report", "--from", str(folder), "-o", str(tmp_path / "r.html"), *extra]
        )
        assert got.exit_code == 2, got.output
        assert len(got.output.strip().splitlines()) == 1, got.output  # one line
        return got.output

    assert "no such folder" in report_from(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a tracelab analyze output folder" in report_from(empty)

    def copy(name):
        folder = tmp_path / name
        shutil.copytree(out, folder)
        return folder

    old = copy("old")
    doc = orjson.loads((old / "run.json").read_bytes())
    doc["stamp"]["code"] = "0.0.1+0123456789abcdef"
    (old / "run.json").write_bytes(orjson.dumps(doc))
    assert "written by another TraceLab version" in report_from(old)

    mixed = copy("mixed")  # one experiment folder left over from a run on another trace
    exp = mixed / "session" / "loop_counts" / "experiment.json"
    doc = orjson.loads(exp.read_bytes())
    doc["stamp"]["trace"]["rows"] = "1"
    exp.write_bytes(orjson.dumps(doc))
    assert "session/loop_counts was computed from another trace" in report_from(mixed)

    gone = copy("gone")  # an experiment of run.json without its folder
    shutil.rmtree(gone / "tool_calls" / "tool_latency")
    assert "tool_calls/tool_latency: experiment.json is missing" in report_from(gone)

    damaged = copy("damaged")  # valid JSON of the wrong shape
    doc = orjson.loads((damaged / "overview.json").read_bytes())
    doc["tables"] = [{"name": "x"}]
    (damaged / "overview.json").write_bytes(orjson.dumps(doc))
    assert "damaged analyze output (KeyError" in report_from(damaged)

    other = tmp_path / "other.jsonl"
    from tracebuilder import step
    from tracelab.io import write_rows

    write_rows([step("s", 0, append=10, output=1, first="user_message")], other)
    assert "computed from another trace" in report_from(out, "-i", str(other))
    assert not (tmp_path / "r.html").exists()
