"""The fake WorkOS refresh endpoint and the fake Factory LLM gateway (droid2api's upstreams)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass

import httpx
import pytest

from tests.simulator.common import Context
from tests.simulator.factory import STAINLESS_HEADERS, FactorySimulator
from tests.simulator.http import HttpServer
from tests.simulator.workos import WORKOS_CLIENT_ID, WorkOSSimulator

HELLO = "Hello from the simulator! Ünïcödé ✓ 🌍"
STATIC_KEY = "fk-static-factory-key"
AUTH = "/user_management/authenticate"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass
class Stack:
    workos: WorkOSSimulator
    factory: FactorySimulator
    client: httpx.AsyncClient

    async def refresh(self, token: str, client_id: str = WORKOS_CLIENT_ID) -> httpx.Response:
        form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
        return await self.client.post(AUTH, data=form)

    async def access_token(self, refresh_token: str = "rt-initial") -> str:
        response = await self.refresh(refresh_token)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


async def start(workos: WorkOSSimulator, context: Context | None = None):
    factory = FactorySimulator(workos, context or Context(anthropic_key="sk-ant-sim", openai_key="sk-sim"), [STATIC_KEY])

    async def dispatch(request):
        for handler in (workos.dispatch, factory.dispatch):
            response = await handler(request)
            if response is not None:
                return response
        raise AssertionError(f"unrouted {request.method} {request.path}")

    server = HttpServer(dispatch)
    host, port = await server.start("127.0.0.1", 0)
    client = httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10)
    return server, Stack(workos, factory, client)


@pytest.fixture
async def stack():
    server, built = await start(WorkOSSimulator(refresh_tokens=["rt-initial"]))
    yield built
    await built.client.aclose()
    await server.aclose()


def factory_headers(token: str, family: str) -> dict[str, str]:
    headers = {
        "authorization": f"Bearer {token}",
        "x-factory-client": "cli",
        "x-session-id": "0b7c3c9e-6a4e-4f53-9c51-3f7e5c1d2a10",
        "x-assistant-message-id": "5a1f0e2d-8b6c-4d3e-a9f8-7c6b5a4d3e2f",
        "x-api-provider": "anthropic" if family == "anthropic" else "openai",
        "user-agent": "factory-cli/0.85.0",
        "x-stainless-lang": "js",
        "x-stainless-package-version": "0.57.0" if family == "anthropic" else "5.23.2",
        "x-stainless-os": "MacOS",
        "x-stainless-runtime": "node",
        "x-stainless-arch": "x64",
        "x-stainless-retry-count": "0",
        "x-stainless-runtime-version": "v24.3.0",
    }
    if family == "anthropic":
        headers |= {"x-api-key": "placeholder", "anthropic-version": "2023-06-01", "accept": "application/json"}
    return headers


ANTHROPIC_BODY = {"model": "claude-sonnet-4-5-20250929", "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]}
CHAT_BODY = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]}
RESPONSES_BODY = {"model": "gpt-5-codex", "input": "hi", "store": False}
ENDPOINTS = {
    "anthropic": ("/api/llm/a/v1/messages", ANTHROPIC_BODY),
    "responses": ("/api/llm/o/v1/responses", RESPONSES_BODY),
    "chat": ("/api/llm/o/v1/chat/completions", CHAT_BODY),
}


def family_of(name: str) -> str:
    return "anthropic" if name == "anthropic" else "openai"


def sse_data(text: str) -> list:
    return [json.loads(line[6:]) if line[6:] != "[DONE]" else "[DONE]" for line in text.splitlines() if line.startswith("data: ")]


# --- WorkOS ----------------------------------------------------------------------------------


async def test_refresh_rotates_and_issues_jwt(stack):
    first = await stack.refresh("rt-initial")
    assert first.status_code == 200
    body = first.json()
    assert body["refresh_token"] != "rt-initial"
    assert set(body["user"]) >= {"id", "email", "first_name", "last_name"}
    assert body["organization_id"].startswith("org_")
    header, payload, signature = body["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == body["user"]["id"] and claims["org_id"] == body["organization_id"]
    assert 8 * 3600 - 5 <= claims["exp"] - time.time() <= 8 * 3600
    assert header and signature
    assert stack.workos.is_valid_access_token(body["access_token"])

    second = await stack.refresh(body["refresh_token"])  # the rotated token works once
    assert second.status_code == 200
    assert second.json()["access_token"] != body["access_token"]
    assert stack.workos.calls == 2 and len(stack.workos.requests) == 2
    assert stack.workos.reused_refresh_tokens == []


async def test_reuse_of_rotated_token_is_rejected_and_recorded(stack):
    rotated = (await stack.refresh("rt-initial")).json()["refresh_token"]
    again = await stack.refresh("rt-initial")
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "Refresh token already exchanged."}
    assert stack.workos.reused_refresh_tokens == ["rt-initial"]
    assert (await stack.refresh(rotated)).status_code == 200  # reuse does not revoke the live token


async def test_unknown_token_is_invalid_grant_but_not_reuse(stack):
    response = await stack.refresh("rt-never-issued")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert stack.workos.reused_refresh_tokens == [] and stack.workos.calls == 1
    stack.workos.add_refresh_token("rt-never-issued")
    assert (await stack.refresh("rt-never-issued")).status_code == 200


async def test_bad_client_id_and_content_type(stack):
    bad_client = await stack.refresh("rt-initial", client_id="client_other")
    assert bad_client.status_code == 400 and bad_client.json()["error"] == "invalid_client"
    assert "error_description" in bad_client.json()
    form = {"grant_type": "refresh_token", "refresh_token": "rt-initial", "client_id": WORKOS_CLIENT_ID}
    as_json = await stack.client.post(AUTH, json=form)
    assert as_json.status_code == 400
    wrong_grant = await stack.client.post(AUTH, data={**form, "grant_type": "password"})
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"
    assert stack.workos.calls == 3
    assert (await stack.refresh("rt-initial")).status_code == 200  # none of those consumed the token


async def test_concurrent_refresh_with_one_token_lets_one_win():
    issued = []
    server, stack = await start(WorkOSSimulator(refresh_tokens=["rt-initial"], delay_s=0.2, on_issue=issued.append))
    try:
        responses = await asyncio.gather(stack.refresh("rt-initial"), stack.refresh("rt-initial"))
        assert sorted(r.status_code for r in responses) == [200, 400]
        assert stack.workos.reused_refresh_tokens == ["rt-initial"]
        winner = next(r for r in responses if r.status_code == 200).json()
        assert issued == [winner]  # on_issue saw exactly the body that went out
    finally:
        await stack.client.aclose()
        await server.aclose()


# --- Factory ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
async def test_each_protocol_answers_with_a_workos_token(stack, name):
    path, body = ENDPOINTS[name]
    headers = factory_headers(await stack.access_token(), family_of(name))
    whole = await stack.client.post(path, headers=headers, json=body)
    assert whole.status_code == 200, whole.text
    reply = whole.json()
    if name == "anthropic":
        assert reply["type"] == "message" and reply["content"][0]["text"] == HELLO
    elif name == "chat":
        assert reply["choices"][0]["message"]["content"] == HELLO
    else:
        assert reply["output"][-1]["content"][0]["text"] == HELLO

    streamed = await stack.client.post(path, headers=headers, json={**body, "stream": True})
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    data = sse_data(streamed.text)
    if name == "anthropic":
        assert data[-1]["type"] == "message_stop"
    elif name == "chat":
        assert data[-1] == "[DONE]"
        assert "".join(d["choices"][0]["delta"].get("content") or "" for d in data[:-1] if d["choices"]) == HELLO
    else:
        assert data[-1]["type"] == "response.completed"

    assert [r.path for r in stack.factory.requests] == [path, path]
    assert stack.factory.requests[0].headers["x-session-id"] == headers["x-session-id"]


async def test_count_tokens(stack):
    headers = factory_headers(STATIC_KEY, "anthropic")
    response = await stack.client.post("/api/llm/a/v1/messages/count_tokens", headers=headers, json=ANTHROPIC_BODY)
    assert response.status_code == 200 and response.json()["input_tokens"] > 0


@pytest.mark.parametrize("name", ENDPOINTS)
async def test_static_key_works_and_bad_tokens_get_401(stack, name):
    path, body = ENDPOINTS[name]
    family = family_of(name)
    assert (await stack.client.post(path, headers=factory_headers(STATIC_KEY, family), json=body)).status_code == 200
    for token in ("not-a-token", "rt-initial"):  # a refresh token is not an access token
        response = await stack.client.post(path, headers=factory_headers(token, family), json=body)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["type"] == "authentication_error"
        if family == "anthropic":
            assert response.json()["type"] == "error"
    headers = factory_headers(STATIC_KEY, family)
    del headers["authorization"]
    assert (await stack.client.post(path, headers=headers, json=body)).status_code == 401


async def test_expired_workos_token_is_rejected():
    server, stack = await start(WorkOSSimulator(refresh_tokens=["rt-initial"], access_ttl_s=0.3))
    try:
        token = await stack.access_token()
        path, body = ENDPOINTS["chat"]
        assert (await stack.client.post(path, headers=factory_headers(token, "openai"), json=body)).status_code == 200
        await asyncio.sleep(0.4)
        assert not stack.workos.is_valid_access_token(token)
        expired = await stack.client.post(path, headers=factory_headers(token, "openai"), json=body)
        assert expired.status_code == 401 and expired.json()["error"]["type"] == "authentication_error"
    finally:
        await stack.client.aclose()
        await server.aclose()


async def test_any_key_context_delegates():
    server, stack = await start(WorkOSSimulator(), Context(anthropic_key=None, openai_key=None))
    try:
        for name, (path, body) in ENDPOINTS.items():
            response = await stack.client.post(path, headers=factory_headers(STATIC_KEY, family_of(name)), json=body)
            assert response.status_code == 200, (name, response.text)
    finally:
        await stack.client.aclose()
        await server.aclose()


COMMON = ["x-factory-client", "x-session-id", "x-assistant-message-id", "x-api-provider", "user-agent"]
MISSING = [(name, header) for name in ENDPOINTS for header in [*COMMON, *STAINLESS_HEADERS]] + [
    ("anthropic", "x-api-key"),
    ("anthropic", "anthropic-version"),
]


@pytest.mark.parametrize(("name", "header"), MISSING)
async def test_missing_factory_header_is_named(stack, name, header):
    path, body = ENDPOINTS[name]
    headers = factory_headers(STATIC_KEY, family_of(name))
    del headers[header]
    if header == "user-agent":
        headers[header] = "python-httpx/0.28"  # httpx would add its own; a wrong one is the same failure
    response = await stack.client.post(path, headers=headers, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert header in error["message"] and error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("header", "value"), [("x-api-key", "sk-ant-real"), ("x-factory-client", "web"), ("x-session-id", "")]
)
async def test_wrong_factory_header_values(stack, header, value):
    path, body = ENDPOINTS["anthropic"]
    headers = factory_headers(STATIC_KEY, "anthropic") | {header: value}
    response = await stack.client.post(path, headers=headers, json=body)
    assert response.status_code == 400 and header in response.json()["error"]["message"]
