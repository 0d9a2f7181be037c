"""Synthetic raw agent logs (Claude Code, Codex CLI) in a fake home directory.

Used by tests, `tracelab demo` and the benchmarks instead of anyone's real sessions; the files
follow the real raw formats closely so the normal collect → normalize pipeline runs on them.
"""

from tracelab.synth.generator import SynthSummary, generate_home

__all__ = ["SynthSummary", "generate_home"]
