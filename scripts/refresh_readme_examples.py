"""Re-run every example of README.md and put its real output back in place.

Why: the README promises real output for each command, and the output changes whenever the
synthetic generator or a report changes. This runs `tracelab demo` in a scratch directory
(fresh config and cache), then each README code block whose lines start with `$ ` — in order,
in the demo's folder, 100 columns wide — and rewrites the block with what the commands printed.
The scratch path is replaced by `/home/me/TraceLab` so no machine path lands in the README.

    uv run python scripts/refresh_readme_examples.py [--check]

`--check` only reports which blocks would change (exit 1 if any).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FIXTURES = REPO.parent / "shared" / "fixtures"
SHOWN_ROOT = "/home/me/TraceLab"


def _env(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        COLUMNS="100",
        TERM="dumb",
        NO_COLOR="1",
        TRACELAB_CONFIG_DIR=str(scratch / "config"),
        TRACELAB_CACHE_DIR=str(scratch / "cache"),
    )
    return env


def _run(command: str, cwd: Path, env: dict[str, str], scratch: Path) -> str:
    if command.startswith("tracelab "):  # the checkout's tracelab, wherever the example runs
        command = f"uv run --project {REPO} {command}"
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True)
    out = (done.stdout + done.stderr).replace(str(scratch), SHOWN_ROOT)
    return "\n".join(line.rstrip() for line in out.rstrip("\n").split("\n"))


def _strip_comment(line: str) -> str:
    """`$ cmd   # note` → `cmd` (the note stays in the README line, not in the command)."""
    return re.sub(r"\s+#\s.*$", "", line[2:]).strip()


def _blocks(text: str) -> list[tuple[int, int]]:
    """(first, last) line numbers of the body of every plain ``` block (no language tag)."""
    lines = text.split("\n")
    found, start = [], None
    for i, line in enumerate(lines):
        if line.startswith("```"):
            if start is None:
                start = i + 1 if line == "```" else -1  # -1: a fenced block with a language
            else:
                if start >= 0:
                    found.append((start, i))
                start = None
    return found


def refresh(text: str, scratch: Path) -> str:
    env = _env(scratch)
    demo = _run("tracelab demo", scratch, env, scratch)
    workdir = scratch / "tracelab-demo"
    if FIXTURES.is_dir():
        (workdir / "fixtures").symlink_to(FIXTURES)
    lines = text.split("\n")
    out: list[str] = []
    done = 0
    for first, last in _blocks(text):
        out += lines[done:first]
        body = lines[first:last]
        if body and body[0].startswith("─") and "TraceLab demo" in body[0]:
            out += demo.split("\n")  # the demo's own block
        elif body and body[0].startswith("$ "):
            for line in body:
                if line.startswith("$ "):
                    out.append(line)
                    printed = _run(_strip_comment(line), workdir, env, scratch)
                    if printed:
                        out += printed.split("\n")
        else:
            out += body
        done = last
    out += lines[done:]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="Report changes, write nothing.")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="tracelab-readme-") as tmp:
        new = refresh(text, Path(tmp))
    if new == text:
        print("README examples are up to date.")
        return
    if args.check:
        print("README examples are out of date; run scripts/refresh_readme_examples.py")
        sys.exit(1)
    README.write_text(new, encoding="utf-8")
    print("README examples refreshed; review with `git diff README.md`.")


if __name__ == "__main__":
    main()
