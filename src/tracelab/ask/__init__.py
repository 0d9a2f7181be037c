"""`tracelab ask`: questions about a trace answered by an LLM with tools, always with evidence.

One module per job: `sandbox` (the locked read-only DuckDB every query runs in), `catalog`
(the metric tool over `metrics/`), `tools` (the two tools the model may call), `backends`
(OpenAI-compatible endpoints, the local llama.cpp model, a scripted test double), `loop`
(the conversation: turns, time limit, evidence), `charts` (when a result gets a chart).
"""
