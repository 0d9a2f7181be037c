"""Optional dev check: does AIPerf's TraceLab loader accept our sanitized traces?

AIPerf (NVIDIA's serving benchmark) reads TraceLab's sanitized JSONL directly
(`aiperf profile --custom-dataset-type tracelab --input-file trace.public.jsonl ...`). This
runs its loader — format detection, grouping rounds into sessions, subagent nesting, the
conversion to its trace schema and the schema validation — on each file, without a server.
AIPerf is not a TraceLab dependency (≈140 packages, ≈860 MB with transformers), so this is
not part of the test suite; run it in a throwaway environment:

    uv run --no-project --with aiperf python scripts/aiperf_check.py trace.public.jsonl

Exit status 0 when every file loads, 1 otherwise (one line per file either way). The step
from traces to prompts (AIPerf's `convert_to_conversations`) needs a tokenizer and is not run.
"""

from __future__ import annotations

import sys
import time


def check(path: str) -> bool:
    """Load one file with AIPerf's TraceLab loader; print one line; True when it loads."""
    from aiperf.dataset.loader.tracelab_trace import TraceLabTraceDatasetLoader

    started = time.perf_counter()
    if not TraceLabTraceDatasetLoader.can_load(filename=path):
        print(f"{path}: FAIL — AIPerf does not detect it as a TraceLab trace")
        return False
    try:
        data = TraceLabTraceDatasetLoader(filename=path).load_dataset()
    except Exception as exc:  # any loader error is the answer this check reports
        print(f"{path}: FAIL — {type(exc).__name__}: {exc}")
        return False
    traces = [trace for group in data.values() for trace in group]
    requests = sum(len(trace.requests) for trace in traces)
    print(
        f"{path}: OK — {len(traces)} traces, {requests} requests "
        f"({time.perf_counter() - started:.1f} s)"
    )
    return True


def main(paths: list[str]) -> int:
    if not paths:
        print("usage: aiperf_check.py TRACE.jsonl[.gz] ...", file=sys.stderr)
        return 2
    results = [check(path) for path in paths]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
