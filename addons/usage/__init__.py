"""What the bridge counts: Prometheus metrics (`GET /metrics`) and the usage ledger (`GET /api/usage`).

- `exchange`: the facts of one finished exchange, read from the flow and its `llm_bridge` metadata (the
  same source as the exchange log line): protocol, provider, model, key id, status, usage, timings, attempts.
- `metrics`: the Prometheus counters, histograms and gauge, in a private registry (or prometheus_client's
  multiprocess mode under `PROMETHEUS_MULTIPROC_DIR`); also the relay's observer (errors, retries, refreshes).
- `ledger`: one row per exchange in SQLite (WAL) or PostgreSQL, written by a thread off the event loop.
- `addon`: the two addons: `UsageEndpoints` (before the bridge: the client token's id, the two endpoints)
  and `UsageRecorder` (after it: open streams, and each finished exchange to the metrics and the ledger).
"""
