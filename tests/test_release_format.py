"""The public release's format, both ways (spec `public-dataset.md`, issue 12 item 3).

Read: every trace-reading command takes the release's DuckDB (with and without
`timing_events.event_index`) and its JSONL.gz unchanged, and gives the same answers for all
three. Write: `db build` writes the release's tables, column names, order and types, so plain
SQL written for the release runs on a database built here.

Expected counts come from the fixture's JSONL read with the standard library (one row per
step, `tools[]` per call, `timing_events[]` per event), never from TraceLab.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from conftest import FIXTURES
from tracelab.cli import app
from tracelab.dblayout import EXTRA_PREFIX
from tracelab.io import write_rows
from tracelab.metrics.steps import prepare
from tracelab.schema import ROW_FIELDS
from tracelab.tracedb import build_db, open_db
from tracelab.validate import run_checks

PUBLIC = FIXTURES / "public-dataset"
RELEASE_DB = PUBLIC / "public-schema.duckdb"
RELEASE_DB_OLD = PUBLIC / "public-schema-no-event-index.duckdb"
RELEASE_JSONL = PUBLIC / "public-trace.jsonl.gz"
RELEASE_TABLES = ("rounds", "tool_calls", "timing_events", "trace_source")

needs_release = pytest.mark.skipif(
    not PUBLIC.is_dir(), reason="../shared/fixtures/public-dataset is absent"
)

#: The three release fixtures as trace options of a command.
INPUTS = {
    "duckdb": ["--db", str(RELEASE_DB)],
    "duckdb-no-event-index": ["--db", str(RELEASE_DB_OLD)],
    "jsonl.gz": ["-i", str(RELEASE_JSONL)],
}


def _release_rows() -> list[dict]:
    with gzip.open(RELEASE_JSONL, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _describe(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()]


def _invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.output


# --- write: db build has the release's layout ------------------------------------------------


@needs_release
def test_db_build_writes_the_release_layout_and_values(tmp_path: Path) -> None:
    db = tmp_path / "ours.duckdb"
    build_db(RELEASE_JSONL, db)
    ref = duckdb.connect(str(RELEASE_DB), read_only=True)
    ours = duckdb.connect(str(db), read_only=True)  # the file itself, no canonical views
    try:
        assert (
            ours.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0]
            == ref.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0]
        )
        for table in RELEASE_TABLES:
            want, have = _describe(ref, table), _describe(ours, table)
            assert have[: len(want)] == want, table  # names, order and types exactly
            comments = dict(
                ours.execute(
                    "SELECT column_name, comment FROM duckdb_columns() "
                    "WHERE table_name = ? AND database_name = current_database()",
                    [table],
                ).fetchall()
            )
            for name, _ in have[len(want) :]:  # our extras: schema fields or tl_, described
                assert name in ROW_FIELDS or name.startswith(EXTRA_PREFIX), (table, name)
                assert comments[name].startswith("TraceLab extra"), (table, name)
        # Same values in every release column, row for row.
        for table, order in (
            ("rounds", "round_pk"),
            ("tool_calls", "round_pk, tool_index"),
            ("timing_events", "round_pk, event_index"),
        ):
            cols = ", ".join(f'"{n}"' for n, _ in _describe(ref, table))
            sql = f"SELECT {cols} FROM {table} ORDER BY {order}"
            assert ours.execute(sql).fetchall() == ref.execute(sql).fetchall(), table
        # trace_source names the file (only its name: no local directories).
        assert ours.execute("SELECT path FROM trace_source").fetchall() == [(RELEASE_JSONL.name,)]
    finally:
        ref.close()
        ours.close()


def _small_trace(turn_ids: list[str | None]) -> list[dict]:
    """Two steps of one Codex session, with a tool call and three events."""
    rows = []
    for i, turn in enumerate(turn_ids):
        rows.append(
            {
                "provider": "codex",
                "session_id": "codex:s1",
                "round_index": i,
                "round_id": f"r{i}",
                "turn_id": turn,
                "model": "gpt-5",
                "user": "u1",
                "trace_key": f"codex:codex:s1:r{i}",
                "first_input_event_type": "user_message",
                "timing_events": [
                    {"event_type": "user_message", "timestamp": f"2026-01-0{i + 1}T10:00:00Z"},
                    {
                        "event_type": "tool_call",
                        "timestamp": f"2026-01-0{i + 1}T10:00:02+02:00",  # 08:00:02 UTC
                        "tool_call_id": f"c{i}",
                    },
                    {"event_type": "text", "timestamp": f"2026-01-0{i + 1}T10:00:03Z"},
                ],
                "tools": [
                    {
                        "tool_index": 0,
                        "tool_name": "exec",
                        "tool_call_id": f"c{i}",
                        "emitted_at": f"2026-01-0{i + 1}T10:00:02Z",
                    }
                ],
            }
        )
    return rows


def test_a_release_reader_runs_on_a_built_database(tmp_path: Path) -> None:
    """Plain SQL written for the release (joins on round_pk, unqualified step columns, order by
    event_index) works on our build: no extra column collides across the tables."""
    uuid = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    src, db = tmp_path / "t.jsonl", tmp_path / "t.duckdb"
    write_rows(_small_trace([uuid, None]), src)
    build_db(src, db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        events = con.execute(
            "SELECT round_pk, event_index, session_id, provider, model, event_type, timestamp "
            "FROM timing_events JOIN rounds USING (round_pk) ORDER BY round_pk, event_index"
        ).fetchall()
        assert [e[:2] for e in events] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
        assert {e[2:5] for e in events} == {("codex:s1", "codex", "gpt-5")}
        # Naive TIMESTAMP holding UTC: "10:00:02+02:00" is stored as 08:00:02.
        assert str(events[1][6]) == "2026-01-01 08:00:02"
        calls = con.execute(
            'SELECT r.round_pk, ingest_seq, "user", tool_name, emitted_at FROM tool_calls '
            "JOIN rounds r USING (round_pk) ORDER BY round_pk, tool_index"
        ).fetchall()
        assert [c[:4] for c in calls] == [(1, 1, "u1", "exec"), (2, 2, "u1", "exec")]
        kinds = dict(_describe(con, "rounds"))
        assert (kinds["turn_id"], kinds["round_pk"], kinds["ingest_seq"]) == (
            "UUID",
            "BIGINT",
            "BIGINT",
        )
        assert dict(_describe(con, "timing_events"))["timestamp"] == "TIMESTAMP"
        assert str(con.execute("SELECT turn_id FROM rounds WHERE round_pk = 1").fetchone()[0]) == (
            uuid
        )
    finally:
        con.close()


def test_turn_ids_that_are_not_uuids_stay_text(tmp_path: Path) -> None:
    """A UUID column would null our own pseudonyms (`turn_…`): the column is then VARCHAR."""
    src, db = tmp_path / "t.jsonl", tmp_path / "t.duckdb"
    write_rows(_small_trace(["turn_0a1b2c", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"]), src)
    build_db(src, db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert dict(_describe(con, "rounds"))["turn_id"] == "VARCHAR"
    with open_db(db) as con:
        got = con.execute("SELECT turn_id FROM rounds ORDER BY round_pk").fetchall()
    assert got == [("turn_0a1b2c",), ("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",)]


# --- read: the canonical shape is the same for every variant ---------------------------------


def _canonical(path: Path) -> dict[str, tuple[list, list]]:
    with open_db(path) as con:
        out = {}
        for table, order in (
            ("rounds", "round_pk"),
            ("tool_calls", "round_pk, tool_pos"),
            ("timing_events", "round_pk, event_pos"),
        ):
            rows = con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            out[table] = (_describe(con, table), rows)
        return out


@needs_release
def test_every_variant_reads_as_the_same_canonical_tables(tmp_path: Path) -> None:
    built = tmp_path / "ours.duckdb"
    build_db(RELEASE_JSONL, built)
    release, old, ours = _canonical(RELEASE_DB), _canonical(RELEASE_DB_OLD), _canonical(built)
    assert release == old == ours
    rows = _release_rows()
    assert len(ours["rounds"][1]) == len(rows)
    assert len(ours["tool_calls"][1]) == sum(len(r["tools"]) for r in rows)
    assert len(ours["timing_events"][1]) == sum(len(r["timing_events"]) for r in rows)


@needs_release
def test_without_event_index_the_row_order_is_the_list_order() -> None:
    """The first release has no event_index: positions come from the table's row order within
    a step, which is the JSONL's list order (checked against the file, event by event)."""
    want = [
        (pk, pos, e["event_type"], e.get("tool_call_id"))
        for pk, row in enumerate(_release_rows(), 1)
        for pos, e in enumerate(row["timing_events"])
    ]
    with open_db(RELEASE_DB_OLD) as con:
        got = con.execute(
            "SELECT round_pk, event_pos, event_type, tool_call_id FROM timing_events "
            "ORDER BY round_pk, event_pos"
        ).fetchall()
    assert got == want


@needs_release
def test_reading_never_modifies_the_database(tmp_path: Path) -> None:
    copy_ = tmp_path / "release.duckdb"
    shutil.copyfile(RELEASE_DB_OLD, copy_)
    before = hashlib.sha256(copy_.read_bytes()).hexdigest()
    with open_db(copy_) as con:
        prepare(con)
        assert run_checks(con).ok
    assert hashlib.sha256(copy_.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release.duckdb"]  # no WAL either


# --- every trace-reading command, on the three fixtures ---------------------------------------


@needs_release
def test_summary_is_the_same_for_the_three_files() -> None:
    rows = _release_rows()
    by_provider = Counter(r["provider"] for r in rows)
    docs = {}
    for name, option in INPUTS.items():
        code, out = _invoke(["summary", *option, "--json"])
        assert code == 0, (name, out)
        docs[name] = json.loads(out)
    for doc in docs.values():
        total = doc["headline"]["total"]
        assert total["steps"] == len(rows) == 149
        assert total["tool_calls"] == sum(len(r["tools"]) for r in rows) == 208
        assert total["sessions"] == len({r["session_id"] for r in rows}) == 8
        assert {p: doc["headline"][p]["steps"] for p in by_provider} == by_provider
    bodies = [{k: v for k, v in doc.items() if k != "trace"} for doc in docs.values()]
    assert bodies[0] == bodies[1] == bodies[2]
    # The release databases have no meta table: their trace_source names the file.
    assert docs["duckdb"]["trace"]["source_file"] == "syfi_coding_trace.jsonl"


@needs_release
def test_validate_passes_on_the_three_files() -> None:
    results = {}
    for name, option in INPUTS.items():
        code, out = _invoke(["validate", *option, "--json"])
        assert code == 0, (name, out)
        doc = json.loads(out)
        assert doc["ok"] is True
        checks = doc["checks"]
        results[name] = [(c["id"], c["status"], c["count"], c["denominator"]) for c in checks]
    assert results["duckdb"] == results["duckdb-no-event-index"] == results["jsonl.gz"]
    # Denominators count the file: every step is checked for negative tokens.
    assert dict((c[0], c[3]) for c in results["duckdb"])["tokens.negative"] == 149


@needs_release
def test_analyze_exports_and_fit_on_the_three_files(tmp_path: Path) -> None:
    outputs: dict[str, dict[str, bytes]] = {}
    for name, option in INPUTS.items():
        out = tmp_path / name
        out.mkdir()
        files = {
            "replay.csv": ["export", "replay-csv"],
            "mooncake.jsonl": ["export", "mooncake"],
            "vllm.json": ["export", "vllm-multiturn"],
            "profile.json": None,
        }
        got = {}
        for file, command in files.items():
            if command is None:  # synth fit takes the trace as an argument
                args = ["synth", "fit", option[1], "-o", str(out / file)]
            else:
                args = [*command, *option, "-o", str(out / file)]
            code, text = _invoke(args)
            assert code == 0, (name, file, text)
            got[file] = (out / file).read_bytes()
        code, text = _invoke(
            [
                "analyze",
                *option,
                "-o",
                str(out / "analysis"),
                "--no-figures",
                "--only",
                "trace_facts/overview",
                "--only",
                "session/context_growth",
                "--only",
                "tool_calls",
                "--only",
                "prefix_cache/kv_cache_active_ratio",
                "--only",
                "session/duration_cdfs",
            ]
        )
        assert code == 0, (name, text)
        csvs = sorted((out / "analysis").rglob("*.csv"))
        assert csvs, name
        got.update({str(p.relative_to(out)): p.read_bytes() for p in csvs})
        outputs[name] = got
    rows = _release_rows()
    first = outputs["duckdb"]
    assert len(first["replay.csv"].decode().strip().splitlines()) == len(rows) + 1  # + header
    assert len(first["mooncake.jsonl"].decode().strip().splitlines()) == len(rows)
    assert outputs["duckdb-no-event-index"] == first
    assert outputs["jsonl.gz"] == first


@needs_release
def test_duplicated_release_rows_are_kept_and_warned(tmp_path: Path) -> None:
    """A release file with repeated steps (the real one has ~8.9k repeated round_ids): every
    row is kept, `validate` warns with counts and exits 0, and fails with --strict."""
    rows = _release_rows()
    src = tmp_path / "dup.jsonl.gz"
    write_rows([*rows, copy.deepcopy(rows[0]), copy.deepcopy(rows[5])], src)
    code, out = _invoke(["validate", "-i", str(src), "--json"])
    assert code == 0, out
    checks = {c["id"]: c for c in json.loads(out)["checks"]}
    for key in ("duplicates.trace_key", "duplicates.round_id", "duplicates.round_index"):
        assert (checks[key]["status"], checks[key]["count"]) == ("WARNING", 2), key
    assert checks["tokens.negative"]["denominator"] == len(rows) + 2
    code, _ = _invoke(["validate", "-i", str(src), "--strict"])
    assert code == 1


@needs_release
def test_report_on_the_three_files(tmp_path: Path) -> None:
    """The HTML report (headline, integrity section, experiments) of each file; two
    experiments without figures keep it fast — the CLI `report` runs all of them the same way."""
    from tracelab.experiments.registry import select
    from tracelab.experiments.runner import run_experiments
    from tracelab.report import report_from_trace, write_report
    from tracelab.traceinput import resolve_trace

    bodies = {}
    for name, option in INPUTS.items():
        path = Path(option[1])
        db = resolve_trace(path, None).db if option[0] == "--db" else resolve_trace(None, path).db
        out = tmp_path / f"{name}.html"
        with open_db(db) as con:
            runs = run_experiments(
                con, select(["trace_facts/overview", "session/context_growth"]), figures=False
            )
            assert all(r.error is None for r in runs), name
            write_report(report_from_trace(con, runs), out, generated="fixed")
        html = out.read_text(encoding="utf-8")
        assert html.rstrip().endswith("</html>")
        # From the headline table on, the three reports show the same numbers.
        bodies[name] = html[html.index("<table") :]
    assert bodies["duckdb"] == bodies["duckdb-no-event-index"] == bodies["jsonl.gz"]


def test_a_database_in_the_canonical_shape_reads_unchanged(tmp_path: Path) -> None:
    """An older TraceLab build stored the canonical shape itself (0-based positions,
    TIMESTAMPTZ, context columns under their own names): it reads as the same tables."""
    src, db, old = tmp_path / "t.jsonl", tmp_path / "t.duckdb", tmp_path / "old.duckdb"
    write_rows(_small_trace([None, "turn_x"]), src)
    build_db(src, db)
    want = _canonical(db)
    tables = {}
    with open_db(db) as con:  # what the canonical views show ...
        for table in want:
            tables[table] = con.sql(f"SELECT * FROM {table}").to_arrow_table()
    with duckdb.connect(str(old)) as con:  # ... stored as plain tables
        for table, data in tables.items():
            con.register("data", data)
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM data")
            con.unregister("data")
    assert _canonical(old) == want
    with duckdb.connect(str(old), read_only=True) as con:  # really stored that way
        assert dict(_describe(con, "timing_events"))["timestamp"] == "TIMESTAMP WITH TIME ZONE"


@needs_release
def test_usage_is_the_same_for_the_three_files() -> None:
    rows = _release_rows()
    docs = {}
    for name, option in INPUTS.items():
        code, out = _invoke(["usage", "session", *option, "--json"])
        assert code == 0, (name, out)
        docs[name] = out
    assert docs["duckdb"] == docs["duckdb-no-event-index"] == docs["jsonl.gz"]
    sessions = json.loads(docs["duckdb"])["rows"]
    assert len(sessions) == len({r["session_id"] for r in rows})
    assert sum(s["steps"] for s in sessions) == len(rows)


@needs_release
def test_every_experiment_runs_on_the_release_database(tmp_path: Path) -> None:
    """Issue 17: every analysis (the reference's §1–§13 included) runs on the public release's
    files. The approval audit has no raw Codex logs there: it says so instead of failing."""
    from tracelab.experiments.registry import all_experiments

    out = tmp_path / "analysis"
    code, text = _invoke(["analyze", "--db", str(RELEASE_DB_OLD), "-o", str(out), "--no-figures"])
    assert code == 0, text
    run = json.loads((out / "run.json").read_text())
    ran = {e["id"]: e for e in run["experiments"]}
    assert set(ran) == {e.id for e in all_experiments()}
    assert [i for i, e in ran.items() if not e["ok"]] == []
    audit = (out / "tool_calls" / "codex_wall_internal_gap" / "README.md").read_text()
    assert "is not computed: this trace does not name its raw Codex logs" in audit
