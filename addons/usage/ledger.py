"""The usage ledger: one row per finished exchange, in SQLite (one file, WAL) or PostgreSQL.

A row holds when, who (the bridge token's id), what (client protocol, provider, upstream model, the key's
id), how it went (status, tokens in / out / cache read / cache write, time to first byte, duration,
attempts): never a prompt, an answer, a token or a key. Rows are written by one thread per process from a
bounded queue, in batches, so a slow or broken database never slows or fails a client's request: a failure
is logged once (and its recovery), rows that cannot be written are dropped. The writer gathers a batch for
`LINGER_S` after its first row: under load one transaction (and one wake-up of the thread) per batch rather
than per row; a row is in the database within a quarter of a second (a process killed outright loses at
most that).

SQLite in WAL mode lets the workers of one host write the same file (each waits up to 10 s for the lock);
PostgreSQL (psycopg 3) serves any number of hosts. `summary` answers `GET /api/usage`.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from addons.usage.exchange import Exchange

log = logging.getLogger(__name__)

TABLE = "llm_bridge_usage"
DEFAULT_FILE = "llm-bridge-usage.sqlite"
QUEUE_LIMIT = 10_000  # rows waiting for the writer; beyond, rows are dropped (and that is logged once)
BATCH = 500
SCHEMA_LOCK = 0x6C6C6D62  # "llmb": PostgreSQL's advisory lock for creating the table
LINGER_S = 0.25  # after a batch's first row, how long the writer gathers more before one transaction
COLUMNS = ("time", "client_token_id", "client_protocol", "provider", "upstream_model", "key_id", "status", "error",
           "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "first_byte_seconds",
           "duration_seconds", "attempts")
GROUPS = {"model": "upstream_model", "provider": "provider", "key": "key_id", "client": "client_token_id"}
SCHEMA = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id {{id}},
    time DOUBLE PRECISION NOT NULL,       -- unix seconds: the client's request arrived
    client_token_id TEXT,                 -- first 12 hex of the bridge token's SHA-256 (NULL: no token)
    client_protocol TEXT NOT NULL,        -- openai-chat, openai-responses, anthropic, gemini
    provider TEXT NOT NULL,               -- the provider's name ('' when refused before routing)
    upstream_model TEXT NOT NULL,
    key_id TEXT,                          -- first 12 hex of the upstream key's SHA-256 (NULL: no key)
    status INTEGER,                       -- the client's HTTP status (NULL: no answer)
    error INTEGER NOT NULL,               -- 1: status >= 400, no answer, or broken off
    input_tokens BIGINT,
    output_tokens BIGINT,
    cache_read_tokens BIGINT,
    cache_write_tokens BIGINT,
    first_byte_seconds DOUBLE PRECISION,
    duration_seconds DOUBLE PRECISION,
    attempts INTEGER NOT NULL
)"""
INDEX = f"CREATE INDEX IF NOT EXISTS {TABLE}_time ON {TABLE} (time)"


def row(exchange: Exchange) -> tuple:
    return (exchange.time, exchange.client_token_id, exchange.client_protocol, exchange.provider,
            exchange.upstream_model, exchange.key_id, exchange.status, int(exchange.error), exchange.input_tokens,
            exchange.output_tokens, exchange.cache_read_tokens, exchange.cache_write_tokens, exchange.first_byte_s,
            exchange.duration_s, exchange.attempts)


def parse_since(value: str | None) -> float:
    """`since`: unix seconds, or an ISO 8601 time (without a zone: UTC). Raises ValueError."""
    if value is None or value == "":
        return 0.0
    try:
        return float(value)
    except ValueError:
        pass
    text = value.strip()
    if "T" in text and " " in text:  # a zone's "+" left unescaped in the query string arrives as a space
        text = text.replace(" ", "+")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


# --- the stores: one connection each, used by one thread -----------------------------------------------

class SqliteStore:
    placeholder = "?"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)

    def connect(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10)
        connection.execute("PRAGMA journal_mode=WAL")  # readers and the workers' writers side by side
        connection.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps it consistent
        connection.execute(SCHEMA.format(id="INTEGER PRIMARY KEY"))
        connection.execute(INDEX)
        connection.commit()
        return connection


class PostgresStore:
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = _without_password(url)

    def connect(self):
        import psycopg  # only when configured

        connection = psycopg.connect(self.url, connect_timeout=10, application_name="llm-bridge", autocommit=True)
        with connection.transaction():
            # CREATE ... IF NOT EXISTS races with itself in PostgreSQL (two sessions both see no table, one fails
            # on a unique index): the workers and hosts that start together, and a reader beside the writer,
            # take turns under a transaction-level advisory lock
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            connection.execute(SCHEMA.format(id="BIGSERIAL PRIMARY KEY"))
            connection.execute(INDEX)
        return connection


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}@{host}"


def store_for(path: str | None, url: str | None):
    if url:
        if url.startswith("env:"):
            name = url[4:]
            url = os.environ.get(name, "")
            if not url:
                raise ValueError(f"[ledger] url: the environment variable {name} is not set")
        if url.startswith("sqlite:///"):
            return SqliteStore(url[len("sqlite:///"):])  # sqlite:///relative, sqlite:////absolute
        return PostgresStore(url)
    return SqliteStore(path)


# --- the ledger ------------------------------------------------------------------------------------------

class Ledger:
    def __init__(self, store) -> None:
        self.store = store
        self._queue: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self._failing = False  # the last write failed (logged once, until one succeeds)
        self._dropped_logged = False
        self._thread = threading.Thread(target=self._write, name="llm-bridge-ledger", daemon=True)
        self._thread.start()

    def record(self, exchange: Exchange) -> None:
        """Never blocks, never raises: the row goes to the writer's queue, or is dropped when it is full."""
        try:
            self._queue.put_nowait(row(exchange))
        except queue.Full:
            if not self._dropped_logged:
                self._dropped_logged = True
                log.warning(f"llm-bridge: the usage ledger ({self.store.where}) is {QUEUE_LIMIT} rows behind; "
                            "rows are dropped until it catches up")

    def close(self, timeout: float = 5.0) -> None:
        """The rows queued so far are written (within `timeout`), then the writer stops."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    # the writer thread

    def _write(self) -> None:
        connection = None
        insert = (f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES "
                  f"({', '.join([self.store.placeholder] * len(COLUMNS))})")
        while True:
            first = self._queue.get()
            rows, stop = [], first is None
            if first is not None:
                rows.append(first)
                time.sleep(LINGER_S)  # (asleep, not waiting on the queue: a row put meanwhile wakes nobody)
            while len(rows) < BATCH and not stop:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    rows.append(item)
            try:
                if rows:
                    if connection is None:
                        connection = self.store.connect()
                    _insert(connection, insert, rows)
                    if self._failing:
                        self._failing = False
                        log.info(f"llm-bridge: the usage ledger ({self.store.where}) is written again")
                    self._dropped_logged = False
            except Exception as exc:  # noqa: BLE001 - the ledger never fails a request, nor stops
                if not self._failing:
                    self._failing = True
                    log.warning(f"llm-bridge: the usage ledger ({self.store.where}) cannot be written: "
                                f"{type(exc).__name__}: {exc}; its rows are dropped until it can")
                connection = _closed(connection)
            finally:
                for _ in range(len(rows) + (1 if stop else 0)):
                    self._queue.task_done()
            if stop:
                _closed(connection)
                return

    # GET /api/usage (called in a worker thread: asyncio.to_thread)

    def summary(self, group_by: str, since: float) -> dict:
        column = GROUPS[group_by]
        p = self.store.placeholder
        query = (f"SELECT {column}, COUNT(*), SUM(error), SUM(input_tokens), SUM(output_tokens), "
                 f"SUM(cache_read_tokens), SUM(cache_write_tokens) FROM {TABLE} WHERE time >= {p} "
                 f"GROUP BY {column} ORDER BY {column}")
        connection = self.store.connect()
        try:
            rows = connection.execute(query, (since,)).fetchall()
        finally:
            connection.close()
        groups = [_sums({group_by: name}, values) for name, *values in rows]
        total = _sums({}, [sum(int(g[f]) for g in groups) for f in ("requests", "errors")]
                      + [sum(g["tokens"][k] for g in groups) for k in ("input", "output", "cache_read", "cache_write")])
        return {"group_by": group_by, "since": since, "groups": groups, "total": total}


def _sums(head: dict, values) -> dict:
    requests, errors, tokens_in, tokens_out, cache_read, cache_write = (int(v or 0) for v in values)
    return {**head, "requests": requests, "errors": errors,
            "tokens": {"input": tokens_in, "output": tokens_out, "cache_read": cache_read, "cache_write": cache_write}}


def _insert(connection, insert: str, rows: list[tuple]) -> None:
    if isinstance(connection, sqlite3.Connection):
        with connection:
            connection.executemany(insert, rows)
        return
    with connection.transaction():
        with connection.cursor() as cursor:
            cursor.executemany(insert, rows)


def _closed(connection) -> None:
    if connection is not None:
        try:
            connection.close()
        except Exception:  # noqa: BLE001
            pass
    return None
