"""The one palette of TraceLab: the experiment figures (matplotlib, Plotly) and the web pages.

A plain module (no matplotlib import): `figures.style` draws with it, and the web app hands
the same constants to its pages (`web.pages.shell` puts them in a `<meta>` as JSON), so a
provider has one colour everywhere — Codex is not blue on the dashboard and green in a figure.
"""

from __future__ import annotations

#: Per provider; `total` is the all-providers series.
PROVIDER_COLORS = {"claude": "#d97757", "codex": "#10a37f", "total": "#4c5c74"}
#: User- vs tool-initiated steps.
STEP_KIND_COLORS = {"user": "#3b6fb6", "tool": "#e0a030"}
#: Token and cost kinds: cached prefix, fresh append (with its input / cache-write parts),
#: output.
TOKEN_COLORS = {
    "prefix": "#7fb3e8",
    "append": "#e8a23b",
    "input": "#e8a23b",
    "write_5m": "#f2c879",
    "write_1h": "#b07a1e",
    "output": "#c8553d",
}
#: Any other series, in order (and a provider without its own colour).
SERIES_COLORS = ("#3b6fb6", "#e0a030", "#4a9a5b", "#c44e52", "#8172b3", "#937860", "#da8bc3")


def provider_color(provider: str, index: int = 0) -> str:
    """The provider's colour, else the `index`-th series colour."""
    return PROVIDER_COLORS.get(provider, SERIES_COLORS[index % len(SERIES_COLORS)])


def palette() -> dict[str, object]:
    """Every colour, for the web pages (JSON)."""
    return {
        "providers": PROVIDER_COLORS,
        "step_kinds": STEP_KIND_COLORS,
        "tokens": TOKEN_COLORS,
        "series": list(SERIES_COLORS),
    }
