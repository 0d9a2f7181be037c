"""Synthetic raw agent logs (Claude Code, Codex CLI) in a fake home directory.

Used by tests, `tracelab demo` and the benchmarks instead of anyone's real sessions, and by
`tracelab synth` to generate coding-agent workloads: the files follow the real raw formats so
the normal collect → normalize pipeline runs on them, and every number is drawn from a workload
profile (`profile.py`; the packaged `study` profile is calibrated to the study's published
distributions, `calibration.py` measures how close a generated trace comes).
"""

from tracelab.synth.generator import SynthSummary, generate_home
from tracelab.synth.profile import Profile, ProfileError, load_profile

__all__ = ["Profile", "ProfileError", "SynthSummary", "generate_home", "load_profile"]
