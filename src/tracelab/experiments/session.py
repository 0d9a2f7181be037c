"""Experiments of category `session` (see `registry.CATEGORIES`)."""
