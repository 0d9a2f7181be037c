"""Experiments of category `tool_calls` (see `registry.CATEGORIES`)."""
