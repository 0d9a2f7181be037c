"""`tracelab report`: one self-contained, escaped HTML file with every experiment.

The registered experiments run without figures (they change while the study is being built and
rendering all of them would be slow); a probe experiment defined here brings the figures — one
interactive, one static — so the checks never depend on which experiments exist.
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pytest
from plotly.offline import get_plotlyjs

from tracebuilder import ev, step, tool, trace_db
from tracelab.experiments.base import Experiment, Figure, Result, Table
from tracelab.experiments.registry import CATEGORIES, all_experiments
from tracelab.experiments.runner import run_experiments
from tracelab.figures.style import new_figure
from tracelab.io import write_rows
from tracelab.pricing.table import Price, PriceTable
from tracelab.report import (
    MAX_OPEN_ROWS,
    anchor,
    esc,
    inline_markdown,
    markdown_html,
    report_from_trace,
    table_html,
    write_report,
)
from tracelab.tracedb import build_db, open_db

EVIL = "<script>alert(1)</script>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input"}


def _rows() -> list[dict]:
    """A claude session (one step of a model with a hostile name) and a codex session."""
    return [
        step(
            "s1",
            0,
            prefix=0,
            append=1000,
            output=100,
            first="user_message",
            model=EVIL,
            events=[ev("user_message", 0), ev("text", 2), ev("tool_call", 3, tool_call_id="t1")],
            tools=[tool("t1", "Bash", emitted=3, result=5, internal_ms=1500)],
        ),
        step(
            "s1",
            1,
            prefix=1000,
            append=200,
            output=50,
            events=[ev("tool_result", 5, tool_call_id="t1"), ev("text", 7)],
        ),
        step(
            "s2",
            0,
            provider="codex",
            prefix=0,
            append=500,
            output=20,
            first="user_message",
            events=[ev("user_message", 10), ev("text", 12)],
        ),
    ]


# --- a probe experiment (not registered): trace data into a table and two figures -----------


def _probe_compute(con) -> Result:
    rows = con.execute(
        "SELECT model, count(*) AS steps, count(*) / sum(count(*)) OVER () AS share "
        "FROM step_facts GROUP BY model ORDER BY model"
    ).fetchall()
    table = Table(
        "models",
        "Steps per <model>",
        ["model", "steps", "share"],
        [list(r) for r in rows],
        kinds={"steps": "int", "share": "pct"},
        note="Counted *per* step.",
    )
    return Result(tables=[table], text=f"{len(rows)} models, **bold** claim.")


def _probe_plot(result: Result) -> list[Figure]:
    import plotly.graph_objects as go

    table = result.tables[0]
    fig, ax = new_figure()
    if table.rows:
        ax.bar(range(len(table.rows)), table.column("steps"))
    else:
        ax.text(0.5, 0.5, "no data", ha="center")
    interactive = go.Figure(go.Bar(x=table.column("model"), y=table.column("steps")))
    still, ax2 = new_figure()
    ax2.plot([0, 1], [0, 1])
    return [
        Figure(
            "fig_probe",
            "Probe <chart>",
            fig,
            table,
            caption="Bars & *more*",
            interactive=interactive,
        ),
        Figure("fig_probe_static", "Static probe", still, table),
    ]


PROBE = Experiment(
    id="trace_facts/report_probe",
    title="Report probe <b>&</b> co",
    question="Which *models* are in the trace?",
    definitions="- **Model**: the `model` field,\n  continued on a second line.\n\n"
    "A closing *note*.",
    study_item="Fig. 99",
    compute=_probe_compute,
    plot=_probe_plot,
)


def _broken(con) -> Result:
    raise ValueError("bad <input> & more")


BROKEN = Experiment(
    id="session/report_broken",
    title="A broken experiment",
    question="Does a failure show?",
    definitions="",
    study_item="Table 0",
    compute=_broken,
)


# --- a structural HTML check ------------------------------------------------------------------


class _Structure(HTMLParser):
    """Collects tags, attributes, ids and script bodies; checks that elements nest and close."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "script":
            self._script, self._body = a, []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag == "script":
            self.scripts.append((self._script, "".join(self._body)))

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "script":
            self._body.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    con = trace_db(tmp, _rows())
    registered = all_experiments()
    runs = run_experiments(con, registered, out=None, figures=False)
    runs += run_experiments(con, [PROBE, BROKEN], out=None)
    out = tmp / "report.html"
    write_report(report_from_trace(con, runs), out)
    text = out.read_text(encoding="utf-8")
    parser = _Structure()
    parser.feed(text)
    parser.close()
    return {"dir": tmp, "html": text, "runs": runs, "parsed": parser}


def test_one_file_is_written(report):
    written = sorted(p.name for p in report["dir"].iterdir())
    assert written == ["report.html", "trace.duckdb", "trace.jsonl"]  # no temp file left


def test_every_experiment_has_a_section_and_a_toc_entry(report):
    html = report["html"]
    for run in report["runs"]:
        exp = run.experiment
        assert esc(exp.id) in html
        assert esc(exp.title) in html
        assert f'<section class="experiment" id="{anchor(exp.id)}">' in html
        assert f'href="#{anchor(exp.id)}"' in html
    sections = [a for t, a in report["parsed"].tags if t == "section"]
    assert [a["class"] for a in sections[:2]] == ["overview", "integrity-section"]
    assert len(sections) == 2 + len(report["runs"])


def test_categories_follow_the_study_order(report):
    html = report["html"]
    present = [c for c in CATEGORIES if f'id="cat-{c}"' in html]
    assert present[:2] == ["trace_facts", "session"]  # the probe and the broken run
    positions = [html.index(f'id="cat-{c}"') for c in present]
    assert positions == sorted(positions)


def test_plotly_js_is_inlined_exactly_once(report):
    html = report["html"]
    assert html.count(get_plotlyjs()[:2000]) == 1
    scripts = report["parsed"].scripts
    assert all("src" not in attrs for attrs, _ in scripts)
    # the bundle, the chart loader, and one JSON spec for the one interactive figure
    kinds = sorted(attrs.get("type") or "js" for attrs, _ in scripts)
    assert kinds == ["application/json", "js", "js"]


def test_no_network_reference(report):
    for tag, attrs in report["parsed"].tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, name, value[:80])
    # outside the Plotly bundle (whose code mentions links it never loads): no URL at all
    html = report["html"].replace(get_plotlyjs(), "")
    for needle in ('src="http', 'href="http', "url(http", "src='//", 'src="//', "url("):
        assert needle not in html


def test_html_is_well_formed(report):
    parsed = report["parsed"]
    assert parsed.errors == []
    assert parsed.stack == []
    assert len(parsed.ids) == len(set(parsed.ids))  # fragment ids are unique
    assert [t for t, _ in parsed.tags].count("h1") == 1
    assert report["html"].startswith("<!DOCTYPE html>")


def test_png_figures_decode(report):
    images = [a["src"] for t, a in report["parsed"].tags if t == "img"]
    assert len(images) == 2  # the probe's two figures
    for src in images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :], validate=True).startswith(PNG_SIGNATURE)
    # the interactive figure keeps its PNG in a <details>
    assert report["html"].count('<details class="static">') == 1


def test_trace_strings_are_escaped(report):
    html = report["html"]
    assert EVIL not in html
    assert esc(EVIL) in html  # the model name, in the probe's table
    assert "<b>&</b>" not in html and "Report probe &lt;b&gt;&amp;&lt;/b&gt; co" in html
    # in the chart spec the name is JSON-escaped, and it survives the round trip intact
    (spec,) = [body for attrs, body in report["parsed"].scripts if attrs.get("type")]
    assert EVIL in json.loads(spec)["data"][0]["x"]


def test_failed_experiment_is_listed_with_its_error(report):
    html = report["html"]
    assert "Failed experiments" in html
    assert "ValueError: bad &lt;input&gt; &amp; more" in html
    toc_entry = f'<a href="#{anchor(BROKEN.id)}">{esc(BROKEN.title)}</a>'
    assert toc_entry in html


def test_tables_are_formatted_and_numbers_right_aligned(report):
    html = report["html"]
    # 3 steps: the hostile model 1 step (33.3%), claude-opus-4-7 1, gpt-5.5 1
    assert '<td class="num">1</td><td class="num">33.3%</td>' in html
    assert '<th>model</th><th class="num">steps</th><th class="num">share</th>' in html
    assert "Steps per &lt;model&gt;" in html
    assert "Counted <em>per</em> step." in html
    assert "<p>3 models, <strong>bold</strong> claim.</p>" in html


def test_definitions_markdown(report):
    assert (
        "<ul><li><strong>Model</strong>: the <code>model</code> field, continued on a second "
        "line.</li></ul>\n<p>A closing <em>note</em>.</p>"
    ) in report["html"]


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("plain & <b>", "<p>plain &amp; &lt;b&gt;</p>"),
        ("one\ntwo\n\nthree", "<p>one two</p>\n<p>three</p>"),
        ("- a\n  b\n- c", "<ul><li>a b</li><li>c</li></ul>"),
        ("intro\n- a\nlazy", "<p>intro</p>\n<ul><li>a lazy</li></ul>"),
        ("**bold *it* here** and `a*b*c <x>`", None),
        ("a * b * c", "<p>a * b * c</p>"),
        ("", ""),
    ],
)
def test_markdown_subset(text, html):
    got = markdown_html(text)
    if html is None:  # nested emphasis; code keeps its asterisks literally, escaped
        assert got == (
            "<p><strong>bold <em>it</em> here</strong> and <code>a*b*c &lt;x&gt;</code></p>"
        )
    else:
        assert got == html


def test_inline_markdown_escapes_quotes():
    assert inline_markdown('say "hi"') == "say &quot;hi&quot;"


def test_empty_trace_report(tmp_path):
    src, db = tmp_path / "empty.jsonl", tmp_path / "empty.duckdb"
    write_rows([], src)
    build_db(src, db)
    con = open_db(db)
    out = tmp_path / "empty.html"
    write_report(report_from_trace(con, []), out)
    html = out.read_text(encoding="utf-8")
    assert "No experiments were run." in html
    assert get_plotlyjs()[:2000] not in html  # no chart, no 4.8 MB bundle
    runs = run_experiments(con, [PROBE], out=None)
    write_report(report_from_trace(con, runs), out)
    html = out.read_text(encoding="utf-8")
    assert runs[0].ok
    assert "no rows: nothing in this trace to count" in html


def test_long_tables_are_folded():
    def table(n: int) -> Table:
        return Table("t", "Points", ["x"], [[i] for i in range(n)], kinds={"x": "int"})

    assert MAX_OPEN_ROWS == 25
    assert "<details" not in table_html(table(25))
    folded = table_html(table(26))
    assert folded.startswith('<details class="long-table"><summary>Points — 26 rows</summary>')
    assert folded.count("<tr>") == 27  # header + every row, nothing dropped


# --- the opening: a developer's overview, then integrity findings by severity ------------------


@pytest.fixture(scope="module")
def overview_html(tmp_path_factory):
    """Three steps on 2026-01-05: claude-opus-4-7 (priced), gpt-5.5 (priced), a model no price
    row matches (unpriced); 3 tool calls (Bash twice, Read once); one step whose events are out
    of order by 1.5 s (a warning, not an error)."""
    rows = [
        step(
            "s1",
            0,
            append=1_000_000,  # all uncached: 1M × $5/M input = $5.00
            output=1_000_000,  # 1M × $25/M output = $25.00
            first="user_message",
            events=[
                ev("user_message", 0),
                ev("text", 3),
                ev("tool_call", 1.5, tool_call_id="t1"),  # 1.5 s before "text": out of order
                ev("tool_call", 4, tool_call_id="t2"),
            ],
            tools=[
                tool("t1", "Bash", emitted=3, result=5),
                tool("t2", "Read", emitted=4, result=5),
            ],
        ),
        step(
            "s2",
            0,
            provider="codex",
            append=2_000_000,  # 2M × $5/M input = $10.00
            first="user_message",
            events=[ev("user_message", 10), ev("tool_call", 12, tool_call_id="c1")],
            tools=[tool("c1", "Bash", emitted=12, result=13)],
        ),
        step(
            "s3",
            0,
            model="made-up-model",
            append=500,
            output=9_000_000,
            first="user_message",
            events=[ev("user_message", 20), ev("text", 21)],
        ),
    ]
    prices = PriceTable(  # explicit rates, so the costs below are derived by hand
        [
            Price("claude", "Opus", "claude-opus-4-7*", 5.0, 6.25, 0.5, 25.0),
            Price("codex", "GPT-5.5", "gpt-5.5", 5.0, None, 0.5, 30.0),
        ]
    )
    con = trace_db(tmp_path_factory.mktemp("overview"), rows, prices)
    from tracelab.report import render_report

    return render_report(report_from_trace(con, []), "now")


def _between(html: str, start: str, end: str) -> str:
    return html[html.index(start) : html.index(end, html.index(start))]


def test_report_opens_with_the_overview_before_integrity(overview_html):
    html = overview_html
    assert html.index('id="overview"') < html.index('id="integrity"')
    overview = _between(html, '<section class="overview"', "</section>")
    # window: every event on 2026-01-05 → one day
    assert "2026-01-05 – 2026-01-05 UTC" in overview and "1 day<" in overview
    # $5 + $25 (claude) + $10 (codex) = $40.0; the made-up model's step has no cost
    assert "<strong>$40.0</strong>" in overview
    assert "2 steps priced exactly · 1 steps unpriced" in overview
    # top models, by steps (1 each), then by name
    models = _between(overview, "Top models (of 3)", "</table>")
    assert models.index("claude-opus-4-7") < models.index("gpt-5.5") < models.index("made-up")
    assert '<td class="num">33.3%</td>' in models and "unpriced" in models
    # top tools: Bash 2 of 3 calls, Read 1 of 3
    tools = _between(overview, "Top tools, by calls", "</table>")
    assert '<td>Bash</td><td class="num">2</td><td class="num">66.7%</td>' in tools
    assert '<td>Read</td><td class="num">1</td><td class="num">33.3%</td>' in tools


def test_integrity_findings_have_a_severity_and_no_red_failed(overview_html):
    html = overview_html
    integrity = _between(html, '<section class="integrity-section"', "</section>")
    assert "FAILED" not in html
    assert "findings: 0 errors, 1 warning, 0 info" in integrity
    (finding,) = re.findall(r'<li><span class="sev sev-(\w+)">\w+</span> (.*?)</li>', integrity)
    assert finding[0] == "warning"
    assert "Timing events of a step are in time order</strong>: 1 of" in finding[1]
