"""Experiments of category `human_in_the_loop` (see `registry.CATEGORIES`)."""
