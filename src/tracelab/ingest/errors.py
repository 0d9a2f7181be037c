"""`UploadRejected` for the ingest package (defined in `tracelab.rejection`, which the pool
server imports without loading this package's archive and sniffing code)."""

from tracelab.rejection import UploadRejected, human_bytes

__all__ = ["UploadRejected", "human_bytes"]
