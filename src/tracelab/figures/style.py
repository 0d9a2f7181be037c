"""One look for every static figure: Agg backend, the palette (`tracelab.palette`, shared with
the web pages), sizes, save to PNG + SVG. matplotlib is imported by the first figure, not by
importing this module (every experiment module does).

`render` turns a figure into PNG and SVG bytes; the experiment writer embeds the README, the
figure's CSV data and the code version into the PNG (see `pngmeta`).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from tracelab.palette import (  # noqa: F401  (the palette is part of the style's API)
    PROVIDER_COLORS,
    SERIES_COLORS,
    STEP_KIND_COLORS,
    provider_color,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

DPI = 150

RC_PARAMS = {
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "svg.hashsalt": "tracelab",  # deterministic SVG ids
    "svg.fonttype": "none",
}

_styled = False


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend with the style applied, imported on first use:
    a run without figures (`analyze --no-figures`, the web app's tables) never pays for
    importing matplotlib (about half a second)."""
    global _styled
    if not _styled:
        import matplotlib

        matplotlib.use("Agg")
        matplotlib.rcParams.update(RC_PARAMS)
        _styled = True
    import matplotlib.pyplot as plt

    return plt


def new_figure(
    ncols: int = 1, nrows: int = 1, width: float = 6.4, height: float = 3.6, **kwargs
) -> tuple[MplFigure, object]:
    """A figure with a grid of axes (squeeze like `plt.subplots`), constrained layout."""
    fig, axes = pyplot().subplots(
        nrows, ncols, figsize=(width, height), layout="constrained", **kwargs
    )
    return fig, axes


def render(fig: MplFigure) -> tuple[bytes, bytes]:
    """The figure as (PNG bytes, SVG bytes); the figure is closed afterwards.

    The constrained layout is solved once, by the PNG's draw, and kept for the SVG: solving it
    again took about a fifth of all drawing time and moved nothing by more than a fraction of
    a point.
    """
    try:
        png = io.BytesIO()
        fig.savefig(png, format="png", metadata={"Software": None})
        fig.set_layout_engine("none")
        svg = io.BytesIO()
        fig.savefig(svg, format="svg", metadata={"Date": None})
    finally:
        pyplot().close(fig)
    return png.getvalue(), svg.getvalue()
