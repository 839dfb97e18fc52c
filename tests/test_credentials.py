"""The credential layer in process: token files, seeding, refresh timing and failures,
against the WorkOS and Trae simulators on a local port."""

from __future__ import annotations

import asyncio
import json
import os
import time

import httpx
import pytest

from addons.credentials.oauth import OAuthCredential
from addons.credentials.registry import seed_store
from addons.credentials.token_file import FactoryAuthFile, StoreEntry, TokenSet, atomic_write_json, jwt_expiry
from addons.credentials.trae_exchange import TraeExchangeRefresher
from addons.credentials.workos import WorkOSRefresher
from tests.simulator.http import HttpServer
from tests.simulator.trae import TraeSimulator
from tests.simulator.workos import WorkOSSimulator
from transforms.errors import BridgeError


class Upstream:
    def __init__(self, front) -> None:
        self.front = front
        self.server = HttpServer(self._dispatch)

    async def _dispatch(self, request):
        return await self.front.dispatch(request)

    async def __aenter__(self) -> str:
        host, port = await self.server.start("127.0.0.1", 0)
        return f"http://{host}:{port}"

    async def __aexit__(self, *exc) -> None:
        await self.server.aclose()


def credential(file, refresher, client, **kwargs) -> OAuthCredential:
    kwargs.setdefault("refresh_before", 2 * 3600)
    kwargs.setdefault("login_hint", "Log in again.")
    return OAuthCredential("factory", file, refresher, lambda: client, **kwargs)


# --- token files ---

def test_atomic_write_is_owner_only_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "sub" / "store.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert (path.stat().st_mode & 0o777) == 0o600
    assert os.listdir(path.parent) == ["store.json"]


def test_factory_auth_file_keeps_its_other_fields(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"access_token": "old", "refresh_token": "rt1", "user": {"email": "a@b.c"}, "org": "x"}))
    FactoryAuthFile(path).write(TokenSet("new-access", "rt2", None, None, 1_700_000_000))
    data = json.loads(path.read_text())
    assert data["access_token"] == "new-access" and data["refresh_token"] == "rt2"
    assert data["user"] == {"email": "a@b.c"} and data["org"] == "x" and data["last_updated"] == "2023-11-14T22:13:20Z"


def test_jwt_expiry_reads_exp_and_tolerates_other_tokens():
    assert jwt_expiry("eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDB9.sig") == 1_700_000_000
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.!!!.c") is None


def test_seed_enters_once_then_the_rotated_token_is_kept(tmp_path):
    entry = StoreEntry(tmp_path / "store.json", "factory")
    seed_store(entry, "rt-from-config")
    assert entry.read().refresh_token == "rt-from-config"
    entry.write(TokenSet("at", "rt-rotated", time.time() + 3600))
    seed_store(entry, "rt-from-config")  # a restart with the same (now spent) configured token
    assert entry.read().refresh_token == "rt-rotated"
    seed_store(entry, "rt-new-login")  # the user put a new token in the configuration
    assert entry.read().refresh_token == "rt-new-login"
    assert "rt-from-config" not in (tmp_path / "store.json").read_text()


# --- refreshing ---

async def test_a_token_is_refreshed_before_it_expires_and_not_before(tmp_path):
    workos = WorkOSSimulator(refresh_tokens=["rt0"])
    async with Upstream(workos) as base, httpx.AsyncClient() as client:
        entry = StoreEntry(tmp_path / "s.json", "factory")
        now = [time.time()]
        entry.write(TokenSet("at-valid", "rt0", now[0] + 3 * 3600))
        cred = credential(entry, WorkOSRefresher(base + "/user_management/authenticate"), client, clock=lambda: now[0])
        assert await cred.token() == "at-valid" and workos.calls == 0  # 3 h left, refreshed at 2 h
        now[0] += 3600 + 1
        fresh = await cred.token()
        assert fresh != "at-valid" and workos.is_valid_access_token(fresh) and workos.calls == 1
        assert entry.read().refresh_token == workos.issued[-1]["refresh_token"]


async def test_after_rejection_refreshes_once_for_many_rejections_of_one_token(tmp_path):
    workos = WorkOSSimulator(refresh_tokens=["rt0"], delay_s=0.2)
    async with Upstream(workos) as base, httpx.AsyncClient() as client:
        entry = StoreEntry(tmp_path / "s.json", "factory")
        entry.write(TokenSet("at-revoked", "rt0", time.time() + 8 * 3600))
        cred = credential(entry, WorkOSRefresher(base + "/user_management/authenticate"), client)
        tokens = await asyncio.gather(*(cred.after_rejection("at-revoked") for _ in range(10)))
        assert len(set(tokens)) == 1 and workos.calls == 1 and workos.reused_refresh_tokens == []


async def test_rejected_refresh_names_the_provider_and_hides_the_token(tmp_path):
    workos = WorkOSSimulator(refresh_tokens=["rt-good"])
    async with Upstream(workos) as base, httpx.AsyncClient() as client:
        entry = StoreEntry(tmp_path / "s.json", "factory")
        entry.write(TokenSet(None, "rt-unknown-secret", 0.0))
        cred = credential(entry, WorkOSRefresher(base + "/user_management/authenticate"), client)
        with pytest.raises(BridgeError) as raised:
            await cred.token()
    assert raised.value.status == 401 and "'factory'" in raised.value.message and "Log in again." in raised.value.message
    assert "rt-unknown-secret" not in raised.value.message


async def test_unreachable_token_service_is_a_503(tmp_path):
    async with httpx.AsyncClient() as client:
        entry = StoreEntry(tmp_path / "s.json", "factory")
        entry.write(TokenSet(None, "rt0", 0.0))
        cred = credential(entry, WorkOSRefresher("http://127.0.0.1:9/user_management/authenticate"), client)
        with pytest.raises(BridgeError) as raised:
            await cred.token()
    assert raised.value.status == 503 and "could not refresh" in raised.value.message


async def test_trae_exchange_keeps_the_rotated_token_and_its_expiry(tmp_path):
    trae = TraeSimulator(refresh_tokens=["trt0"], client_id="cid", user_id="uid", access_ttl_s=3600)
    async with Upstream(trae) as base, httpx.AsyncClient() as client:
        entry = StoreEntry(tmp_path / "s.json", "trae")
        entry.write(TokenSet(None, "trt0", 0.0))
        cred = credential(entry, TraeExchangeRefresher("cid", "uid", base), client, refresh_before=300)
        token = await cred.token()
        assert token and trae.exchange_calls == 1
        saved = entry.read()
        assert saved.refresh_token != "trt0" and saved.refresh_token in trae.refresh_tokens
        assert saved.expires_at == pytest.approx(time.time() + 3600, abs=5)
        assert saved.refresh_expires_at > time.time() + 86400
        assert await cred.token() == token and trae.exchange_calls == 1  # an hour left: no refresh


async def test_an_expired_trae_refresh_token_is_a_clear_error_without_a_call(tmp_path):
    trae = TraeSimulator(refresh_tokens=["trt0"], client_id="cid", user_id="uid")
    async with Upstream(trae) as base, httpx.AsyncClient() as client:
        entry = StoreEntry(tmp_path / "s.json", "trae")
        entry.write(TokenSet("at", "trt0", time.time() - 10, time.time() - 5))
        cred = credential(entry, TraeExchangeRefresher("cid", "uid", base), client, refresh_before=300,
                          login_hint="Sign in to Trae again.")
        with pytest.raises(BridgeError) as raised:
            await cred.token()
    assert raised.value.status == 401 and "expired on" in raised.value.message and "Sign in to Trae again." in raised.value.message
    assert trae.exchange_calls == 0
