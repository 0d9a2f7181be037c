"""Claude Code tool calls: plausible `input` objects and the results the runner records.

Shapes follow real Claude Code 2.1 logs: the `tool_result` block the model sees, plus the
`toolUseResult` object the CLI stores beside it (which for some tools carries a runner-reported
`durationMs`/`durationSeconds`, the internal latency the collector extracts).
"""

from __future__ import annotations

import random
from typing import Any

from tracelab.synth.common import filler, hex_id, pick
from tracelab.synth.workload import lognormal

#: Tools whose `toolUseResult` carries a runner-reported duration (the internal latency).
REPORTS_DURATION = frozenset({"Glob", "WebFetch", "WebSearch"})
_DIRS = ("src", "src/core", "src/api", "tests", "lib", "scripts")
_EXT = (".py", ".ts", ".rs", ".go", ".md", ".toml")
_COMMANDS = (
    "uv run pytest -q",
    "git status --short",
    "ls -la",
    "make build",
    "npm test -- --silent",
    "cargo check",
    "git diff --stat",
    "python -m compileall -q src",
)

ABSENT = object()  # marker: the tool_result block has no `is_error` key at all


def _path(rng: random.Random, cwd: str) -> str:
    word = filler(rng, 8).strip().replace(" ", "_").replace("\n", "_") or "module"
    return f"{cwd}/{pick(rng, _DIRS)}/{word}{pick(rng, _EXT)}"


def _body(rng: random.Random, median: float = 300.0) -> str:
    return filler(rng, lognormal(rng, median, 1.0, 0, 4_000))


def tool_input(rng: random.Random, name: str, cwd: str) -> dict[str, Any]:
    """The `input` object of a `tool_use` block."""
    if name == "Bash":
        return {"command": pick(rng, _COMMANDS), "description": filler(rng, 40)}
    if name == "Read":
        return {"file_path": _path(rng, cwd)}
    if name == "Edit":
        return {
            "file_path": _path(rng, cwd),
            "old_string": _body(rng, 200),
            "new_string": _body(rng, 260),
            "replace_all": False,
        }
    if name == "Write":
        return {"file_path": _path(rng, cwd), "content": _body(rng, 1800)}
    if name == "Grep":
        return {"pattern": filler(rng, 12), "path": cwd, "output_mode": "content", "-n": True}
    if name == "Glob":
        return {"pattern": f"**/*{pick(rng, _EXT)}"}
    if name == "TodoWrite":
        return {
            "todos": [
                {
                    "content": filler(rng, 50),
                    "status": pick(rng, ("pending", "in_progress", "completed")),
                    "activeForm": filler(rng, 40),
                }
                for _ in range(rng.randint(2, 6))
            ]
        }
    if name == "WebSearch":
        return {"query": filler(rng, 60)}
    if name == "WebFetch":
        return {"url": f"https://docs.example.org/{hex_id(rng, 8)}", "prompt": filler(rng, 90)}
    return {"input": filler(rng, 60)}  # any other tool of the profile


def tool_result(
    rng: random.Random, name: str, inp: dict[str, Any], latency_ms: int, chars: int, error: bool
) -> tuple[Any, Any, Any]:
    """(`tool_result.content`, `toolUseResult`, `is_error` or ABSENT) for a finished call that
    took `latency_ms` (the runner-reported duration, for the tools that report one), wrote about
    `chars` characters and failed if `error`."""
    internal = latency_ms
    if name == "Bash":
        out = filler(rng, chars)
        if error:
            text = f"Exit code 1\n{out}"
            return text, f"Error: {text}", True
        tur = {
            "stdout": out,
            "stderr": "",
            "interrupted": False,
            "isImage": False,
            "noOutputExpected": False,
        }
        return out, tur, False
    if error:
        msg = "File does not exist." if name == "Read" else "String to replace not found in file."
        return f"<tool_use_error>{msg}</tool_use_error>", f"Error: {msg}", True
    if name == "Read":
        text = filler(rng, chars)
        lines = text.split("\n")
        numbered = "\n".join(f"{i:>6}\t{line}" for i, line in enumerate(lines, 1))
        file = {
            "filePath": inp["file_path"],
            "content": text,
            "numLines": len(lines),
            "startLine": 1,
            "totalLines": len(lines),
        }
        return numbered, {"type": "text", "file": file}, ABSENT
    if name == "Edit":
        path = inp["file_path"]
        tur = {
            "filePath": path,
            "oldString": inp["old_string"],
            "newString": inp["new_string"],
            "originalFile": filler(rng, chars),
            "structuredPatch": [
                {
                    "oldStart": 10,
                    "oldLines": 3,
                    "newStart": 10,
                    "newLines": 4,
                    "lines": [f"-{inp['old_string'][:80]}", f"+{inp['new_string'][:80]}"],
                }
            ],
            "userModified": False,
            "replaceAll": False,
        }
        return f"The file {path} has been updated successfully.", tur, ABSENT
    if name == "Write":
        path = inp["file_path"]
        tur = {
            "type": "create",
            "filePath": path,
            "content": inp["content"],
            "structuredPatch": [],
            "originalFile": None,
            "userModified": False,
        }
        return f"File created successfully at: {path}", tur, ABSENT
    if name == "Grep":
        text = filler(rng, chars)
        names = [f"src/{hex_id(rng, 6)}.py" for _ in range(rng.randint(1, 5))]
        tur = {
            "mode": "content",
            "numFiles": len(names),
            "filenames": names,
            "content": text,
            "numLines": text.count("\n") + 1,
        }
        return text, tur, ABSENT
    if name == "Glob":
        names = [f"src/{hex_id(rng, 6)}.py" for _ in range(rng.randint(0, 30))]
        tur = {
            "filenames": names,
            "durationMs": internal,
            "numFiles": len(names),
            "truncated": False,
        }
        return "\n".join(names) or "No files found", tur, ABSENT
    if name == "TodoWrite":
        msg = (
            "Todos have been modified successfully. Ensure that you continue to use the todo list."
        )
        return msg, {"oldTodos": [], "newTodos": inp["todos"]}, ABSENT
    if name == "WebSearch":
        text = filler(rng, chars)
        links = [
            {"title": filler(rng, 50), "url": f"https://example.org/{hex_id(rng, 10)}"}
            for _ in range(rng.randint(3, 10))
        ]
        tur = {
            "query": inp["query"],
            "results": [
                filler(rng, 80),
                {"tool_use_id": f"srvtoolu_01{hex_id(rng, 22)}", "content": links},
                text,
            ],
            "durationSeconds": internal / 1000.0,
            "searchCount": 1,
        }
        return f'Web search results for query: "{inp["query"]}"\n\n{text}', tur, ABSENT
    if name == "WebFetch":
        text = filler(rng, chars)
        tur = {
            "bytes": len(text) * 3,
            "code": 200,
            "codeText": "OK",
            "result": text,
            "durationMs": internal,
            "url": inp["url"],
        }
        # Results are sometimes a list of text blocks rather than a plain string.
        content: Any = [{"type": "text", "text": text}] if rng.random() < 0.5 else text
        return content, tur, ABSENT
    text = filler(rng, chars)  # any other tool of the profile
    return text, {"result": text}, ABSENT
