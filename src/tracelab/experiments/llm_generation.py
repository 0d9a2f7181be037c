"""Experiments of category `llm_generation` (see `registry.CATEGORIES`)."""
