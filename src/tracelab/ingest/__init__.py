"""Uploads → analyzable traces: what the web app's Analyze (upload) page calls.

* `sniff` / `detect_kind` — what was uploaded, from its bytes (`UploadKind`).
* `archive.safe_extract` — session logs out of a .zip / .tar / .tar.gz, with no path escapes
  and caps on members, inflated sizes and compression ratio (`ArchiveLimits`).
* `layout` — where each extracted log goes so the collector reads it as on the user's machine.
* `pipeline.process_upload` — detect → extract → collect → sanitize → db build, with progress.

Every problem of the uploaded bytes is an `UploadRejected` with one line for the user.
"""

from tracelab.ingest.archive import ArchiveLimits, ExtractReport, safe_extract
from tracelab.ingest.errors import UploadRejected
from tracelab.ingest.pipeline import STAGES, IngestResult, ProgressFn, process_upload
from tracelab.ingest.sniff import Sniffed, UploadKind, detect_kind, sniff

__all__ = [
    "STAGES",
    "ArchiveLimits",
    "ExtractReport",
    "IngestResult",
    "ProgressFn",
    "Sniffed",
    "UploadKind",
    "UploadRejected",
    "detect_kind",
    "process_upload",
    "safe_extract",
    "sniff",
]
