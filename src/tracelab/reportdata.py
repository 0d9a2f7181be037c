"""What an HTML report is made of, computed from a trace or read back from an analyze folder.

Why one type for both: `tracelab report --db X` computes everything, `tracelab analyze --report`
computes once and writes both, `tracelab report --from DIR` reads an analyze folder back. The
report renders a `ReportData` only, so the three cannot differ. Every part is kept in the form
that is persisted (JSON-ready dicts, tables via `experiments.store`), and a computed
`ReportData` renders through that same form.

Parts besides the experiments' runs: the developer's overview (window, cost with its pricing
coverage, top models, top tools, the headline per provider) and the integrity findings of
`tracelab validate` with their severities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

from tracelab.experiments.base import Experiment, Figure, Table
from tracelab.experiments.fmt import cost_text, count
from tracelab.experiments.registry import all_experiments
from tracelab.experiments.runner import ExperimentRun
from tracelab.experiments.store import (
    EXPERIMENT_FILE,
    FORMAT,
    INTEGRITY_FILE,
    OVERVIEW_FILE,
    PLOTLY_SUFFIX,
    RUN_FILE,
    code_fingerprint,
    result_from_doc,
    table_doc,
    table_from_doc,
    write_json,
)
from tracelab.figures.pngmeta import PngError, strip
from tracelab.metrics.costs import coverage_note, price_coverage
from tracelab.metrics.overview import headline
from tracelab.metrics.tools import top_tools

TOP_MODELS = 5
TOP_TOOLS = 5


class AnalysisFolderError(ValueError):
    """A folder that cannot be rendered: not an analyze output, or of another code / trace."""


@dataclass
class ReportData:
    """The inputs of one report. `integrity` is `ValidationResult.to_json()`, or None with
    `integrity_error` when the checks could not run."""

    stamp: dict[str, Any]
    overview: dict[str, Any]
    integrity: dict[str, Any] | None
    runs: list[ExperimentRun] = field(default_factory=list)
    integrity_error: str | None = None

    @property
    def trace(self) -> dict[str, str]:
        return self.stamp.get("trace") or {}


# --- computing ------------------------------------------------------------------------------


def _window(first: datetime | None, last: datetime | None) -> dict[str, Any] | None:
    if first is None or last is None:
        return None
    return {
        "first": f"{first:%Y-%m-%d}",
        "last": f"{last:%Y-%m-%d}",
        "days": (last.date() - first.date()).days + 1,
    }


def headline_table(rows: list[dict[str, Any]], coverage: dict[str, Any]) -> Table:
    """The trace at a glance, per provider and total (the one headline definition)."""
    columns = [
        "provider",
        "sessions",
        "steps",
        "tool calls",
        "est. cost",
        "steps priced exactly / by fallback / unpriced",
        "input tokens",
        "output tokens",
        "prefix hit rate",
        "window (UTC)",
    ]
    kinds = ["text", "int", "int", "int", "text", "text", "tokens", "tokens", "pct", "text"]
    body = [
        [
            r["provider"],
            r["sessions"],
            r["steps"],
            r["tool_calls"],
            cost_text(r["cost"], r["unpriced_steps"]),
            " / ".join(count(r[k]) for k in ("priced_exact", "priced_fallback", "unpriced_steps")),
            r["input_tokens"],
            r["output_tokens"],
            r["prefix_hit_rate"],
            (w := _window(r["first_at"], r["last_at"])) and f"{w['first']} – {w['last']}",
        ]
        for r in rows
    ]
    return Table(
        "headline",
        "Per provider",
        columns,
        body,
        kinds=dict(zip(columns, kinds, strict=True)),
        note=coverage_note(coverage),
    )


def _top_models(con: duckdb.DuckDBPyConnection, steps: int) -> Table:
    rows = [r for r in headline(con, by="model") if r["model"] != "total"]
    rows.sort(key=lambda r: (-r["steps"], r["model"]))
    body = [
        [
            r["model"],
            r["steps"],
            r["steps"] / steps if steps else None,
            r["cost"],
            "unpriced"
            if r["unpriced_steps"] == r["steps"]
            else ("family fallback" if r["priced_fallback"] else ""),
        ]
        for r in rows[:TOP_MODELS]
    ]
    return Table(
        "top_models",
        f"Top models (of {len(rows)}), by steps",
        ["model", "steps", "share of steps", "est. cost", "pricing"],
        body,
        kinds={"steps": "int", "share of steps": "pct", "est. cost": "usd"},
    )


def _top_tools(con: duckdb.DuckDBPyConnection) -> Table:
    rows = top_tools(con, TOP_TOOLS)
    return Table(
        "top_tools",
        "Top tools, by calls",
        ["tool", "calls", "share of calls", "error rate"],
        [[r["tool"], r["calls"], r["share"], r["error_rate"]] for r in rows],
        kinds={"calls": "int", "share of calls": "pct", "error rate": "pct"},
    )


def compute_overview(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The report's opening, as persisted: window, totals, cost coverage, three tables."""
    rows = headline(con)
    total = rows[-1] if rows else {}
    steps = total.get("steps") or 0
    coverage = price_coverage(con)
    return {
        "window": _window(total.get("first_at"), total.get("last_at")),
        "totals": {
            "sessions": total.get("sessions") or 0,
            "steps": steps,
            "tool_calls": total.get("tool_calls") or 0,
            "models": total.get("models") or 0,
            "cost": total.get("cost"),
        },
        "coverage": coverage,
        "tables": [table_doc(t) for t in (_top_models(con, steps), _top_tools(con))]
        + [table_doc(headline_table(rows, coverage))],
    }


def compute_integrity(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any] | None, str | None]:
    """`tracelab validate`'s results as JSON, or (None, why) when they could not be computed."""
    from tracelab.validate import run_checks

    try:
        return run_checks(con).to_json(), None
    except duckdb.Error as exc:  # a side section must not cost the user the report
        return None, f"{type(exc).__name__}: {exc}"


def gather(
    con: duckdb.DuckDBPyConnection, runs: list[ExperimentRun], stamp: dict[str, Any]
) -> ReportData:
    """Everything of a report but the runs, computed from the (prepared) trace."""
    integrity, error = compute_integrity(con)
    return ReportData(stamp, compute_overview(con), integrity, runs, error)


def overview_tables(data: ReportData) -> list[Table]:
    return [table_from_doc(t) for t in data.overview.get("tables", [])]


# --- persisting -----------------------------------------------------------------------------


def save_extras(out: Path, data: ReportData) -> None:
    """Write the overview and the integrity results at the root of an analyze folder."""
    write_json(out / OVERVIEW_FILE, {"stamp": data.stamp, **data.overview})
    write_json(
        out / INTEGRITY_FILE,
        {"stamp": data.stamp, "error": data.integrity_error, "result": data.integrity},
    )


def _read(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise AnalysisFolderError(f"{path.name} is missing") from exc
    except (OSError, orjson.JSONDecodeError) as exc:
        raise AnalysisFolderError(f"{path.name} is not readable JSON ({exc})") from exc


def _same(what: str, got: Any, expected: Any) -> None:
    if got != expected:
        raise AnalysisFolderError(f"{what} was computed from another {_differs(got, expected)}")


def _differs(got: Any, expected: Any) -> str:
    if not isinstance(got, dict) or not isinstance(expected, dict):
        return "version"
    if got.get("code") != expected.get("code"):
        return "TraceLab version"
    if got.get("trace") != expected.get("trace"):
        return "trace"
    return "price table"


def load_analysis(folder: Path, trace: dict[str, str] | None = None) -> ReportData:
    """Read an analyze output folder back (no recomputing). Raises `AnalysisFolderError` with a
    one-line reason when the folder is not an analyze output, was written by other code, is
    mixed (experiments of another trace), or — given `trace` — is of another trace."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AnalysisFolderError(f"{folder}: no such folder")
    if not (folder / RUN_FILE).is_file():
        raise AnalysisFolderError(f"{folder}: not a tracelab analyze output folder (no run.json)")
    run_doc = _read(folder / RUN_FILE)
    if not isinstance(run_doc, dict) or run_doc.get("format") != FORMAT:
        raise AnalysisFolderError(
            f"{folder}: written by another TraceLab version (format "
            f"{run_doc.get('format') if isinstance(run_doc, dict) else '?'}, expected {FORMAT}); "
            "rerun tracelab analyze"
        )
    stamp = run_doc.get("stamp") or {}
    if stamp.get("code") != code_fingerprint():
        raise AnalysisFolderError(
            f"{folder}: written by another TraceLab version ({stamp.get('code')}, this is "
            f"{code_fingerprint()}); rerun tracelab analyze"
        )
    if trace is not None and stamp.get("trace") != trace:
        raise AnalysisFolderError(
            f"{folder}: computed from another trace ({stamp.get('trace', {}).get('source_file')}"
            f", built {stamp.get('trace', {}).get('built_at')}); rerun tracelab analyze"
        )
    try:
        overview = _read(folder / OVERVIEW_FILE)
        integrity = _read(folder / INTEGRITY_FILE)
        _same("overview.json", overview.pop("stamp", None), stamp)
        _same("integrity.json", integrity.get("stamp"), stamp)
        registered = {e.id: e for e in all_experiments()}
        runs = [
            _load_run(folder, entry, stamp, registered) for entry in run_doc.get("experiments", [])
        ]
        data = ReportData(stamp, overview, integrity.get("result"), runs, integrity.get("error"))
        overview_tables(data)  # a damaged overview fails here, not while rendering
    except AnalysisFolderError as exc:
        raise AnalysisFolderError(f"{folder}: {exc}; rerun tracelab analyze") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnalysisFolderError(
            f"{folder}: damaged analyze output ({type(exc).__name__}: {exc}); "
            "rerun tracelab analyze"
        ) from exc
    return data


def _load_run(
    folder: Path, entry: dict[str, Any], stamp: dict[str, Any], registered: dict[str, Experiment]
) -> ExperimentRun:
    exp = registered.get(entry.get("id"))
    if exp is None:
        raise AnalysisFolderError(f"unknown experiment {entry.get('id')!r}")
    run = ExperimentRun(
        exp,
        error=entry.get("error"),
        compute_s=entry.get("compute_s", 0.0),
        plot_s=entry.get("plot_s", 0.0),
        write_s=entry.get("write_s", 0.0),
    )
    if not entry.get("ok"):
        return run
    where = folder / exp.category / exp.name
    try:
        doc = _read(where / EXPERIMENT_FILE)
    except AnalysisFolderError as exc:
        raise AnalysisFolderError(f"{exp.id}: {exc}") from exc
    _same(f"{exp.id}", doc.get("stamp"), stamp)
    run.folder = where
    run.result = result_from_doc(doc)
    for fig in doc["figures"]:
        chart = None
        if fig["interactive"]:
            try:
                chart = (where / f"{fig['name']}{PLOTLY_SUFFIX}").read_text(encoding="utf-8")
            except OSError as exc:
                raise AnalysisFolderError(
                    f"{exp.id}: {fig['name']}{PLOTLY_SUFFIX} missing"
                ) from exc
        figure = Figure(
            fig["name"], fig["title"], None, table_from_doc(fig["data"]), fig["caption"], chart
        )
        run.figures.append(figure)
        try:
            png = strip((where / f"{fig['name']}.png").read_bytes(), "tracelab:")
        except (OSError, PngError):
            continue  # the report says "figure not rendered", as for a figure never drawn
        run.rendered[fig["name"]] = (png, b"")
    return run
