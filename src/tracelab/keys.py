"""The secret key behind the sanitizer's pseudonyms.

Pseudonyms are keyed hashes (HMAC-SHA256), so they are stable across runs and row orders — a
re-collected session gets the same ids — yet nobody without the key can recompute them from a
guessed user name or session id. The key therefore lives outside the data, in the user's config
directory, created on first use with owner-only permissions. A team that wants shared pseudonyms
across machines passes the same `--key-file` everywhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from tracelab.paths import config_dir

KEY_FILE_NAME = "sanitize.key"
KEY_BYTES = 32
MIN_KEY_BYTES = 16


class SanitizeKeyError(ValueError):
    """The key file is missing, unreadable, or holds too little key material."""


KeyError_ = SanitizeKeyError  # the name the CLI imports


def default_key_path() -> Path:
    """`$TRACELAB_CONFIG_DIR/sanitize.key`, else `${XDG_CONFIG_HOME:-~/.config}/tracelab/…`."""
    return config_dir().expanduser() / KEY_FILE_NAME


def _parse_key(data: bytes, path: Path) -> bytes:
    """Hex text (what we write) decodes to bytes; anything else is used as raw key material."""
    text = data.strip()
    try:
        material = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        material = text
    if len(material) < MIN_KEY_BYTES:
        raise SanitizeKeyError(
            f"{path}: holds {len(material)} bytes of key material, need at least "
            f"{MIN_KEY_BYTES} (e.g. 64 hex characters from `openssl rand -hex 32`)"
        )
    return material


def _read_key(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SanitizeKeyError(f"{path}: key file does not exist") from None
    except OSError as exc:
        raise SanitizeKeyError(f"{path}: cannot read key file ({exc.strerror or exc})") from None
    return _parse_key(data, path)


def _create_key(path: Path) -> None:
    """Write a fresh key beside `path`, then hard-link it into place: never a half-written key,
    and if two processes race, both end up using the one that got there first."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(KEY_BYTES).hex().encode("ascii") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first; use theirs
        except OSError:
            # Filesystems without hard links: fall back to an exclusive create + rename.
            if not path.exists():
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def load_or_create_key(key_file: Path | None = None) -> bytes:
    """Return the sanitizing key.

    With `key_file` (a shared key), that file must exist and hold at least 16 bytes of key
    material; it is never created. Without it, the per-user key file is read, or created with 32
    random bytes (hex, mode 0600) on first use.
    """
    if key_file is not None:
        return _read_key(Path(key_file).expanduser())
    path = default_key_path()
    if not path.exists():
        _create_key(path)
    return _read_key(path)
