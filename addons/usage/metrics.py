"""Prometheus metrics, served at `GET /metrics` in the text exposition format.

Each bridge process keeps its metrics in a private `CollectorRegistry` (never prometheus_client's global
default registry: nothing leaks between bridges in one process, or between tests). When the environment
variable `PROMETHEUS_MULTIPROC_DIR` names a directory (the cluster command sets it for its workers; it must
be set before the process starts and be empty at first start), prometheus_client's multiprocess mode is
used instead: every worker writes its values to files there, and `/metrics` on any worker answers the sums
over all of them (the open-streams gauge counts live workers only).

The relay reports through the same object (`RelayObserver`): each failed upstream attempt and each answer
that broke off, each retry; the refresh-token credentials report each refresh they made.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

from addons.upstream.relay import RelayObserver
from addons.usage.exchange import Exchange

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
FIRST_BYTE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
MAX_CACHED = 4096  # kinds of exchange whose series are kept at hand (a client may name any model)
TOKEN_KINDS = (("input", "input_tokens"), ("output", "output_tokens"), ("cache_read", "cache_read_tokens"),
               ("cache_write", "cache_write_tokens"))


class Metrics(RelayObserver):
    def __init__(self, multiproc_dir: str | None = None) -> None:
        self.multiproc_dir = multiproc_dir if multiproc_dir is not None else os.environ.get(MULTIPROC_ENV) or None
        # multiprocess: the values live in files (prometheus_client chose its value class at import, from the
        # same variable); the metrics then belong to no registry, and each scrape collects the files
        self.registry = CollectorRegistry()
        target = None if self.multiproc_dir else self.registry
        self.requests = Counter(
            "llm_bridge_requests", "Exchanges finished, by client protocol, provider, upstream model and the "
            "client's status ('failed': no answer)", ["client_protocol", "provider", "model", "status"], registry=target)
        self.first_byte = Histogram(
            "llm_bridge_time_to_first_byte_seconds", "From the client's request to the answer's first byte",
            ["client_protocol", "provider"], buckets=FIRST_BYTE_BUCKETS, registry=target)
        self.duration = Histogram(
            "llm_bridge_request_duration_seconds", "From the client's request to the answer's last byte",
            ["client_protocol", "provider"], buckets=DURATION_BUCKETS, registry=target)
        self.tokens = Counter(
            "llm_bridge_tokens", "Tokens the upstreams reported, by kind: input, output, cache_read, cache_write",
            ["provider", "model", "kind"], registry=target)
        self.upstream_errors = Counter(
            "llm_bridge_upstream_errors", "Failed upstream attempts and answers that broke off after their head, by "
            "kind: timeout, connect, broken, 4xx, 429, 5xx",
            ["provider", "kind"], registry=target)
        self.retries = Counter("llm_bridge_retries", "Upstream attempts made again after a failed one", ["provider"],
                               registry=target)
        self.refreshes = Counter("llm_bridge_refreshes", "Access-token refreshes this bridge made at a provider's token "
                                 "endpoint, before expiry or after a 401", ["provider"],
                                 registry=target)
        self.open_streams = Gauge("llm_bridge_open_streams", "Streamed answers in flight", registry=target,
                                  multiprocess_mode="livesum")
        self._children: dict[tuple, tuple] = {}  # (protocol, provider, model, status) -> its labelled series

    # --- an exchange ---

    def exchange(self, exchange: Exchange) -> None:
        protocol, provider = exchange.client_protocol, exchange.provider
        status = "failed" if exchange.status is None or (exchange.failed and exchange.status < 400) else str(exchange.status)
        children = self._children.get((protocol, provider, exchange.upstream_model, status))
        if children is None:
            children = self._children_of(protocol, provider, exchange.upstream_model, status)
        requests, first_byte, duration, tokens = children
        requests.inc()
        if exchange.first_byte_s is not None:
            first_byte.observe(exchange.first_byte_s)
        if exchange.duration_s is not None:
            duration.observe(exchange.duration_s)
        for (_, field), counter in zip(TOKEN_KINDS, tokens):
            value = getattr(exchange, field)
            if value:
                counter.inc(value)

    def _children_of(self, protocol: str, provider: str, model: str, status: str) -> tuple:
        """The labelled series one kind of exchange adds to, looked up once (prometheus_client's `labels()`
        checks and converts its values at every call: a few µs each, five per exchange)."""
        if len(self._children) >= MAX_CACHED:
            self._children.clear()
        children = (self.requests.labels(protocol, provider, model, status),
                    self.first_byte.labels(protocol, provider), self.duration.labels(protocol, provider),
                    tuple(self.tokens.labels(provider, model, kind) for kind, _ in TOKEN_KINDS))
        self._children[(protocol, provider, model, status)] = children
        return children

    def stream_opened(self) -> None:
        self.open_streams.inc()

    def stream_closed(self) -> None:
        self.open_streams.dec()

    # --- the relay (RelayObserver) ---

    def upstream_error(self, provider: str, kind: str) -> None:
        self.upstream_errors.labels(provider, kind).inc()

    def retried(self, provider: str) -> None:
        self.retries.labels(provider).inc()

    def refreshed(self, provider: str) -> None:
        self.refreshes.labels(provider).inc()

    # --- GET /metrics ---

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of this process's metrics, or of every worker's in multiprocess mode."""
        if self.multiproc_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)
        else:
            registry = self.registry
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """This process's live gauge leaves the sums (multiprocess mode)."""
        if self.multiproc_dir:
            try:
                multiprocess.mark_process_dead(os.getpid(), self.multiproc_dir)
            except OSError:
                pass
