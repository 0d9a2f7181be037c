"""Re-run every example of README.md and docs/*.md and put its real output back in place.

Why: the README and the command pages in docs/ promise real output for each command, and the
output changes whenever the synthetic generator or a report changes. This runs `tracelab demo`
in a scratch directory (fresh config and cache), then each plain code block whose lines start
with `$ ` — file by file in `PAGES` order (README.md first, then docs/), block by block, all in
the demo's folder so later examples see the files earlier ones wrote, 100 columns wide — and
rewrites the block with what the commands printed. A block with a language tag (```text,
```bash) is left alone: use it for output that cannot be re-run (a server, a pool). The scratch
path is replaced by `/home/me/TraceLab` so no machine path lands in the docs.

    uv run python scripts/refresh_readme_examples.py [--check] [--list] [PAGE ...]

`--check` writes nothing and reports which files would change, with a diff (exit 1 if any).
`--list` prints every example command, per file, without running anything. PAGE (e.g.
`docs/exports.md`) limits the run to those pages; the examples of the pages before them still
run first, so every example sees the same files as in a full run.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
#: The order the examples run in: a later page may read what an earlier one wrote.
PAGES = [
    "README.md",
    "docs/README.md",
    "docs/demo.md",
    "docs/usage.md",
    "docs/collect.md",
    "docs/synth.md",
    "docs/analyze.md",
    "docs/prices.md",
    "docs/serve.md",
    "docs/exports.md",
    "docs/pool.md",
    "docs/formats.md",
    "docs/performance.md",
]
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


def pages() -> list[Path]:
    """README.md and every docs/*.md page: `PAGES` first, in order, then any other page."""
    listed = [REPO / p for p in PAGES if (REPO / p).is_file()]
    rest = sorted(p for p in DOCS.glob("*.md") if p not in listed)
    return listed + rest


def examples(text: str) -> list[str]:
    """The `$ ` command lines of the example blocks of `text`."""
    lines = text.split("\n")
    return [
        line
        for first, last in _blocks(text)
        if lines[first].startswith("$ ")
        for line in lines[first:last]
        if line.startswith("$ ")
    ]


def setup(scratch: Path) -> tuple[str, Path, dict[str, str]]:
    """Run the demo in `scratch`; return its output, its folder (where examples run), the env."""
    env = _env(scratch)
    demo = _run("tracelab demo", scratch, env, scratch)
    workdir = scratch / "tracelab-demo"
    _example_inputs(workdir)
    return demo, workdir, env


def _example_inputs(workdir: Path) -> None:
    """The inputs the examples name besides the demo's files: the public dataset's sample
    (under its own name and the release's), an empty Parquet file and a folder (bad input)."""
    (workdir / "empty.parquet").touch()
    (workdir / "out").mkdir(exist_ok=True)
    if FIXTURES.is_dir():
        (workdir / "fixtures").symlink_to(FIXTURES)
        sample = FIXTURES / "public-dataset" / "public-trace.jsonl.gz"
        for name in ("public-trace.jsonl.gz", "syfi_coding_trace.jsonl.gz"):
            (workdir / name).symlink_to(sample)


def refresh(text: str, scratch: Path, demo: str, workdir: Path, env: dict[str, str]) -> str:
    """`text` with every example block re-run in `workdir` (and the demo's block replaced)."""
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


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="Report changes, write nothing.")
    parser.add_argument("--list", action="store_true", help="List the examples, run nothing.")
    parser.add_argument("pages", nargs="*", type=Path, help="Only these pages (default: all).")
    args = parser.parse_args()
    texts = {path: path.read_text(encoding="utf-8") for path in pages()}
    wanted = [p.resolve() for p in args.pages] or list(texts)
    unknown = [str(p) for p in wanted if p not in texts]
    if unknown:
        sys.exit(f"error: not a page with examples: {', '.join(unknown)}")
    if args.list:
        for path, text in texts.items():
            found = examples(text)
            print(f"{path.relative_to(REPO)}: {len(found)} example command(s)")
            for line in found:
                print(f"  {line}")
        return
    stale: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="tracelab-readme-") as tmp:
        scratch = Path(tmp)
        demo, workdir, env = setup(scratch)
        last = max(list(texts).index(p) for p in wanted)
        for path, text in list(texts.items())[: last + 1]:
            new = refresh(text, scratch, demo, workdir, env)
            if new == text or path not in wanted:
                continue
            stale.append(path)
            name = str(path.relative_to(REPO))
            if args.check:
                diff = difflib.unified_diff(
                    text.split("\n"), new.split("\n"), name, name + " (re-run)", lineterm=""
                )
                print("\n".join(diff))
            else:
                _write(path, new)
    names = ", ".join(str(p.relative_to(REPO)) for p in stale)
    if not stale:
        print("Examples are up to date (README.md and docs/).")
    elif args.check:
        print(f"Examples out of date in: {names}; run scripts/refresh_readme_examples.py")
        sys.exit(1)
    else:
        print(f"Examples refreshed in: {names}; review with `git diff`.")


if __name__ == "__main__":
    main()
