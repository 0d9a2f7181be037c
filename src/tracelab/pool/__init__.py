"""The contribution pool: developers donate sanitized traces, a maintainer runs the pool, and
releases of the public dataset are built from it.

One module per job: `faults` (the crash hook of the fault tests), `storage` (the pool folder,
its manifest and atomic commits), `validate` (decompression under caps, schema and allow-list
checks, the privacy audit), `fingerprint` (per-session dedup keys that survive re-keying),
`ingest` (a finished upload → a committed contribution), `uploads` (resumable chunked upload
sessions on disk), `access` (contributor tokens, rate limits, the audit log), `app` (the FastAPI
service), `stats`, `release`, `client` (`tracelab contribute`) and `cli`.
"""
