"""Shared state across workers (issue 16, point 2): key cool-downs, the round robin and refresh-token rotation
through a real redis-server (tests/redis_server.py), between real `mitmdump -s addons/bridge.py` processes;
and what happens when Redis goes away mid-load."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import zlib

import httpx
import orjson
import pytest
import redis as redis_sync

from addons.credentials.key_pool import KeyPool
from addons.credentials.token_file import StoreEntry, TokenSet
from addons.state.local import LocalState
from addons.state import redis_store
from addons.state.redis_store import RedisState
from addons.state.store import pool_scope
from tests.bridge_process import BridgeProcess, free_port
from tests.credential_fixtures import DROID_REFRESH, CredentialUpstreams, KillAtIssue, credentials_toml, start_bridge
from tests.redis_server import RedisServer
from tests.simulator.flaky import flaky_simulator
from tests.test_credential_rotation import CHAT, KillOnFirstUse, _burst, expired_store

KEYS = ["sk-shared-first", "sk-shared-second"]


@pytest.fixture
def redis_server(tmp_path):
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def flaky():
    with flaky_simulator(None, None, strict_turns=False) as running:
        yield running


def keys_toml(sim_url: str, redis_url: str | None) -> str:
    state = f'[state]\nredis_url = "{redis_url}"\n' if redis_url else ""
    return f"""{state}
[retries]
attempts = 1

[[providers]]
name = "two"
protocol = "openai-chat"
base_url = "{sim_url}/flaky/two/v1"
api_keys = {orjson.dumps(KEYS).decode()}

[[providers]]
name = "rr"
protocol = "anthropic"
base_url = "{sim_url}/flaky/rr"
api_keys = {orjson.dumps(KEYS).decode()}
"""


def key_bridges(folder, sim, redis_url: str | None, n: int = 2) -> list[BridgeProcess]:
    config = folder / "keys.toml"
    config.write_text(keys_toml(sim.base_url, redis_url))
    started = [BridgeProcess(f"--set=bridge_config={config}", log_path=folder / f"bridge-{i}.log", env=dict(os.environ))
               for i in range(n)]  # (started together: each takes seconds to import)
    try:
        return [bridge.wait_ready(60) for bridge in started]
    except BaseException:
        for bridge in started:
            bridge.stop()
        raise


def session_for(key_index: int) -> str:
    """A session name whose affinity (CRC-32 over the keys) is KEYS[key_index]."""
    return next(f"ses_{n}" for n in range(100) if zlib.crc32(f"ses_{n}".encode()) % 2 == key_index)


def chat(bridge: BridgeProcess, session: str, client: httpx.Client | None = None) -> httpx.Response:
    return (client or httpx).post(bridge.base_url + "/v1/chat/completions", timeout=30, headers={"x-session-id": session},
                                  json={"model": "two/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


def count_tokens(bridge: BridgeProcess, client: httpx.Client | None = None) -> httpx.Response:
    return (client or httpx).post(bridge.base_url + "/v1/messages/count_tokens", timeout=30, json={
        "model": "rr/claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]})


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --- two bridges, one Redis ---------------------------------------------------------------------------------

def test_a_key_answered_429_on_one_bridge_rests_on_the_other(tmp_path, redis_server, flaky):
    sim, front = flaky
    a, b = key_bridges(tmp_path, sim, redis_server.url)
    try:
        session = session_for(0)
        front.script("two", ["429"])
        assert chat(a, session).status_code == 429  # (retries off: the 429 reaches the client, the key rests)
        assert front.credentials["two"] == [f"Bearer {KEYS[0]}"]
        assert wait_for(lambda: redis_sync.Redis.from_url(redis_server.url).hlen("llm-bridge:cooling") == 1)
        time.sleep(0.1)  # (pub/sub: heard within a millisecond or so)
        answer = chat(b, session)  # the same conversation on the other bridge: its key rests there too
        assert answer.status_code == 200, answer.text
        assert front.credentials["two"] == [f"Bearer {KEYS[0]}", f"Bearer {KEYS[1]}"]
        # a bridge started after the rest reads it from Redis when it connects
        (tmp_path / "late").mkdir()
        late = key_bridges(tmp_path / "late", sim, redis_server.url, 1)[0]
        try:
            assert wait_for(lambda: chat(late, session).status_code == 200 and front.credentials["two"][-1] == f"Bearer {KEYS[1]}", 3)
        finally:
            late.stop()
    finally:
        a.stop()
        b.stop()


def test_without_redis_each_bridge_keeps_its_own_cool_downs(tmp_path, flaky):
    sim, front = flaky
    a, b = key_bridges(tmp_path, sim, None)
    try:
        session = session_for(0)
        front.script("two", ["429"])
        assert chat(a, session).status_code == 429
        assert chat(b, session).status_code == 200
        assert front.credentials["two"] == [f"Bearer {KEYS[0]}", f"Bearer {KEYS[0]}"]  # (the contrast)
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "per-process"])
def test_the_round_robin_is_shared(tmp_path, redis_server, flaky, shared):
    sim, front = flaky
    a, b = key_bridges(tmp_path, sim, redis_server.url if shared else None)
    try:
        front.script("rr", [])
        for bridge in [a, b, a, b, a, b]:  # calls without a conversation name: the round robin
            assert count_tokens(bridge).status_code == 200
    finally:
        a.stop()
        b.stop()
    used = [c.removeprefix("Bearer ") for c in front.credentials["rr"]]
    if shared:
        assert used == [KEYS[0], KEYS[1]] * 3  # alternating across the bridges
    else:
        assert used == [KEYS[0], KEYS[0], KEYS[1], KEYS[1], KEYS[0], KEYS[0]]  # each bridge its own turn


def test_fifty_concurrent_requests_across_two_hosts_make_one_refresh(tmp_path, redis_server):
    """Two bridges, each with its own token file (two hosts), one Redis: exactly one refresh."""
    with CredentialUpstreams(workos_delay_s=0.5) as up:
        bridges = []
        for name in ("host-a", "host-b"):
            store = tmp_path / name / "store.json"
            expired_store(store)
            toml = f'[state]\nredis_url = "{redis_server.url}"\n' + credentials_toml(up.base_url, store, trae=False)
            bridges.append(start_bridge(tmp_path, toml, name=name))
        try:
            answers = asyncio.run(_burst([b.base_url for b in bridges], 50))
        finally:
            for bridge in bridges:
                bridge.stop()
        assert [a.status_code for a in answers] == [200] * 50
        assert up.workos.calls == 1
        assert up.workos.reused_refresh_tokens == []
        newest = up.workos.issued[-1]["refresh_token"]
        stored = redis_sync.Redis.from_url(redis_server.url).hgetall("llm-bridge:tokens:factory")
        assert orjson.loads(stored[b"tokens"])["refresh_token"] == newest and int(stored[b"gen"]) >= 1
        for name in ("host-a", "host-b"):  # each host's file keeps the newest token too
            assert orjson.loads((tmp_path / name / "store.json").read_bytes())["credentials"]["factory"]["refresh_token"] == newest


def test_sigkill_after_a_refresh_loses_no_token_and_another_host_goes_on_with_it(tmp_path, redis_server):
    with CredentialUpstreams() as up:
        killer = KillOnFirstUse(up)  # SIGKILLs the bridge at the first use of the new access token
        up.sim.fronts.insert(0, killer)
        toml = {}
        for name in ("killed", "other"):
            store = tmp_path / name / "store.json"
            expired_store(store)  # the other host's file: the original token, spent by the killed bridge
            toml[name] = f'[state]\nredis_url = "{redis_server.url}"\n' + credentials_toml(up.base_url, store, trae=False)
        bridge = start_bridge(tmp_path, toml["killed"], name="killed")
        killer.pid = bridge.process.pid
        with pytest.raises(httpx.HTTPError):
            httpx.post(bridge.base_url + "/v1/chat/completions", json=CHAT, timeout=30)
        bridge.process.wait(10)
        bridge.stop()
        assert killer.killed
        rotated = up.workos.issued[-1]["refresh_token"]
        stored = redis_sync.Redis.from_url(redis_server.url).hgetall("llm-bridge:tokens:factory")
        assert orjson.loads(stored[b"tokens"])["refresh_token"] == rotated  # stored before its access token was used
        assert redis_sync.Redis.from_url(redis_server.url).get("llm-bridge:lock:factory") is None  # released or expired

        # the other host never saw the rotation in its file; Redis has it. Force a refresh with it.
        up.sim.fronts.remove(killer)
        up.workos.revoke_access_tokens()
        other = start_bridge(tmp_path, toml["other"], name="other")
        try:
            answer = httpx.post(other.base_url + "/v1/chat/completions", json=CHAT, timeout=30)
        finally:
            other.stop()
        assert answer.status_code == 200, answer.text
        assert up.workos.calls == 2 and up.workos.reused_refresh_tokens == []


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "per-process"])
def test_an_output_item_minted_on_one_bridge_is_found_by_the_other(tmp_path, redis_server, simulator, shared):
    """A Responses client (the official SDK) whose next turn lands on the other worker refers to the first
    answer's items by id (the Vercel AI SDK's default): through Redis the other worker finds them; alone, it
    answers a 400 naming the id (the contrast)."""
    import openai

    from tests.conftest import OPENAI_KEY, bridge_toml
    from tests.test_item_references import WEATHER

    state = f'[state]\nredis_url = "{redis_server.url}"\n' if shared else ""
    (tmp_path / "bridge.toml").write_text(state + bridge_toml(simulator.base_url))
    started = [BridgeProcess(f"--set=bridge_config={tmp_path / 'bridge.toml'}", log_path=tmp_path / f"bridge-{i}.log",
                             env={**os.environ, "SIM_OPENAI_KEY": OPENAI_KEY}) for i in range(2)]
    try:
        a, b = (bridge.wait_ready(60) for bridge in started)
        first = openai.OpenAI(base_url=a.base_url + "/v1", api_key="x", max_retries=0)
        output = first.responses.create(model="claude-sim", input="[sim:tools]", tools=[WEATHER]).output
        calls = [item for item in output if item.type == "function_call"]
        follow = [{"role": "user", "content": "[sim:tools]"}, *({"type": "item_reference", "id": item.id} for item in output),
                  *({"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls)]
        time.sleep(0.2)  # (the items go to Redis in the background, within a millisecond or so)
        second = openai.OpenAI(base_url=b.base_url + "/v1", api_key="x", max_retries=0)
        if shared:
            answer = second.responses.create(model="claude-sim", input=follow, tools=[WEATHER])
            assert answer.output_text.startswith("Tool results received")
            sent = simulator.requests[-1].json["messages"]
            assert [block["id"] for block in sent[1]["content"] if block["type"] == "tool_use"] == [c.call_id for c in calls]
            stored = redis_sync.Redis.from_url(redis_server.url)
            assert 3500 < stored.ttl(f"llm-bridge:item:{output[0].id}") <= 3600  # an hour, as in a process
        else:
            with pytest.raises(openai.BadRequestError) as refused:
                second.responses.create(model="claude-sim", input=follow, tools=[WEATHER])
            assert output[0].id in refused.value.message
    finally:
        for bridge in started:
            bridge.stop()


def test_sigkill_between_the_refresh_and_its_save_loses_no_token(tmp_path, redis_server):
    """Host A refreshes and dies before it stores the rotated token. Host B, waiting for the lock, takes it
    once A's lease runs out (5 s at most), finds the stored token unchanged and presents it again, within the
    provider's replay grace period: a new pair, stored; every request goes on."""
    with CredentialUpstreams(replay_grace_s=30.0) as up:
        kill = KillAtIssue()
        up.workos.on_issue = kill
        toml = {}
        for name in ("killed", "other"):
            store = tmp_path / name / "store.json"
            expired_store(store)
            toml[name] = f'[state]\nredis_url = "{redis_server.url}"\n' + credentials_toml(up.base_url, store, trae=False)
        killed = start_bridge(tmp_path, toml["killed"], name="killed")
        other = start_bridge(tmp_path, toml["other"], name="other")
        try:
            kill.pid = killed.process.pid
            with pytest.raises(httpx.HTTPError):
                httpx.post(killed.base_url + "/v1/chat/completions", json=CHAT, timeout=30)
            assert kill.killed_at is not None and killed.process.wait(10) == -signal.SIGKILL
            assert redis_sync.Redis.from_url(redis_server.url).get("llm-bridge:lock:factory") is not None  # A's, held
            answers = asyncio.run(_burst([other.base_url], 20))  # (all waiting for the dead holder's lease)
            waited = time.monotonic() - kill.killed_at
        finally:
            killed.stop()
            other.stop()
        assert [a.status_code for a in answers] == [200] * 20, answers[0].text
        assert waited < redis_store.LOCK_LEASE_MS / 1000 + 3.0
        assert up.workos.calls == 2 and up.workos.grace_replays == [DROID_REFRESH]
        assert up.workos.reused_refresh_tokens == []
        newest = up.workos.issued[-1]["refresh_token"]
        assert up.workos.live_refresh_tokens == {newest}  # the lost pair is dead; the stored one lives
        stored = redis_sync.Redis.from_url(redis_server.url).hgetall("llm-bridge:tokens:factory")
        assert orjson.loads(stored[b"tokens"])["refresh_token"] == newest
        assert orjson.loads((tmp_path / "other" / "store.json").read_bytes())["credentials"]["factory"]["refresh_token"] == newest


def test_redis_killed_mid_load_requests_keep_succeeding(tmp_path, flaky):
    sim, front = flaky
    server = RedisServer(tmp_path, port=free_port()).start()
    a, b = key_bridges(tmp_path, sim, server.url)
    front.script("rr", [])
    front.script("two", [])
    statuses: list[int] = []

    async def load(seconds: float) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            deadline = time.monotonic() + seconds
            n = 0
            while time.monotonic() < deadline:
                bridge = (a, b)[n % 2]
                calls = [client.post(bridge.base_url + "/v1/chat/completions", headers={"x-session-id": f"s{n}-{i}"},
                                     json={"model": "two/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
                         for i in range(4)]
                calls += [client.post(bridge.base_url + "/v1/messages/count_tokens", json={
                    "model": "rr/claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}) for _ in range(2)]
                statuses.extend(r.status_code for r in await asyncio.gather(*calls))
                n += 1

    async def scenario() -> None:
        running = asyncio.create_task(load(4.0))
        await asyncio.sleep(1.0)
        server.kill()  # mid-load
        await asyncio.sleep(1.5)
        server.start()  # back on the same port, empty
        await running

    try:
        asyncio.run(scenario())
        assert wait_for(lambda: all("is back" in bridge.log_path.read_text() for bridge in (a, b)), 5)
    finally:
        a.stop()
        b.stop()
        server.stop()
    assert len(statuses) > 50 and set(statuses) == {200}, statuses
    for bridge in (a, b):
        log = bridge.log_path.read_text()
        assert log.count("shared state: Redis at 127.0.0.1:") >= 2
        assert log.count("is unreachable") == 1, log  # once, however many requests went on without it
        assert log.count("is back; state is shared again") == 1, log
        assert "Requests go on" in log


# --- in process: the interface and the hot path's cost ---------------------------------------------------------

async def test_fencing_a_stale_holder_cannot_overwrite_a_newer_token(tmp_path, redis_server, monkeypatch):
    """Host A takes the refresh lock, stalls past its lease (its renewals do not reach Redis: a paused process, a
    partition); host B takes it, refreshes and stores; A's late write is refused and A goes on with B's token.
    (Two hosts: two token files.)"""
    monkeypatch.setattr(redis_store, "LOCK_LEASE_MS", 300)
    monkeypatch.setattr(redis_store, "LOCK_RENEW_S", 60.0)
    state = RedisState(redis_server.url)
    try:
        files = [StoreEntry(tmp_path / f"{n}.json", "factory") for n in ("a", "b")]
        stale, fresh = (state.tokens("factory", f) for f in files)
        newer = TokenSet("access-2", "refresh-2", time.time() + 3600, None, time.time())
        late = TokenSet("access-1", "refresh-1", time.time() + 3600, None, time.time() + 5)
        b_done = asyncio.Event()

        async def host_a():
            async with stale.exclusive() as fence:
                await b_done.wait()  # (its refresh took longer than the lock lives)
                return fence, await stale.write(late, fence)

        async def host_b():
            await asyncio.sleep(0.05)
            started = time.monotonic()
            async with fresh.exclusive() as fence:  # waits for A's lock to expire, not for A
                waited = time.monotonic() - started
                stored = await fresh.write(newer, fence)
            b_done.set()
            return fence, stored, waited

        (old_fence, a_kept), (new_fence, b_kept, waited) = await asyncio.gather(host_a(), host_b())
        assert 0.1 < waited < 1.0 and new_fence > old_fence
        assert b_kept == newer and a_kept == newer  # refused: the newer token stays, and A uses it
        assert files[0].read() == newer and files[1].read() == newer
        assert await fresh.read(None) == newer
    finally:
        await state.close()


def test_a_proxy_urls_key_pool_lives_in_the_shared_state():
    from addons.proxy_url.config import parse_generate_body
    from addons.proxy_url.opened import opened_url

    body = {"sourceProtocol": "openai", "targetProtocol": "openai", "targetBaseUrl": "https://llm.example.test/v1",
            "auth": {"type": "multiKey", "keys": KEYS}}
    shared = RedisState("redis://127.0.0.1:1/0")  # (not contacted: only the pool's shape is checked)
    one, two = opened_url(parse_generate_body(body), shared), opened_url(parse_generate_body(body), shared)
    one.key_pool.report(KEYS[0], 429)  # (no event loop here: the rest stays in this process's mirror)
    assert two.key_pool.take() == KEYS[1]  # two openings of the same URL (two workers): one pool state
    assert not any(KEYS[0] in field or KEYS[1] in field for field in shared.mirror)  # fingerprints only
    assert opened_url(parse_generate_body(body)).key_pool.take() == KEYS[0]  # without shared state: its own


async def test_redis_away_degrades_to_per_process_state_with_one_log_line(tmp_path, caplog):
    state = RedisState(f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    pool = KeyPool("p", KEYS, 30, state=state.pool(pool_scope("provider", "p", KEYS)))
    try:
        with caplog.at_level(logging.WARNING):
            started = time.monotonic()
            picked = [await pool.take_shared() for _ in range(4)]
            pool.report(KEYS[0], 429)
            await asyncio.sleep(0.2)
            assert await pool.take_shared() == KEYS[1] and await pool.take_shared() == KEYS[1]
            elapsed = time.monotonic() - started
        assert picked == [KEYS[0], KEYS[1], KEYS[0], KEYS[1]]  # the local turn
        assert elapsed < 1.0
        assert sum("unreachable" in r.message for r in caplog.records) == 1
        tokens = state.tokens("factory", StoreEntry(tmp_path / "s.json", "factory"))
        async with tokens.exclusive() as fence:  # the file store's lock alone
            assert fence is None
            written = TokenSet("a", "r", None, None, time.time())
            assert await tokens.write(written, fence) == written and await tokens.read(fence) == written
    finally:
        await state.close()


async def test_a_rest_taken_while_redis_was_away_reaches_the_others_when_it_is_back(tmp_path, redis_server, caplog):
    """Worker A rests a key (a 429) while Redis is down: A keeps it; once Redis answers again A sends it, and
    worker B, which never heard of it, rests the key too."""
    states = [RedisState(redis_server.url), RedisState(redis_server.url)]
    a, b = (KeyPool("p", KEYS, 30, state=s.pool(pool_scope("provider", "p", KEYS))) for s in states)
    try:
        for state in states:
            state.start()
        await asyncio.sleep(0.2)  # (both listeners subscribed)
        redis_server.kill()
        with caplog.at_level(logging.WARNING):
            a.report(KEYS[0], 429)
            await asyncio.sleep(0.3)
            assert a.take(session_for(0)) == KEYS[1]  # A: its own mirror
            assert b.take(session_for(0)) == KEYS[0]  # B: never heard
            redis_server.start()
            deadline = time.monotonic() + 5
            while b.take(session_for(0)) != KEYS[1] and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        assert b.take(session_for(0)) == KEYS[1]
        resting = redis_sync.Redis.from_url(redis_server.url).hgetall("llm-bridge:cooling")
        assert len(resting) == 1 and float(next(iter(resting.values()))) > time.time() + 20  # (30 s, less the wait)
        assert sum("is back" in r.message for r in caplog.records) >= 1
    finally:
        for state in states:
            await state.close()


async def _per_call(pool: KeyPool, affinity: str | None, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        key = await pool.take_shared(affinity)
        pool.report(key, 200)
    return (time.perf_counter() - started) / n * 1e6


async def test_the_hot_path_costs_no_round_trip(redis_server, capsys):
    """Per request: the key pool's work with each state. A chat call always has a conversation name (affinity):
    no network; a call without one waits for one INCR."""
    shared = RedisState(redis_server.url)
    try:
        local_pool = KeyPool("p", KEYS, 30, state=LocalState().pool("p"))
        redis_pool = KeyPool("p", KEYS, 30, state=shared.pool(pool_scope("provider", "p", KEYS)))
        await redis_pool.take_shared()  # connected
        n = 2000
        local_affinity = await _per_call(local_pool, "conversation", n)
        redis_affinity = await _per_call(redis_pool, "conversation", n)
        redis_turn = await _per_call(redis_pool, None, 500)
        with capsys.disabled():
            print(f"\nper request, key pool: local {local_affinity:.1f} us; Redis with affinity {redis_affinity:.1f} us; "
                  f"Redis round robin (INCR) {redis_turn:.1f} us")
        assert redis_affinity < 100  # no round trip (one would be ~100 us or more)
        assert redis_turn < 5000
    finally:
        await shared.close()


def test_the_redis_url_is_checked(tmp_path):
    from addons.config import ConfigError, load_config

    config = tmp_path / "bridge.toml"
    config.write_text('[state]\nredis_url = "http://127.0.0.1:6379"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert "redis://" in str(raised.value)
    config.write_text('[state]\nredis_url = "redis://127.0.0.1:6379/2"\n')
    assert load_config(config).state.redis_url == "redis://127.0.0.1:6379/2"
