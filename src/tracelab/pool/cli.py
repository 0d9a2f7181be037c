"""The pool's commands: `tracelab contribute` and `tracelab pool serve|token add|stats|release`.

Registered on the main app by `tracelab.cli`; heavy imports stay inside the commands.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

pool_app = typer.Typer(
    help="Run a contribution pool and build public dataset releases.", no_args_is_help=True
)
token_app = typer.Typer(help="Contributor tokens of a pool.", no_args_is_help=True)
pool_app.add_typer(token_app, name="token")

DirOption = Annotated[Path, typer.Option("--dir", help="The pool folder.")]


def _cli():
    from tracelab import cli

    return cli


def contribute(
    trace: Annotated[
        Path | None, typer.Argument(help="Your trace (.jsonl[.gz] or .parquet), private or not.")
    ] = None,
    to: Annotated[str, typer.Option("--to", help="The pool's URL.")] = "",
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help="Contributor token (or $TRACELAB_POOL_TOKEN).", show_default=False
        ),
    ] = None,
    withdraw: Annotated[
        Path | None, typer.Option("--withdraw", help="Withdraw the contribution of this receipt.")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="I consent to the CC BY 4.0 licence; no prompt.")
    ] = False,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="Pseudonym key (default: your own).")
    ] = None,
    receipt_out: Annotated[
        Path | None, typer.Option("--receipt", help="Save the receipt here.")
    ] = None,
    upload_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="What to send: parquet (checked several times faster by the pool) or jsonl "
            "(the release's JSONL.gz).",
        ),
    ] = "parquet",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Donate a sanitized trace to a pool (or withdraw a contribution with its receipt)."""
    from tracelab.keys import SanitizeKeyError, load_or_create_key
    from tracelab.pool.client import (
        FORMATS,
        ContributeError,
        PoolClient,
        default_token,
        load_receipt,
        prepare,
        save_receipt,
    )
    from tracelab.sanitize import SanitizeError

    cli = _cli()
    if not to:
        cli._fail("--to URL is required (the pool's address)")
    if upload_format not in FORMATS:
        cli._fail(f"--format must be one of {', '.join(FORMATS)}, not {upload_format!r}")
    if withdraw is not None:
        try:
            receipt = load_receipt(withdraw)
            with PoolClient(to, token or default_token()) as client:
                result = client.withdraw(receipt)
        except ContributeError as exc:
            cli._fail(str(exc), code=1)
        if as_json:
            cli._print_json(result)
        else:
            cli.console.print(
                f"withdrew {result['contribution_id']}: removed from the pool and from every "
                "later release"
            )
        return
    if trace is None:
        cli._fail("give a TRACE to contribute, or --withdraw RECEIPT")
    cli._check_input(trace)
    try:
        key = load_or_create_key(key_file)
    except SanitizeKeyError as exc:
        cli._fail(str(exc))
    with tempfile.TemporaryDirectory(prefix="tracelab-contribute-") as work:
        try:
            with cli.show.spinner("Sanitizing and auditing locally", quiet=as_json):
                prepared = prepare(trace, Path(work), key, upload_format)
        except SanitizeError as exc:
            cli._fail(str(exc).splitlines()[0], code=1)
        preview = prepared.preview()
        if not as_json:
            _show_preview(cli.console, preview)
        if not yes:
            if as_json:
                cli._fail("--json needs --yes (consent cannot be prompted)")
            if not typer.confirm(
                "Contribute these rows under the dataset's licence, CC BY 4.0?", default=False
            ):
                cli._fail("not contributed (no consent)", code=1)
        try:
            with (
                PoolClient(to, token or default_token()) as client,
                _progress(quiet=as_json) as progress,
            ):
                receipt = client.contribute(prepared, progress)
        except ContributeError as exc:
            cli._fail(str(exc), code=1)
    saved = None
    if receipt.get("contribution_id") and receipt.get("withdrawal_token"):
        saved = save_receipt(receipt, to, receipt_out)
    if as_json:
        cli._print_json(
            {
                "preview": {**preview, "sample_row": None},
                "receipt": receipt,
                "receipt_file": str(saved) if saved else None,
            }
        )
        return
    _show_receipt(cli.console, receipt, saved)


def _show_preview(console, preview: dict[str, Any]) -> None:
    import orjson
    from rich.markup import escape

    first, last = preview["window"]
    console.print("[bold]What will be sent[/] (sanitized and audited on this machine):")
    console.print(f"  rows      {preview['rows']:,}")
    console.print(f"  sessions  {preview['sessions']:,}")
    console.print(f"  window    {first or '-'} → {last or '-'}")
    models = ", ".join(f"{m} ({n:,})" for m, n in preview["models"].items())
    console.print(f"  models    {escape(models)}", soft_wrap=True)
    console.print(f"  fields    {', '.join(preview['fields'])}", soft_wrap=True)
    kind = {"parquet": "Parquet", "jsonl": "JSONL.gz"}[preview["format"]]
    console.print(f"  bytes     {preview['bytes']:,} ({kind}), sha256 {preview['sha256'][:16]}…")
    sample = orjson.dumps(preview["sample_row"]).decode()
    console.print(
        f"  sample    {escape(sample[:600])}{'…' if len(sample) > 600 else ''}", soft_wrap=True
    )


def _show_receipt(console, receipt: dict[str, Any], saved: Path | None) -> None:
    if receipt.get("duplicate_upload"):
        console.print(
            f"already in the pool: these exact bytes are contribution "
            f"{receipt['contribution_id']} (nothing was added)"
        )
    elif receipt.get("contribution_id") is None:
        console.print(
            f"nothing added: all {receipt['sessions_in_pool']} sessions are already in the pool"
        )
        return
    else:
        console.print(
            f"contribution {receipt['contribution_id']}: {receipt['rows_accepted']:,} rows "
            f"accepted, {receipt['sessions_new']:,} new sessions, "
            f"{receipt['sessions_in_pool']:,} already in the pool"
        )
    if saved is not None:
        console.print(f"receipt (with your withdrawal token): {saved}")


class _progress:
    """A Rich bar of bytes uploaded (nothing with --json)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None

    def __enter__(self):
        if self.quiet:
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        self.bar = Progress(
            "Uploading", BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True
        )
        self.bar.__enter__()
        task = self.bar.add_task("upload", total=None)

        def update(done: int, total: int) -> None:
            self.bar.update(task, completed=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@pool_app.command("serve")
def pool_serve(
    pool_dir: DirOption,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8770,
    open_mode: Annotated[
        bool,
        typer.Option("--open", help="Accept contributions without a token (per-address limits)."),
    ] = False,
    max_uploads: Annotated[
        int, typer.Option("--max-uploads", help="Uploads received at the same time.")
    ] = 16,
    address_rate: Annotated[
        float, typer.Option("--address-rate", help="Requests per second per address.")
    ] = 20.0,
    open_uploads_per_hour: Annotated[
        int,
        typer.Option("--open-uploads-per-hour", help="Open mode: uploads per address per hour."),
    ] = 20,
) -> None:
    """Run the pool service: chunked uploads, validation, dedup, atomic commits."""
    from tracelab.pool.access import AccessPolicy
    from tracelab.pool.server import serve_pool
    from tracelab.pool.storage import PoolError

    cli = _cli()
    policy = AccessPolicy(
        open_mode=open_mode,
        address_rate=address_rate,
        address_burst=max(address_rate * 20, 1.0),
        open_uploads_per_hour=open_uploads_per_hour,
    )
    try:
        serve_pool(
            pool_dir,
            host=host,
            port=port,
            policy=policy,
            max_uploads=max_uploads,
            say=lambda text: cli.console.print(text, soft_wrap=True, markup=False),
        )
    except PoolError as exc:
        cli._fail(str(exc))


@token_app.command("add")
def token_add(
    name: Annotated[str, typer.Argument(help="Who the token is for.")],
    pool_dir: DirOption,
) -> None:
    """Issue a contributor token (shown once; the pool keeps only its hash)."""
    from tracelab.pool.access import TokenError, Tokens
    from tracelab.pool.storage import Pool

    cli = _cli()
    try:
        token = Tokens(Pool(pool_dir).root).add(name)
    except TokenError as exc:
        cli._fail(str(exc))
    cli.console.print(f"token for {name} (shown once; the pool stores only its hash):")
    print(token)


@pool_app.command("stats")
def pool_stats_command(
    pool_dir: DirOption,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Contributors, sessions, steps, window, models and rows per contribution."""
    from tracelab.pool.stats import pool_stats
    from tracelab.pool.storage import Pool, PoolError

    cli = _cli()
    try:
        stats = pool_stats(Pool(pool_dir, create=False))
    except PoolError as exc:
        cli._fail(str(exc))
    if as_json:
        cli._print_json(stats)
        return
    c = cli.console
    first, last = stats["window"]
    c.print(f"contributions  {stats['contributions']:,} ({stats['withdrawn']:,} withdrawn)")
    c.print(f"contributors   {stats['contributors']:,}  (users: {stats['users']:,})")
    c.print(f"sessions       {stats['sessions']:,}")
    c.print(f"steps          {stats['steps']:,}  (tool calls: {stats['tool_calls']:,})")
    c.print(f"window         {first or '-'} → {last or '-'}")
    models = ", ".join(f"{m} {n:,}" for m, n in stats["models"].items()) or "-"
    c.print(f"models         {models}", soft_wrap=True, markup=False)
    for e in stats["per_contribution"]:
        c.print(
            f"  {e['id']}  {e['committed_at']}  {e['rows']:>8,} rows  {e['sessions']:>5,} sessions"
        )


@pool_app.command("release")
def pool_release(
    pool_dir: DirOption,
    version: Annotated[str, typer.Option("--version", help="Release version, e.g. v0.1.0.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Release folder to write.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Write the release assets: JSONL.gz, DuckDB, DATASHEET.md, SHA256SUMS."""
    from tracelab.pool.release import build_release
    from tracelab.pool.storage import PoolError

    cli = _cli()
    try:
        with cli.show.spinner(f"Building release {version}", quiet=as_json):
            report = build_release(pool_dir, version, output)
    except (PoolError, ValueError) as exc:
        cli._fail(str(exc))
    if as_json:
        cli._print_json(report.to_json())
        return
    c = cli.console
    c.print(
        f"release {version} in {output}: {report.rows:,} steps, {report.sessions:,} sessions, "
        f"{report.contributions:,} contributions from {report.contributors:,} contributors "
        f"({report.withdrawn:,} withdrawn excluded)",
        soft_wrap=True,
        markup=False,
    )
    for name, digest in sorted(report.files.items()):
        c.print(f"  {digest}  {name}", markup=False)
