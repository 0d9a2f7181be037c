"""Experiments of category `prefix_cache` (see `registry.CATEGORIES`)."""
