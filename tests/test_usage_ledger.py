"""The usage ledger and GET /api/usage (issue 16, point 4), through a real mitmdump with the official openai and
anthropic SDKs to the simulator: one row per exchange in SQLite (WAL) beside the config, or in PostgreSQL
(a private server started for the test, or skipped with the reason); the sums by model, provider, key and
client match the usage the simulator reported; tokens, keys and prompts are never stored; auth_tokens protect
the endpoint; a ledger that cannot be written never fails a request."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from datetime import datetime, timezone

import openai
import pytest

from addons.config import BridgeConfig, LedgerConfig
from addons.settings import BridgeSettings
from addons.usage.addon import Usage
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.postgres_server import postgres_server
from tests.usage_exchanges import (BRIDGE_TOKEN, GEMINI_KEY, PROMPT, chat, every_kind, get, messages, short_id,
                                   start_bridge, token_sums, usage_toml, wait_for)

KEY_IDS = {"claude": short_id(ANTHROPIC_KEY), "oai": short_id(OPENAI_KEY), "resp": short_id(OPENAI_KEY),
           "gem": short_id(GEMINI_KEY)}
SECRETS = (BRIDGE_TOKEN, ANTHROPIC_KEY, OPENAI_KEY, GEMINI_KEY, PROMPT)


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ledger")
    process = start_bridge(simulator, folder)
    process.folder = folder
    yield process
    process.stop()


def usage(base_url: str, **params) -> dict:
    response = get(base_url, "/api/usage", **params)
    assert response.status_code == 200, response.text
    return response.json()


def settled(base_url: str, requests: int, **params) -> dict:
    """The summary once the ledger's writer has written `requests` rows (it writes off the event loop)."""
    return wait_for(lambda: (lambda s: s if s["total"]["requests"] >= requests else None)(usage(base_url, **params))) \
        or usage(base_url, **params)


def expected_groups(done, key) -> dict:
    return {name: {"requests": sums["requests"], "errors": 0,
                   "tokens": {k: sums[k] for k in ("input", "output", "cache_read", "cache_write")}}
            for name, sums in token_sums(done, key).items()}


def by_name(summary: dict) -> dict:
    field = summary["group_by"]
    return {g[field]: {k: v for k, v in g.items() if k != field} for g in summary["groups"]}


def test_the_sums_match_the_usage_the_simulator_reported(bridge):
    since = time.time() - 0.001
    done = every_kind(bridge.base_url)
    summary = settled(bridge.base_url, len(done), group_by="model", since=since)
    assert by_name(summary) == expected_groups(done, lambda d: d.model)
    assert summary["total"]["requests"] == len(done) and summary["total"]["errors"] == 0
    assert summary["total"]["tokens"]["input"] == sum(d.tokens["input"] for d in done) > 0
    assert summary["total"]["tokens"]["output"] == sum(d.tokens["output"] for d in done) > 0

    assert by_name(usage(bridge.base_url, group_by="provider", since=since)) == expected_groups(done, lambda d: d.provider)
    assert by_name(usage(bridge.base_url, group_by="key", since=since)) == expected_groups(
        done, lambda d: KEY_IDS[d.provider])
    assert by_name(usage(bridge.base_url, group_by="client", since=since)) == expected_groups(
        done, lambda d: short_id(BRIDGE_TOKEN))
    # `since` as an ISO 8601 time gives the same; a later one, nothing
    iso = datetime.fromtimestamp(since, timezone.utc).isoformat()
    assert by_name(usage(bridge.base_url, group_by="model", since=iso)) == by_name(summary)
    later = usage(bridge.base_url, group_by="model", since=time.time() + 60)
    assert later["groups"] == [] and later["total"]["requests"] == 0


def test_errors_are_counted(bridge):
    since = time.time() - 0.001
    with pytest.raises(openai.BadRequestError):
        chat(bridge.base_url, "gpt-sim", text="[sim:error400]")
    messages(bridge.base_url, "claude-sim")
    summary = settled(bridge.base_url, 2, group_by="provider", since=since)
    groups = by_name(summary)
    assert groups["oai"]["requests"] == 1 and groups["oai"]["errors"] == 1
    assert groups["claude"]["requests"] == 1 and groups["claude"]["errors"] == 0
    assert summary["total"]["errors"] == 1


def test_the_sqlite_file_is_in_wal_mode_and_holds_no_secret(bridge):
    every_kind(bridge.base_url)
    path = bridge.folder / "llm-bridge-usage.sqlite"
    assert wait_for(lambda: path.exists())
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = wait_for(lambda: connection.execute(
            "SELECT client_token_id, key_id, provider, client_protocol, attempts, status, first_byte_seconds, "
            "duration_seconds FROM llm_bridge_usage").fetchall())
    assert rows
    assert {r[0] for r in rows} == {short_id(BRIDGE_TOKEN)}
    assert {r[1] for r in rows if r[5] == 200} <= set(KEY_IDS.values())
    assert all(r[4] >= 1 and r[6] is not None and r[7] >= r[6] for r in rows if r[5] == 200)
    for file in bridge.folder.glob("llm-bridge-usage.sqlite*"):  # the database, its WAL and shared memory
        data = file.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, (file.name, secret)


def test_auth_tokens_protect_the_usage_endpoint(bridge):
    assert get(bridge.base_url, "/api/usage", token=None).status_code == 401
    assert get(bridge.base_url, "/api/usage", token="wrong").status_code == 401
    assert get(bridge.base_url, "/api/usage", group_by="prompt").status_code == 400
    assert get(bridge.base_url, "/api/usage", since="yesterday").status_code == 400
    assert get(bridge.base_url, "/api/usage", group_by="key").status_code == 200


def test_a_ledger_that_cannot_be_written_never_fails_a_request(simulator, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    process = start_bridge(simulator, tmp_path, extra=f'[ledger]\npath = "{blocker}/usage.sqlite"\n')
    try:
        for _ in range(3):
            assert messages(process.base_url, "claude-sim").status == 200
        log = wait_for(lambda: (lambda text: text if "cannot be written" in text else None)(process.log()))
        assert log and log.count("usage ledger") >= 1 and log.count("cannot be written") == 1, process.log()[-2000:]
    finally:
        process.stop()


def test_the_default_place_of_the_ledger(tmp_path):
    settings = BridgeSettings()
    state = Usage(settings)
    settings.use(BridgeConfig(), source="environment")  # no config file: no ledger (nothing written unasked)
    state.configure_ledger()
    assert state.ledger is None
    config = tmp_path / "bridge.toml"
    settings.use(BridgeConfig(), source=str(config))  # a config file: beside it
    state.configure_ledger()
    try:
        assert state.ledger is not None and state.ledger.store.where == str(tmp_path / "llm-bridge-usage.sqlite")
    finally:
        state.close_ledger()
    settings.use(BridgeConfig(ledger=LedgerConfig(enabled=False)), source=str(config))
    state.configure_ledger()
    assert state.ledger is None
    settings.use(BridgeConfig(ledger=LedgerConfig(path="usage/ledger.db")), source=str(config))
    state.configure_ledger()
    try:
        assert state.ledger.store.where == str(tmp_path / "usage" / "ledger.db")
    finally:
        state.close_ledger()
    with pytest.raises(ValueError):
        LedgerConfig(path="a.sqlite", url="postgresql://x@localhost/db")


def test_postgresql(simulator, tmp_path):
    import psycopg

    with postgres_server() as url:
        config = usage_toml(simulator.base_url, extra=f'[ledger]\nurl = "{url}"\n')
        process = start_bridge(simulator, tmp_path, config_text=config)
        try:
            since = time.time() - 0.001
            done = every_kind(process.base_url)
            summary = settled(process.base_url, len(done), group_by="model", since=since)
            assert by_name(summary) == expected_groups(done, lambda d: d.model)
            assert by_name(usage(process.base_url, group_by="key", since=since)) == expected_groups(
                done, lambda d: KEY_IDS[d.provider])
            assert not (tmp_path / "llm-bridge-usage.sqlite").exists()
        finally:
            process.stop()
        with psycopg.connect(url) as connection:
            rows = connection.execute("SELECT * FROM llm_bridge_usage").fetchall()
        assert len(rows) == len(done)
        assert Counter(r[2] for r in rows) == Counter({short_id(BRIDGE_TOKEN): len(done)})
        text = repr(rows)
        for secret in SECRETS:
            assert secret not in text


ANTHROPIC_STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":12,'
    b'"output_tokens":1,"cache_read_input_tokens":3,"cache_creation_input_tokens":4}}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    b'"text":"a text about usage"}}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n')
GEMINI_STREAM = (
    b'data: {"candidates":[],"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":1}}\r\n\r\n'
    b'data: {"candidates":[],"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":9,'
    b'"cachedContentTokenCount":5}}\r\n\r\n')
RESPONSES_STREAM = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hi"}\n\n'
    b'event: response.completed\ndata: {"type":"response.completed","response":{"usage":{"input_tokens":30,'
    b'"input_tokens_details":{"cached_tokens":10},"output_tokens":6}}}\n\n')
CHAT_STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}\n\n'
    b'data: [DONE]\n\n')


@pytest.mark.parametrize("protocol, stream, expected", [
    ("anthropic", ANTHROPIC_STREAM, (12, 7, 3, 4)),
    ("gemini", GEMINI_STREAM, (15, 9, 5, 0)),
    ("openai-responses", RESPONSES_STREAM, (20, 6, 10, 0)),
    ("openai-chat", CHAT_STREAM, (10, 2, 1, 0)),
])
def test_a_passthrough_streams_usage_is_read_on_the_way_however_it_is_split(protocol, stream, expected):
    """Same protocol both sides: nothing is translated, but the usage the exchange log, the metrics and the
    ledger count is read from the events that mention it; the bytes go on unchanged."""
    from transforms.codecs import PASSTHROUGHS
    from transforms.passthrough import UsageReading

    passthrough = PASSTHROUGHS[protocol]
    body = {"stream": True, "stream_options": {"include_usage": True}, "alt_sse": True}
    for cut in range(len(stream) + 1):
        reading = UsageReading(passthrough.stream(body), passthrough.usage_of)
        out = reading.feed(stream[:cut]) + reading.feed(stream[cut:]) + reading.close()
        usage = reading.usage
        assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == expected
        assert out == stream  # (Chat's filter drops nothing here: the client asked for usage)
