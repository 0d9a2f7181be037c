"""The `tracelab ask` QA benchmark: questions with canonical queries, graded, on any backend.

Each task of `ask_qa_tasks.json` has a question, a difficulty, a canonical query that computes
the expected answer on the trace the benchmark runs on, and a grading rule (`tracelab.ask.
grading`). Backends: `--scripted` (a test double replaying each task's recorded tool call and
stating its result: it must score 100 %, which proves the grader and the tools), the local
model (the default; `uv sync --extra ask-local`), or any OpenAI-compatible endpoint
(`--base-url`, `--model`, `--api-key-env`, `--allow-remote`).

Without `--db` / `-i` it runs on a small SYNTHETIC trace (12 sessions, seed 3) made on the spot.
Prints a table per difficulty (accuracy, tool calls, tokens, seconds per question) and the
load average; `--details` lists every task.

    uv run python benchmarks/ask_qa.py --scripted
    uv run python benchmarks/ask_qa.py                      # the local SmolLM2-135M
    uv run python benchmarks/ask_qa.py --base-url http://127.0.0.1:8000/v1 --model qwen
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from tracelab.ask.backends import make_backend, scripted, state_result
from tracelab.ask.grading import DEFAULT_TOLERANCE, grade
from tracelab.ask.loop import Conversation
from tracelab.ask.sandbox import Sandbox

TASKS = Path(__file__).with_name("ask_qa_tasks.json")
LEVELS = ("easy", "medium", "hard")


def state_last_result(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The scripted final turn: the last tool result stated row by row (as the local model's)."""
    return {"content": state_result(messages[-1]["content"])}


def load_tasks(path: Path = TASKS) -> list[dict[str, Any]]:
    tasks = orjson.loads(path.read_bytes())
    for t in tasks:
        if t["difficulty"] not in LEVELS:
            raise ValueError(f"{t['id']}: difficulty {t['difficulty']!r}")
    return tasks


def synthetic_db(root: Path) -> Path:
    from tracelab.collect import collect
    from tracelab.sources.discover import Home
    from tracelab.synth import generate_home
    from tracelab.tracedb import build_db

    generate_home(root / "home", sessions=12, seed=3, workers=1)
    trace = root / "trace.jsonl.gz"
    collect([Home(root / "home", "synthetic")], trace, cache=root / "cache", workers=1)
    build_db(trace, root / "trace.duckdb")
    return root / "trace.duckdb"


def run(
    sandbox: Sandbox, tasks: list[dict[str, Any]], backend_factory, max_turns: int, timeout: float
) -> list[dict[str, Any]]:
    results = []
    for task in tasks:
        expected = sandbox.run(task["canonical"]).rows
        backend = backend_factory(task)
        answer = Conversation(sandbox, backend, max_turns=max_turns, time_limit_s=timeout).ask(
            task["question"]
        )
        g = grade(
            answer.text,
            expected,
            task["grade"],
            tolerance=task.get("tolerance", DEFAULT_TOLERANCE),
            tool_used=any(e.ok for e in answer.evidence),
            must_use_tool=task.get("must_use_tool", True),
        )
        results.append({"task": task, "answer": answer, "grade": g, "expected": expected})
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| difficulty | questions | correct | accuracy | tool calls / q | tokens / q | s / q |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for level in (*LEVELS, "all"):
        rs = [r for r in results if level == "all" or r["task"]["difficulty"] == level]
        if not rs:
            continue
        n = len(rs)
        ok = sum(r["grade"].correct for r in rs)
        calls = sum(r["answer"].tool_calls for r in rs) / n
        tokens = sum(r["answer"].prompt_tokens + r["answer"].completion_tokens for r in rs) / n
        secs = sum(r["answer"].seconds for r in rs) / n
        lines.append(
            f"| {level} | {n} | {ok} | {ok / n:.0%} | {calls:.1f} | {tokens:.0f} | {secs:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path)
    p.add_argument("-i", "--input", type=Path)
    p.add_argument("--scripted", action="store_true", help="the scripted test-double backend")
    p.add_argument("--base-url")
    p.add_argument("--model")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY")
    p.add_argument("--allow-remote", action="store_true")
    p.add_argument("--max-turns", type=int, default=4)
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--only", help="comma-separated task ids")
    p.add_argument("--details", action="store_true")
    args = p.parse_args(argv)

    tasks = load_tasks()
    if args.only:
        keep = set(args.only.split(","))
        tasks = [t for t in tasks if t["id"] in keep]
    with tempfile.TemporaryDirectory() as tmp:
        if args.db or args.input:
            from tracelab.traceinput import resolve_trace

            db = resolve_trace(args.db, args.input).db
        else:
            db = synthetic_db(Path(tmp))
        if args.scripted:

            def factory(task: dict[str, Any]):
                call = task["scripted"]
                turn = {"tool_calls": [{"name": call["tool"], "arguments": call["arguments"]}]}
                return scripted([turn, state_last_result])[0]

            label = "scripted"
        else:
            shared = make_backend(args.base_url, args.model, args.api_key_env, args.allow_remote)
            label = shared.label

            def factory(task: dict[str, Any]):
                return shared

        start = time.perf_counter()
        with Sandbox(db) as sandbox:
            results = run(sandbox, tasks, factory, args.max_turns, args.timeout)
        wall = time.perf_counter() - start
    print(f"ask QA benchmark · backend: {label} · {len(tasks)} questions · {wall:.1f} s · "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(table(results))
    if args.details:
        for r in results:
            mark = "ok " if r["grade"].correct else "BAD"
            print(f"{mark} {r['task']['id']}: {r['answer'].text[:160]!r} {r['grade'].reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
