"""Rotation safety of refresh-token credentials, against real `mitmdump -s addons/bridge.py`
processes and a WorkOS simulator whose refresh tokens are single use (a reused one is recorded,
and every test asserts none was)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import orjson
import pytest

from addons.credentials.token_file import StoreEntry, TokenSet, fingerprint
from tests.credential_fixtures import DROID_REFRESH, CredentialUpstreams, KillAtIssue, credentials_toml, start_bridge
from tests.simulator.http import Response

CHAT = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]}


def expired_store(path) -> None:
    """A store as a bridge leaves it after hours of idling: the refresh token valid, the access token expired."""
    StoreEntry(path, "factory").write(
        TokenSet("expired-access-token", DROID_REFRESH, time.time() - 60, None, time.time() - 9 * 3600),
        seed=fingerprint(DROID_REFRESH),
    )


async def _burst(base_urls: list[str], n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60) as client:
        return await asyncio.gather(*(client.post(base_urls[i % len(base_urls)] + "/v1/chat/completions", json=CHAT) for i in range(n)))


def test_fifty_concurrent_requests_with_an_expired_token_make_one_refresh(tmp_path):
    with CredentialUpstreams(workos_delay_s=0.5) as up:
        store = tmp_path / "store.json"
        expired_store(store)
        bridge = start_bridge(tmp_path, credentials_toml(up.base_url, store, trae=False))
        try:
            answers = asyncio.run(_burst([bridge.base_url], 50))
        finally:
            bridge.stop()
        assert [a.status_code for a in answers] == [200] * 50
        assert up.workos.calls == 1
        assert up.workos.reused_refresh_tokens == []
        assert orjson.loads(store.read_bytes())["credentials"]["factory"]["refresh_token"] in up.workos.live_refresh_tokens


def test_two_bridge_processes_sharing_a_store_make_one_refresh(tmp_path):
    with CredentialUpstreams(workos_delay_s=0.5) as up:
        store = tmp_path / "store.json"
        expired_store(store)
        toml = credentials_toml(up.base_url, store, trae=False)
        first = start_bridge(tmp_path, toml, name="first")
        second = start_bridge(tmp_path, toml, name="second")
        try:
            answers = asyncio.run(_burst([first.base_url, second.base_url], 20))
        finally:
            first.stop()
            second.stop()
        assert [a.status_code for a in answers] == [200] * 20
        assert up.workos.calls == 1
        assert up.workos.reused_refresh_tokens == []


class KillOnFirstUse:
    """In front of Factory's endpoints: the first request carrying the newest access token
    SIGKILLs the bridge before it gets any answer."""

    def __init__(self, up: CredentialUpstreams) -> None:
        self.up = up
        self.pid: int | None = None
        self.killed = False

    async def dispatch(self, request) -> Response | None:
        issued = self.up.workos.issued
        if self.pid and issued and request.headers.get("authorization") == f"Bearer {issued[-1]['access_token']}":
            os.kill(self.pid, signal.SIGKILL)
            self.killed = True
            await asyncio.sleep(0.2)
            return Response(503, {"content-type": "application/json"}, b"{}")
        return None


def test_sigkill_right_after_a_refresh_loses_no_token(tmp_path):
    with CredentialUpstreams() as up:
        killer = KillOnFirstUse(up)
        up.sim.fronts.insert(0, killer)
        store = tmp_path / "store.json"
        expired_store(store)
        toml = credentials_toml(up.base_url, store, trae=False)
        bridge = start_bridge(tmp_path, toml, name="killed")
        killer.pid = bridge.process.pid
        with pytest.raises(httpx.HTTPError):
            httpx.post(bridge.base_url + "/v1/chat/completions", json=CHAT, timeout=30)
        bridge.process.wait(10)
        assert killer.killed and bridge.process.returncode == -signal.SIGKILL
        bridge.stop()

        # the rotated refresh token was on disk before its access token was first used
        saved = orjson.loads(store.read_bytes())["credentials"]["factory"]
        assert saved["refresh_token"] == up.workos.issued[-1]["refresh_token"]
        assert not list(tmp_path.glob(".store.json.*.tmp"))  # no half-written file left behind

        # after a restart the saved refresh token works: force its use by revoking the access token
        up.sim.fronts.remove(killer)
        up.workos.revoke_access_tokens()
        restarted = start_bridge(tmp_path, toml, name="restarted")
        try:
            answer = httpx.post(restarted.base_url + "/v1/chat/completions", json=CHAT, timeout=30)
        finally:
            restarted.stop()
        assert answer.status_code == 200, answer.text
        assert up.workos.calls == 2
        assert up.workos.reused_refresh_tokens == []


@pytest.mark.parametrize("grace", [30.0, 0.0], ids=["replay-grace", "strictly-single-use"])
def test_sigkill_between_the_refresh_and_its_save_on_one_host(tmp_path, grace):
    """Two processes share one store (one host, no Redis). The refreshing one dies after the provider rotated
    the token and before it stored it: the kernel frees its flock, the other finds the stored token unchanged
    and presents it again. Within the provider's replay grace period that is a new pair, stored, and every
    request goes on; a provider without one refuses it, and the answer says to log in again, at once."""
    with CredentialUpstreams(replay_grace_s=grace) as up:
        kill = KillAtIssue()
        up.workos.on_issue = kill
        store = tmp_path / "store.json"
        expired_store(store)
        toml = credentials_toml(up.base_url, store, trae=False)
        killed = start_bridge(tmp_path, toml, name="killed")
        other = start_bridge(tmp_path, toml, name="other")
        try:
            kill.pid = killed.process.pid
            with pytest.raises(httpx.HTTPError):
                httpx.post(killed.base_url + "/v1/chat/completions", json=CHAT, timeout=30)
            assert killed.process.wait(10) == -signal.SIGKILL
            answers = asyncio.run(_burst([other.base_url], 10))
            waited = time.monotonic() - kill.killed_at
        finally:
            killed.stop()
            other.stop()
        assert waited < 3.0
        assert up.workos.calls == 2
        saved = orjson.loads(store.read_bytes())["credentials"]["factory"]
        if grace:
            assert [a.status_code for a in answers] == [200] * 10, answers[0].text
            assert up.workos.grace_replays == [DROID_REFRESH] and up.workos.reused_refresh_tokens == []
            assert saved["refresh_token"] == up.workos.issued[-1]["refresh_token"] and up.workos.live_refresh_tokens == {saved["refresh_token"]}
        else:  # (the one refusal is not retried by each waiting request: they read the same verdict)
            assert {a.status_code for a in answers} == {401}
            message = answers[0].json()["error"]["message"]
            assert "Provider 'factory'" in message and "DROID_REFRESH_KEY" in message and "Traceback" not in message
            assert saved["refresh_token"] == DROID_REFRESH  # nothing stored was lost or damaged


def test_a_rejected_refresh_is_a_clear_401_and_other_providers_keep_working(tmp_path):
    with CredentialUpstreams() as up:
        store = tmp_path / "store.json"
        StoreEntry(store, "factory").write(TokenSet(None, "wos_rt_revoked_000000000000", 0.0), seed=fingerprint(DROID_REFRESH))
        bridge = start_bridge(tmp_path, credentials_toml(up.base_url, store))
        try:
            openai_style = httpx.post(bridge.base_url + "/v1/chat/completions", json=CHAT, timeout=30)
            anthropic_style = httpx.post(bridge.base_url + "/v1/messages", timeout=30, json={
                "model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
            translated = httpx.post(bridge.base_url + "/v1/chat/completions", timeout=30, json={
                "model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]})
            trae = httpx.post(bridge.base_url + "/v1/chat/completions", timeout=30, json={
                "model": "claude-3-7-sonnet", "messages": [{"role": "user", "content": "hi"}]})
        finally:
            bridge.stop()
        assert openai_style.status_code == 401
        message = openai_style.json()["error"]["message"]
        assert "factory" in message and "refresh token" in message and "DROID_REFRESH_KEY" in message
        assert "wos_rt_revoked" not in openai_style.text
        assert anthropic_style.status_code == 401 and anthropic_style.json()["type"] == "error"
        assert anthropic_style.json()["error"]["type"] == "authentication_error"
        assert translated.status_code == 401  # an OpenAI client of an Anthropic-protocol model: told once, as is
        assert translated.json()["error"]["message"] == message
        assert trae.status_code == 200
        assert not [r for r in up.factory.requests]  # nothing was sent upstream unauthenticated
