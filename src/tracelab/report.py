"""`tracelab report`: every experiment of a run in ONE self-contained HTML file.

Why one file with nothing external: a report is mailed, attached to an issue or opened on a
laptop without network, and must look the same years later. So the Plotly JS is inlined once from
the installed package (only when a chart needs it), each interactive chart is its figure JSON in
a `<script type="application/json">` block drawn by a small inline script, and static figures are
base64 PNG `data:` URIs. No `src`/`href`/`url()` points at the network.

Every text that comes from the trace or an experiment (model names, session ids, errors,
definitions) is HTML-escaped: a trace is someone else's data. Definitions are a small Markdown
subset (paragraphs, `- ` bullets with continuation lines, **bold**, *italic*, `code`), converted
here so the report needs no Markdown dependency.
"""

from __future__ import annotations

import base64
import html
import re
import urllib.parse
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from tracelab import __version__
from tracelab.experiments.base import Figure, Table
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import CATEGORIES
from tracelab.experiments.runner import ExperimentRun
from tracelab.experiments.store import stamp
from tracelab.experiments.writers import NUMERIC_KINDS, PERCENTILE_NOTE, table_csv
from tracelab.io import atomic_write_bytes
from tracelab.reportdata import ReportData, gather, overview_tables

CATEGORY_TITLES = {
    "trace_facts": "Trace facts",
    "session": "Sessions",
    "llm_generation": "LLM generation",
    "tool_calls": "Tool calls",
    "prefix_cache": "Prefix cache",
    "human_in_the_loop": "Human in the loop",
}


def esc(value: Any) -> str:
    """HTML-escape any value (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


# --- Markdown subset ----------------------------------------------------------------------

_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\*(?![\s*])(.+?)(?<!\s)\*")
_BULLET = re.compile(r"^\s*[-*] +(.*)$")


def inline_markdown(text: str) -> str:
    """`code`, **bold**, *italic* → HTML; everything else escaped."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(esc(text[pos : m.start()]))
        code, bold, italic = m.groups()
        if code is not None:
            out.append(f"<code>{esc(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{inline_markdown(bold)}</strong>")
        else:
            out.append(f"<em>{inline_markdown(italic)}</em>")
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def markdown_html(text: str) -> str:
    """Paragraphs and `- ` bullet lists (a non-blank line after a bullet continues it)."""
    blocks: list[str] = []
    para: list[str] = []
    items: list[list[str]] = []

    def flush() -> None:
        if para:
            blocks.append(f"<p>{inline_markdown(' '.join(para))}</p>")
            para.clear()
        if items:
            lis = "".join(f"<li>{inline_markdown(' '.join(i))}</li>" for i in items)
            blocks.append(f"<ul>{lis}</ul>")
            items.clear()

    for line in (text or "").splitlines():
        stripped = line.strip()
        bullet = _BULLET.match(line)
        if not stripped:
            flush()
        elif bullet:
            if para:
                flush()
            items.append([bullet.group(1).strip()])
        elif items:
            items[-1].append(stripped)
        else:
            para.append(stripped)
    flush()
    return "\n".join(blocks)


# --- pieces -------------------------------------------------------------------------------


def anchor(exp_id: str) -> str:
    """A stable fragment id for an experiment section."""
    return "exp-" + re.sub(r"[^a-z0-9_-]+", "-", exp_id.lower()).strip("-")


def _csv_link(table: Table, label: str = "CSV") -> str:
    data = urllib.parse.quote(table_csv(table))
    return (
        f'<a class="dl" download="{esc(table.name)}.csv" '
        f'href="data:text/csv;charset=utf-8,{data}">{esc(label)}</a>'
    )


#: Cells longer than this (characters) may wrap; shorter ones stay on one line.
LONG_CELL = 28
#: Tables with more rows (figure data, CDF points) are folded so the report stays readable.
MAX_OPEN_ROWS = 25


def table_html(table: Table) -> str:
    """A formatted HTML table; numeric columns right-aligned; CSV of the raw values attached."""
    numeric = [table.kind(c) in NUMERIC_KINDS for c in table.columns]

    def cell(tag: str, value: str, num: bool) -> str:
        classes = " ".join(c for c, on in (("num", num), ("long", len(value) > LONG_CELL)) if on)
        attr = f' class="{classes}"' if classes else ""
        return f"<{tag}{attr}>{esc(value)}</{tag}>"

    head = "".join(cell("th", c, n) for c, n in zip(table.columns, numeric, strict=True))
    body = "".join(
        "<tr>" + "".join(cell("td", v, n) for v, n in zip(row, numeric, strict=True)) + "</tr>"
        for row in table.formatted_rows()
    )
    if not table.rows:
        body = (
            f'<tr><td class="empty" colspan="{max(len(table.columns), 1)}">'
            "no rows: nothing in this trace to count</td></tr>"
        )
    note = f'<p class="note">{inline_markdown(table.note)}</p>' if table.note else ""
    html_table = (
        f'<div class="table-wrap"><table><caption>{esc(table.title)} '
        f'<span class="meta"><code>{esc(table.name)}</code> · {_csv_link(table)}</span>'
        f"</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>"
    )
    if len(table.rows) <= MAX_OPEN_ROWS:
        return html_table
    return (
        f'<details class="long-table"><summary>{esc(table.title)} — {len(table.rows):,} rows'
        f"</summary>{html_table}</details>"
    )


def _plotly_json(fig: Figure) -> str:
    """The chart's figure JSON, safe inside a <script> element."""
    return (fig.interactive_json() or "null").replace("<", "\\u003c").replace(">", "\\u003e")


def figure_html(
    fig: Figure, rendered: tuple[bytes, bytes] | None, chart_no: int, section: str = "fig"
) -> str:
    """Interactive chart (PNG kept in a <details>) or the PNG; caption; data as CSV."""
    png = ""
    if rendered is not None:
        b64 = base64.b64encode(rendered[0]).decode("ascii")
        png = f'<img src="data:image/png;base64,{b64}" alt="{esc(fig.title)}" loading="lazy">'
    if fig.interactive is not None:
        chart_id = f"chart-{chart_no}"
        body = (
            f'<div class="plotly-chart frame" id="{chart_id}" data-spec="{chart_id}-spec"></div>'
            f'<script type="application/json" id="{chart_id}-spec">'
            f"{_plotly_json(fig)}</script>"
        )
        if png:
            body += (
                '<details class="static"><summary>Static figure (PNG)</summary>'
                f'<div class="frame">{png}</div></details>'
            )
    elif png:
        body = f'<div class="frame">{png}</div>'
    else:
        body = '<p class="empty">figure not rendered</p>'
    caption = f" {inline_markdown(fig.caption)}" if fig.caption else ""
    return (
        f'<figure id="{esc(section)}-{esc(fig.name)}">{body}'
        f"<figcaption><strong>{esc(fig.title)}</strong>"
        f'{caption} <span class="meta"><code>{esc(fig.name)}</code> · '
        f"{_csv_link(fig.data, 'data CSV')}</span></figcaption></figure>"
    )


def experiment_html(run: ExperimentRun, first_chart: int) -> tuple[str, int]:
    """One experiment's section; returns it and the number of interactive charts it holds."""
    exp = run.experiment
    parts = [
        f'<section class="experiment" id="{anchor(exp.id)}">',
        f'<h3>{esc(exp.title)} <span class="badge">{esc(exp.study_item)}</span></h3>',
        f'<p class="exp-id"><code>{esc(exp.id)}</code></p>',
        f'<p class="question"><strong>Question.</strong> {inline_markdown(exp.question)}</p>',
        '<details class="defs" open><summary>Definitions</summary>'
        f"{markdown_html(exp.definitions)}<p>{inline_markdown(PERCENTILE_NOTE)}</p></details>",
    ]
    charts = 0
    if not run.ok:
        parts.append(f'<div class="error"><strong>Failed:</strong> {esc(run.error)}</div>')
    if run.result is not None:
        parts.append(f'<div class="result">{markdown_html(run.result.text)}</div>')
        parts += [table_html(t) for t in run.result.tables]
    for fig in run.figures:
        rendered = run.rendered.get(fig.name)
        parts.append(figure_html(fig, rendered, first_chart + charts, anchor(exp.id)))
        charts += fig.interactive is not None
    parts.append("</section>")
    return "\n".join(parts), charts


def _by_category(runs: Iterable[ExperimentRun]) -> list[tuple[str, list[ExperimentRun]]]:
    """Runs grouped by category in the study order (unknown categories last, by name)."""
    groups: dict[str, list[ExperimentRun]] = {}
    for run in runs:
        groups.setdefault(run.experiment.category, []).append(run)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    keys = sorted(groups, key=lambda c: (order.get(c, len(order)), c))
    return [(c, groups[c]) for c in keys]


def category_title(category: str) -> str:
    return CATEGORY_TITLES.get(category, category.replace("_", " ").capitalize())


def toc_html(groups: list[tuple[str, list[ExperimentRun]]]) -> str:
    parts = [
        '<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>'
        '<li><a href="#overview">Overview</a></li><li><a href="#integrity">Integrity</a></li>'
    ]
    for category, runs in groups:
        items = "".join(
            f'<li><a href="#{anchor(r.experiment.id)}">{esc(r.experiment.title)}</a> '
            f'<span class="item">{esc(r.experiment.study_item)}</span>'
            + ("" if r.ok else ' <span class="bad">failed</span>')
            + "</li>"
            for r in runs
        )
        parts.append(
            f'<li><a href="#cat-{esc(category)}">{esc(category_title(category))}</a>'
            f"<ol>{items}</ol></li>"
        )
    parts.append("</ol></nav>")
    return "".join(parts)


def _fact(label: str, value: str, note: str = "") -> str:
    extra = f' <span class="meta">{note}</span>' if note else ""
    return f"<div><dt>{esc(label)}</dt><dd>{value}{extra}</dd></div>"


def header_html(data: ReportData, generated: str) -> str:
    """Title and where the numbers come from (trace, build, code)."""
    trace, runs = data.trace, data.runs
    failed = sum(not r.ok for r in runs)
    facts = [
        ("Trace", trace.get("source_file", "unknown source")),
        ("Database built", trace.get("built_at", "?")),
        ("Generated", generated),
        ("TraceLab", __version__),
        ("Experiments", f"{len(runs) - failed} ok" + (f", {failed} failed" if failed else "")),
    ]
    items = "".join(_fact(k, esc(v)) for k, v in facts)
    return f'<header><h1>TraceLab report</h1><dl class="facts">{items}</dl></header>'


def cost_coverage_text(coverage: dict[str, Any]) -> str:
    """'3,322 steps priced exactly · 1,284 steps unpriced' (fallback only when used), from
    `metrics.costs.price_coverage`."""
    parts = [f"{format_value(coverage.get('priced_exact', 0), 'int')} steps priced exactly"]
    if coverage.get("priced_fallback"):
        parts.append(f"{format_value(coverage['priced_fallback'], 'int')} by family fallback")
    parts.append(f"{format_value(coverage.get('unpriced_steps', 0), 'int')} steps unpriced")
    return " · ".join(parts)


def _days(n: int) -> str:
    return f"{n:,} day" + ("" if n == 1 else "s")


def overview_html(data: ReportData) -> str:
    """What a developer wants first: when, how much, priced how, which models and tools."""
    ov = data.overview
    totals, window = ov.get("totals", {}), ov.get("window")
    coverage = ov.get("coverage", {})
    unpriced = coverage.get("unpriced_steps", 0)
    cost = format_value(totals.get("cost"), "usd")
    cost_note = cost_coverage_text(coverage)
    if unpriced:
        cost_note = f'<span class="warn">{esc(cost_note)}</span> (no price: no cost counted)'
    else:
        cost_note = esc(cost_note)
    if coverage.get("source"):
        cost_note += f" · prices: {esc(coverage['source'])}"
    when = esc(f"{window['first']} – {window['last']} UTC") if window else "no timestamped step"
    facts = [
        _fact("Window", when, esc(_days(window["days"])) if window else ""),
        _fact("Est. cost (API prices)", f"<strong>{esc(cost)}</strong>", cost_note),
        _fact("Sessions", esc(format_value(totals.get("sessions"), "int"))),
        _fact("Steps", esc(format_value(totals.get("steps"), "int"))),
        _fact("Tool calls", esc(format_value(totals.get("tool_calls"), "int"))),
        _fact("Models", esc(format_value(totals.get("models"), "int"))),
    ]
    tables = {t.name: t for t in overview_tables(data)}
    side = "".join(
        f'<div class="side">{table_html(tables[n])}</div>'
        for n in ("top_models", "top_tools")
        if n in tables
    )
    per_provider = table_html(tables["headline"]) if "headline" in tables else ""
    return (
        '<section class="overview" id="overview"><h2>Overview</h2>'
        f'<dl class="facts big">{"".join(facts)}</dl>'
        f'<div class="columns">{side}</div>{per_provider}</section>'
    )


_SEVERITY_ORDER = ("error", "warning", "info")


def integrity_html(data: ReportData) -> str:
    """`tracelab validate`'s findings, each with its severity; every check in a fold."""
    from tracelab.validate import findings_text

    if data.integrity is None:
        return (
            '<section class="integrity-section" id="integrity"><h2>Integrity</h2>'
            f'<div class="error">Integrity checks could not run: {esc(data.integrity_error)}'
            "</div></section>"
        )
    checks = data.integrity.get("checks", [])
    found = [c for c in checks if not c["passed"]]
    found.sort(key=lambda c: _SEVERITY_ORDER.index(c["severity"]))
    counts = data.integrity.get("findings", {})
    items = "".join(
        f'<li><span class="sev sev-{esc(c["severity"])}">{esc(c["severity"])}</span> '
        f"<strong>{esc(c['title'])}</strong>: {esc(format_value(c['count'], 'int'))} of "
        f"{esc(format_value(c['denominator'], 'int'))} {esc(c['unit'])} "
        f'<code class="meta">{esc(c["id"])}</code></li>'
        for c in found
    )
    listing = f'<ul class="findings">{items}</ul>' if found else "<p>No findings.</p>"
    table = Table(
        "integrity_checks",
        "Every check (details and examples: tracelab validate -o checks.md)",
        ["check", "what", "severity", "status", "count", "of", "unit"],
        [
            [
                c["id"],
                c["title"],
                c["severity"],
                c["status"],
                c["count"],
                c["denominator"],
                c["unit"],
            ]
            for c in checks
        ],
        kinds={"count": "int", "of": "int"},
    )
    return (
        '<section class="integrity-section" id="integrity"><h2>Integrity</h2>'
        f"<p>{len(checks)} checks of <code>tracelab validate</code>; findings: "
        f"{esc(findings_text(counts))}. Errors break an invariant of the format (numbers built "
        "on them are wrong); warnings are what real logs contain and the analyses tolerate; "
        f"info is a fact about the trace.</p>{listing}"
        f'<details class="integrity"><summary>Every check</summary>{table_html(table)}</details>'
        "</section>"
    )


# --- the page -----------------------------------------------------------------------------

CSS = """
:root { --bg:#fdfdfc; --fg:#1f2328; --muted:#5e6670; --line:#d9dde3; --card:#f4f5f7;
  --accent:#3b6fb6; --bad:#c0392b; --ok:#2e7d32; --warn:#a46200; --code:#eef0f3;
  color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#15181c; --fg:#e4e7eb; --muted:#9aa3ad; --line:#343a42; --card:#1e2228;
    --accent:#7aa7e6; --bad:#ef7564; --ok:#7bc67e; --warn:#e0a64a; --code:#262b32; } }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); line-height:1.5;
  font:15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
.layout { display:grid; grid-template-columns: 270px minmax(0, 1fr); gap:2rem;
  max-width:1400px; margin:0 auto; padding:1.5rem; }
.toc { position:sticky; top:1rem; align-self:start; max-height:calc(100vh - 2rem);
  overflow:auto; font-size:.88rem; border-right:1px solid var(--line); padding-right:1rem; }
.toc h2 { font-size:1rem; margin:0 0 .5rem; }
.toc ol { list-style:none; padding-left:0; margin:0; }
.toc ol ol { padding-left:.8rem; margin:.2rem 0 .6rem; }
.toc > ol > li > a { font-weight:600; }
.toc li { margin:.15rem 0; }
.toc .item { color:var(--muted); font-size:.8rem; }
main { min-width:0; max-width:1050px; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
h1 { margin:0 0 .5rem; font-size:1.8rem; }
h2.category { margin:2.5rem 0 .5rem; padding-bottom:.3rem; border-bottom:2px solid var(--line); }
h3 { margin:0 0 .2rem; font-size:1.3rem; }
.facts { display:flex; flex-wrap:wrap; gap:.4rem 1.6rem; margin:0 0 1rem; }
.facts div { display:flex; gap:.4rem; } .facts dt { color:var(--muted); } .facts dd { margin:0; }
.experiment { margin:1.5rem 0 2.5rem; padding-top:.5rem; border-top:1px solid var(--line); }
.badge { font-size:.75rem; font-weight:600; vertical-align:middle; padding:.1rem .45rem;
  border-radius:.6rem; background:var(--card); border:1px solid var(--line); color:var(--muted); }
.exp-id { margin:0 0 .6rem; color:var(--muted); font-size:.85rem; }
.question { font-size:1.02rem; }
.defs, .integrity, .static, .long-table { background:var(--card); border:1px solid var(--line);
  border-radius:6px; padding:.4rem .9rem; margin:.7rem 0; }
details > summary { cursor:pointer; font-weight:600; color:var(--muted); }
.defs p, .defs ul { margin:.4rem 0; }
.result { border-left:4px solid var(--accent); padding:.1rem 0 .1rem 1rem; margin:1rem 0; }
.error { border-left:4px solid var(--bad); padding:.5rem 1rem; margin:1rem 0;
  background:var(--card); color:var(--bad); overflow-wrap:anywhere; }
.bad { color:var(--bad); font-weight:600; } .ok { color:var(--ok); font-weight:600; }
.warn { color:var(--warn); }
.facts.big { font-size:1.05rem; gap:.5rem 2rem; }
.overview { margin:1rem 0 2rem; }
.columns { display:flex; flex-wrap:wrap; gap:0 2.5rem; }
.findings { list-style:none; padding-left:0; } .findings li { margin:.3rem 0; }
.sev { display:inline-block; min-width:4.6em; text-align:center; font-size:.75rem;
  font-weight:600; padding:.05rem .4rem; border-radius:.6rem; border:1px solid currentColor; }
.sev-error { color:var(--bad); } .sev-warning { color:var(--warn); }
.sev-info { color:var(--muted); }
code { font:.86em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background:var(--code); padding:.05rem .3rem; border-radius:3px; }
.table-wrap { overflow-x:auto; margin:1rem 0 1.4rem; }
table { border-collapse:collapse; font-size:.88rem; font-variant-numeric:tabular-nums; }
caption { text-align:left; font-weight:600; padding:.3rem 0; caption-side:top; }
th, td { padding:.28rem .7rem; border-bottom:1px solid var(--line); text-align:left;
  vertical-align:top; white-space:nowrap; }
th { border-bottom:2px solid var(--line); }
.num { text-align:right; }
.long { white-space:normal; min-width:14em; }
tbody tr:hover { background:var(--card); }
td.empty, p.empty { color:var(--muted); font-style:italic; }
.meta { font-weight:400; color:var(--muted); font-size:.8rem; margin-left:.4rem; }
.note { color:var(--muted); font-size:.85rem; margin:.3rem 0; }
figure { margin:1.2rem 0 2rem; }
.frame { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.4rem; }
.frame img { display:block; max-width:100%; height:auto; margin:0 auto; }
.plotly-chart { min-height:380px; }
figcaption { font-size:.9rem; color:var(--muted); margin-top:.4rem; }
figcaption strong { color:var(--fg); }
footer { color:var(--muted); font-size:.85rem; margin:3rem 0 1rem; }
@media (max-width: 900px) { .layout { grid-template-columns:1fr; padding:1rem; }
  .toc { position:static; max-height:none; border-right:0; border-bottom:1px solid var(--line);
    padding-bottom:1rem; } }
@media print { :root { --bg:#fff; --fg:#000; --card:#f6f6f6; --code:#eee; }
  .layout { display:block; padding:0; } .toc { position:static; max-height:none; border:0; }
  .plotly-chart, .static summary, .dl { display:none; }
  .experiment, figure, table { break-inside:avoid; } a { color:inherit; } }
"""

#: Draws each chart when it scrolls into view; opens the PNG fallbacks for printing.
CHART_JS = """
(function () {
  function draw(div) {
    if (div.dataset.drawn || typeof Plotly === "undefined") return;
    div.dataset.drawn = "1";
    try {
      var spec = JSON.parse(document.getElementById(div.dataset.spec).textContent);
      Plotly.newPlot(div, spec.data || [], spec.layout || {},
                     {responsive: true, displaylogo: false});
    } catch (err) {  // one bad chart must not stop the others; its PNG is still there
      div.textContent = "Interactive chart unavailable (" + err + "); see the static figure.";
    }
  }
  var charts = document.querySelectorAll(".plotly-chart");
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) { draw(e.target);
        seen.unobserve(e.target); } });
    }, {rootMargin: "400px"});
    charts.forEach(function (div) { seen.observe(div); });
  } else { charts.forEach(draw); }
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) {
      if (!d.open) { d.dataset.printOpened = "1"; d.open = true; } });
  });
  window.addEventListener("afterprint", function () {
    document.querySelectorAll("details[data-print-opened]").forEach(function (d) {
      d.open = false; delete d.dataset.printOpened; });
  });
})();
"""


def plotly_js() -> str:
    """The installed Plotly JS bundle, safe to inline in a <script> element."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</script", "<\\/script")


def render_report(data: ReportData, generated: str | None = None) -> str:
    """The whole report as one HTML string (`generated`: the time shown; default now)."""
    trace, runs = data.trace, data.runs
    generated = generated or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    groups = _by_category(runs)
    sections: list[str] = []
    charts = 0
    for category, cat_runs in groups:
        sections.append(
            f'<h2 class="category" id="cat-{esc(category)}">{esc(category_title(category))}</h2>'
        )
        for run in cat_runs:
            section, n = experiment_html(run, charts)
            sections.append(section)
            charts += n
    failed = [r for r in runs if not r.ok]
    failed_html = ""
    if failed:
        items = "".join(
            f'<li><a href="#{anchor(r.experiment.id)}"><code>{esc(r.experiment.id)}</code></a>: '
            f"{esc(r.error)}</li>"
            for r in failed
        )
        failed_html = (
            f'<div class="error"><strong>Failed experiments</strong><ul>{items}</ul></div>'
        )
    if not runs:
        sections.append('<p class="empty">No experiments were run.</p>')
    scripts = ""
    if charts:
        scripts = f"<script>{plotly_js()}</script>\n<script>{CHART_JS}</script>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tracelab {esc(__version__)}">
<title>TraceLab report — {esc(trace.get("source_file", "trace"))}</title>
<style>{CSS}</style>
</head>
<body>
<div class="layout">
{toc_html(groups)}
<main>
{header_html(data, generated)}
{overview_html(data)}
{integrity_html(data)}
{failed_html}
{"".join(sections)}
<footer>Generated by TraceLab {esc(__version__)} on {esc(generated)}. Self-contained: no
network needed. Each experiment's tables and figures are also written by
<code>tracelab analyze</code>; <code>tracelab report --from</code> renders this report from
that folder.</footer>
</main>
</div>
{scripts}
</body>
</html>
"""


def write_report(data: ReportData, output: Path, generated: str | None = None) -> None:
    """Write the self-contained HTML report of `data` to `output` (atomically)."""
    atomic_write_bytes(Path(output), render_report(data, generated).encode("utf-8"))


def report_from_trace(con: duckdb.DuckDBPyConnection, runs: list[ExperimentRun]) -> ReportData:
    """The report of `runs` on a (prepared) trace: overview and integrity computed here."""
    return gather(con, runs, stamp(con))
