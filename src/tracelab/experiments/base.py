"""What an experiment is: a question, its definitions, a compute step (SQL) and a plot step.

An experiment answers one question of the study over any trace. `compute(con)` queries the
metric tables of `tracelab.metrics` (never the raw rows in its own way) and returns a `Result`:
tables of numbers plus the result in words. `plot(result)` draws figures from those numbers
only, so tables can be produced without matplotlib and figures always match the tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracelab.experiments.fmt import format_value

if TYPE_CHECKING:
    import duckdb
    from matplotlib.figure import Figure as MplFigure


@dataclass
class Table:
    """A named table. `kinds` maps a column to its display kind (see `fmt.KINDS`).

    `row_kinds`, if set, gives each row its display kind instead (for tables whose rows are
    metrics — e.g. Table 1 — the first column, the row label, stays text).
    `latex=True` marks a table of the paper: it is also written as `.tex`.
    """

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    kinds: dict[str, str] = field(default_factory=dict)
    latex: bool = False
    note: str = ""
    row_kinds: list[str] | None = None
    #: formatted_rows' last answer and what it was computed from (Markdown, LaTeX and the
    #: report each format the same table: 600k cells per study run).
    _formatted: tuple[Any, list[list[str]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def kind(self, column: str) -> str:
        if self.row_kinds is not None and column != self.columns[0]:
            return "float"  # numeric column; each row has its own display kind
        return self.kinds.get(column, "text")

    def formatted_rows(self) -> list[list[str]]:
        """Every cell as displayed (`fmt.format_value` of its kind); do not modify the lists."""
        key = (
            id(self.rows),
            len(self.rows),
            tuple(self.columns),
            tuple(self.kinds.items()),
            None if self.row_kinds is None else tuple(self.row_kinds),
        )
        if self._formatted is not None and self._formatted[0] == key:
            return self._formatted[1]
        if self.row_kinds is not None:
            out = [
                [format_value(row[0]), *(format_value(v, kind) for v in row[1:])]
                for row, kind in zip(self.rows, self.row_kinds, strict=True)
            ]
        else:
            kinds = [self.kind(c) for c in self.columns]
            out = [
                [format_value(v, k) for v, k in zip(row, kinds, strict=True)] for row in self.rows
            ]
        self._formatted = (key, out)
        return out

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]


@dataclass
class Figure:
    """A drawn figure and the table of the numbers it shows (embedded in its PNG as CSV).

    `interactive`, if set, is a Plotly figure (`go.Figure`) the HTML report shows instead of
    the static image — or its figure JSON already (drawn in a worker process, or read back
    from an analyze folder). `figure` is None once the figure was rendered elsewhere.
    """

    name: str
    title: str
    figure: MplFigure | None
    data: Table
    caption: str = ""
    interactive: Any = None

    def interactive_json(self) -> str | None:
        """The interactive chart's figure JSON (Plotly's own serialization), or None."""
        chart = self.interactive
        if chart is None or isinstance(chart, str):
            return chart
        if hasattr(chart, "to_json"):
            return chart.to_json()
        import orjson

        return orjson.dumps(chart).decode()


@dataclass
class Result:
    """What `compute` returns: tables, the result in words, and extra data for `plot`."""

    tables: list[Table]
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)


Compute = Callable[["duckdb.DuckDBPyConnection"], Result]
Plot = Callable[[Result], list[Figure]]


@dataclass
class Experiment:
    """One experiment. `id` is `<category>/<name>`; outputs go to `out/<category>/<name>/`."""

    id: str
    title: str
    question: str
    definitions: str
    study_item: str
    compute: Compute
    plot: Plot | None = None

    @property
    def category(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]

    def figures(self, plot: Plot) -> Plot:
        """Decorator: register `plot` as this experiment's figure step."""
        self.plot = plot
        return plot
