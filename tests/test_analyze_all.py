"""Every experiment end to end on a synthetic trace: the CLI, the files, the figures' PNGs."""

from __future__ import annotations

import csv
import io
import struct

import orjson
import pytest
from typer.testing import CliRunner

from tracelab.cli import app
from tracelab.collect import collect
from tracelab.experiments.registry import all_experiments
from tracelab.experiments.writers import PNG_KEYS, table_csv
from tracelab.figures.pngmeta import extract
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
    con = open_db(resolve_trace(None, trace).db)
    runs = run_experiments(con, all_experiments(), out=out)
    con.close()
    return trace, out, runs


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_analyze_runs_every_experiment(analyzed):
    _, out, _ = analyzed
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


def test_every_png_embeds_its_readme_data_and_version(analyzed):
    _, out, _ = analyzed
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
    _, out, runs = analyzed
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
    _, out, _ = analyzed
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
    trace, _, _ = analyzed
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
