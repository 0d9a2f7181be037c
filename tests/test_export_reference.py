"""`tracelab export replay-csv --format reference`: the study's canonical CSV (amendments §12),
every row of a tiny trace worked out by hand; the seeded numbers are drawn again here, with
numpy's generators called the other way (scalar draws), not through the module."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tracebuilder import ev, step, tool, trace_db
from tracelab.cli import app
from tracelab.export.reference_csv import COLUMNS, export_reference_csv
from tracelab.io import write_rows


def _rows() -> list[dict]:
    """File order of the sessions (first row): a, b, c. c's rows are written round 1 first."""
    return [
        # claude:a — a0: empty input and output (clamped to 1); four calls: wall 100, no wall,
        # a negative wall (clock skew) and 0 → Σ non-null ≥ 0 = 100 (internal 9 000 ignored).
        step(
            "a",
            0,
            prefix=0,
            append=0,
            output=0,
            first="user_message",
            events=[ev("user_message", 10), ev("text", 11)],
            tools=[
                tool("t1", emitted=11, wall_ms=100, internal_ms=9000),
                tool("t2", emitted=11, index=1),
                tool("t3", emitted=11, wall_ms=-5, index=2),
                tool("t4", emitted=11, wall_ms=0, index=3),
            ],
        ),
        # a1: the session's last step → tool wait 0 although its call took 300 ms.
        step(
            "a",
            1,
            prefix=50,
            append=20,
            output=7,
            events=[ev("tool_result", 400), ev("text", 401)],
            tools=[tool("t5", emitted=401, wall_ms=300)],
        ),
        # claude:c — round 1 written before round 0: round_idx follows round_index.
        step("c", 1, prefix=11, append=1, output=1, events=[ev("tool_result", 3)]),
        # codex:b — one step: last → 0.
        step(
            "b",
            0,
            provider="codex",
            prefix=10,
            append=5,
            output=3,
            first="user_message",
            events=[ev("user_message", 2)],
            tools=[tool("k1", emitted=2, wall_ms=40)],
        ),
        # c0: a negative prefix is clamped to 0; two calls 25 + 35 = 60. No timestamps at all:
        # the reference's arrivals are synthetic, so an untimed session is exported like any.
        step(
            "c",
            0,
            prefix=-5,
            append=9,
            output=2,
            first=None,
            tools=[tool("c1", emitted=None, wall_ms=25), tool("c2", emitted=None, wall_ms=35)],
        ),
    ]


#: Per session (file order a, c, b — the order of each session's first row), its rows without
#: id and arrival: (input_len, output_len, round_idx, tool_wait_after_ms, prefix_len).
BY_SESSION = {
    "claude:a": [("1", "1", "0", "100", "0"), ("20", "7", "1", "0", "50")],
    "claude:c": [("9", "2", "0", "60", "0"), ("1", "1", "1", "0", "11")],
    "codex:b": [("5", "3", "0", "0", "10")],
}
FILE_ORDER = ["claude:a", "claude:c", "codex:b"]


def _expected(arrivals: list[float]) -> list[list[str]]:
    """The rows: the session at file position perm[j] is id j, arriving at arrivals[j]."""
    perm = np.random.default_rng(0).permutation(len(FILE_ORDER))
    out = []
    for j, position in enumerate(perm):
        for inp, outp, rnd, wait, prefix in BY_SESSION[FILE_ORDER[position]]:
            out.append([str(j), inp, outp, f"{arrivals[j]:.6f}", rnd, wait, prefix])
    return out


def _poisson(n: int, rate: float) -> list[float]:
    """The seeded Poisson process from 0: one scalar draw after each session."""
    rng, t, out = np.random.default_rng(1), 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.exponential(1000 / rate)
    return out


def _read(path: Path) -> list[list[str]]:
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture
def con(tmp_path: Path):
    return trace_db(tmp_path, _rows())


def test_poisson_rows_worked_out_by_hand(con, tmp_path: Path) -> None:
    out = tmp_path / "reference.csv"
    report = export_reference_csv(con, out)
    table = _read(out)
    assert table[0] == list(COLUMNS)
    assert table[1:] == _expected(_poisson(3, 1.0))
    # numpy 2's permutation(3) under seed 0 is [2, 0, 1]: b is id 0, a id 1, c id 2; the
    # first arrival is 0 and the next two are the first draws (1073.029…, then +308.453…).
    assert [r[0] for r in table[1:]] == ["0", "1", "1", "2", "2"]
    assert table[1][3] == "0.000000"
    assert (report.rows, report.sessions, report.arrival, report.rate) == (5, 3, "poisson", 1.0)


def test_uniform_arrivals_and_rate(con, tmp_path: Path) -> None:
    out = tmp_path / "reference.csv.gz"
    export_reference_csv(con, out, arrival="uniform", rate=2.0)
    # i · 1000 / 2 → 0, 500, 1000 ms
    assert _read(out)[1:] == _expected([0.0, 500.0, 1000.0])


def test_rate_scales_the_poisson_gaps(con, tmp_path: Path) -> None:
    out = tmp_path / "reference.csv"
    export_reference_csv(con, out, rate=4.0)
    assert _read(out)[1:] == _expected(_poisson(3, 4.0))


def test_bad_arrival_or_rate(con, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="arrival"):
        export_reference_csv(con, tmp_path / "x.csv", arrival="bursty")
    with pytest.raises(ValueError, match="rate"):
        export_reference_csv(con, tmp_path / "x.csv", rate=0)
    assert not (tmp_path / "x.csv").exists()


def test_cli_reference_and_default_formats(tmp_path: Path) -> None:
    src = tmp_path / "trace.jsonl"
    write_rows(_rows(), src)
    runner = CliRunner()
    ref = tmp_path / "ref.csv"
    result = runner.invoke(
        app, ["export", "replay-csv", "-i", str(src), "-o", str(ref), "--format", "reference"]
    )
    assert result.exit_code == 0, result.output
    assert "5 steps of 3 sessions" in result.output
    assert _read(ref)[1:] == _expected(_poisson(3, 1.0))
    ours = tmp_path / "ours.csv"
    result = runner.invoke(app, ["export", "replay-csv", "-i", str(src), "-o", str(ours)])
    assert result.exit_code == 0, result.output
    assert _read(ours)[0][0] == "session_id"  # the default stays our format
    for args, message in (
        (["--format", "csv"], "--format must be ours or reference"),
        (["--rate", "2"], "apply to --format reference only"),
        (["--format", "reference", "--arrival", "x"], "--arrival must be poisson or uniform"),
        (["--format", "reference", "--rate", "-1"], "--rate must be > 0"),
    ):
        result = runner.invoke(
            app, ["export", "replay-csv", "-i", str(src), "-o", str(tmp_path / "e.csv"), *args]
        )
        assert result.exit_code == 2, args
        assert message in result.output, result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "e.csv").exists()
