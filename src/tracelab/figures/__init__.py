"""Static figures: one matplotlib style, and PNGs that carry their own README, data and code."""
