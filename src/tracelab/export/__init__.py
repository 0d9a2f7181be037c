"""Exports of a trace for other tools (serving simulators)."""
