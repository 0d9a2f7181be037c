"""TraceLab: coding-agent workload analysis."""

__version__ = "0.1.0"
