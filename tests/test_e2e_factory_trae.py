"""Factory and Trae through a real `mitmdump -s addons/bridge.py`, with the official SDKs as
clients and local simulators of WorkOS, Factory's endpoints and Trae (chat, model list, ExchangeToken)."""

from __future__ import annotations

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.credential_fixtures import (
    DROID_REFRESH, TRAE_REFRESH, CredentialUpstreams, credentials_toml, start_bridge,
)


@pytest.fixture(scope="module")
def upstreams():
    with CredentialUpstreams() as upstreams:
        yield upstreams


@pytest.fixture(scope="module")
def bridge(upstreams, tmp_path_factory):
    folder = tmp_path_factory.mktemp("factory-trae")
    process = start_bridge(folder, credentials_toml(upstreams.base_url, folder / "store.json"))
    process.store = folder / "store.json"
    yield process
    process.stop()


@pytest.fixture
def oai(bridge):
    return openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture
def claude(bridge):
    return anthropic.Anthropic(base_url=bridge.base_url, api_key="unused", max_retries=0)


HELLO = "Hello from the simulator! Ünïcödé ✓ 🌍"


@pytest.mark.parametrize("model, path", [
    ("claude-sonnet-4-5", "/api/llm/a/v1/messages"),
    ("gpt-5", "/api/llm/o/v1/responses"),
    ("glm-4.6", "/api/llm/o/v1/chat/completions"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_factory_models_answer_openai_chat_clients(oai, upstreams, model, path, stream):
    upstreams.factory.requests.clear()
    if stream:
        chunks = list(oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert chunks[-1].choices[0].finish_reason == "stop" or chunks[-2].choices[0].finish_reason == "stop"
    else:
        text = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}]).choices[0].message.content
    assert text == HELLO
    (request,) = upstreams.factory.requests
    assert request.path == path
    headers = request.headers
    assert headers["authorization"].startswith("Bearer ey")  # the WorkOS access token, not the client's key
    assert headers["x-factory-client"] == "cli" and headers["user-agent"].startswith("factory-cli/")
    assert headers["x-session-id"] and headers["x-assistant-message-id"]
    assert "unused" not in orjson.dumps(headers).decode()


@pytest.mark.parametrize("stream", [False, True])
def test_factory_anthropic_passthrough_and_count_tokens(claude, upstreams, stream):
    upstreams.factory.requests.clear()
    if stream:
        with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=200, messages=[{"role": "user", "content": "hi"}]) as s:
            text = s.get_final_text()
    else:
        text = claude.messages.create(model="claude-sonnet-4-5", max_tokens=200, messages=[{"role": "user", "content": "hi"}]).content[0].text
    assert text == HELLO
    (request,) = upstreams.factory.requests
    assert request.path == "/api/llm/a/v1/messages"
    assert request.headers["x-api-key"] == "placeholder" and request.json["model"] == "claude-sonnet-4-5-20250929"
    counted = claude.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}])
    assert counted.input_tokens > 0
    assert upstreams.factory.requests[-1].path == "/api/llm/a/v1/messages/count_tokens"


def test_factory_thinking_merges_the_interleaved_beta(claude, upstreams):
    upstreams.factory.requests.clear()
    claude.messages.create(
        model="claude-sonnet-4-5", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "hi"}], extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
    )
    betas = upstreams.factory.requests[-1].headers["anthropic-beta"].split(",")
    assert betas == ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"]


@pytest.mark.parametrize("stream", [False, True])
def test_factory_responses_passthrough(oai, upstreams, stream):
    upstreams.factory.requests.clear()
    if stream:
        with oai.responses.stream(model="gpt-5", input="hi") as s:
            text = s.get_final_response().output_text
    else:
        text = oai.responses.create(model="gpt-5", input="hi").output_text
    assert text == HELLO
    assert upstreams.factory.requests[-1].path == "/api/llm/o/v1/responses"


@pytest.mark.parametrize("model, upstream_model", [("claude-3-7-sonnet", "aws_sdk_claude37_sonnet"), ("trae/gpt-4o", "gpt-4o")])
@pytest.mark.parametrize("stream", [False, True])
def test_trae_models_answer(oai, upstreams, model, upstream_model, stream):
    upstreams.trae.requests.clear()
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in oai.chat.completions.create(model=model, messages=messages, stream=True) if c.choices)
    else:
        text = oai.chat.completions.create(model=model, messages=messages).choices[0].message.content
    assert text.startswith("Hello from the Trae simulator!")
    chats = [r for r in upstreams.trae.requests if r.path == "/api/ide/v1/chat"]
    assert len(chats) == 1
    assert chats[0].json["model_name"] == upstream_model
    assert chats[0].headers["x-ide-token"] and chats[0].headers["x-app-id"]


def test_trae_reasoning_reaches_the_client(oai):
    completion = oai.chat.completions.create(model="claude-3-7-sonnet", messages=[{"role": "user", "content": "[sim:thinking] hi"}])
    assert completion.choices[0].message.model_extra.get("reasoning_content")
    assert completion.choices[0].message.content


def test_trae_queued_request_is_sent_again(oai, upstreams):
    upstreams.trae.requests.clear()
    text = oai.chat.completions.create(model="claude-3-7-sonnet", messages=[{"role": "user", "content": "[sim:queue n=1] hi"}]).choices[0].message.content
    assert text.startswith("Hello from the Trae simulator!")
    assert len([r for r in upstreams.trae.requests if r.path == "/api/ide/v1/chat"]) == 2


def test_trae_queue_that_never_clears_is_a_clear_503(oai):
    with pytest.raises(openai.InternalServerError) as raised:
        oai.chat.completions.create(model="claude-3-7-sonnet", messages=[{"role": "user", "content": "[sim:queue n=9] hi"}], stream=True)
    assert raised.value.status_code == 503
    assert "trae" in str(raised.value) and "queue" in str(raised.value)


@pytest.mark.parametrize("code, error", [(4008, openai.RateLimitError), (4001, openai.BadRequestError)])
@pytest.mark.parametrize("stream", [False, True])
def test_trae_error_codes_reach_the_client(oai, code, error, stream):
    with pytest.raises(error) as raised:
        result = oai.chat.completions.create(model="claude-3-7-sonnet", messages=[{"role": "user", "content": f"[sim:error code={code}] hi"}], stream=stream)
        if stream:
            list(result)
    assert str(code) in str(raised.value) and "trae" in str(raised.value).lower()


def test_trae_error_event_mid_stream(oai):
    with pytest.raises(openai.APIError) as raised:
        list(oai.chat.completions.create(model="claude-3-7-sonnet", messages=[{"role": "user", "content": "[sim:error_event code=4011] hi"}], stream=True))
    assert "4011" in str(raised.value)


def test_trae_refuses_images_with_a_400(oai, upstreams):
    upstreams.trae.requests.clear()
    with pytest.raises(openai.BadRequestError) as raised:
        oai.chat.completions.create(model="claude-3-7-sonnet", messages=[{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ]}])
    assert "image" in str(raised.value).lower()
    assert not [r for r in upstreams.trae.requests if r.path == "/api/ide/v1/chat"]


def test_models_list_includes_trae_upstream_models(oai):
    ids = [m.id for m in oai.models.list()]
    assert {"claude-sonnet-4-5", "gpt-5", "claude-3-7-sonnet"} <= set(ids)
    assert {"trae/claude3.5", "trae/aws_sdk_claude37_sonnet", "trae/deepseek-R1"} <= set(ids)


def test_rotated_tokens_are_in_the_store_and_no_refresh_token_was_reused(bridge, upstreams, oai):
    oai.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "hi"}])
    store = orjson.loads(bridge.store.read_bytes())["credentials"]
    assert store["factory"]["refresh_token"] in upstreams.workos.live_refresh_tokens
    assert store["factory"]["refresh_token"] != DROID_REFRESH
    assert store["trae"]["refresh_token"] in upstreams.trae.refresh_tokens and store["trae"]["refresh_token"] != TRAE_REFRESH
    assert upstreams.workos.calls == 1 and upstreams.trae.exchange_calls == 1
    assert upstreams.workos.reused_refresh_tokens == [] and upstreams.trae.reused_refresh_tokens == []
    assert (bridge.store.stat().st_mode & 0o777) == 0o600


def test_a_revoked_access_token_is_refreshed_once_and_the_request_retried(oai, upstreams):
    calls = upstreams.workos.calls
    upstreams.workos.revoke_access_tokens()
    chunks = oai.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == HELLO
    assert upstreams.workos.calls == calls + 1
    assert upstreams.workos.reused_refresh_tokens == []


def test_the_clients_key_and_factory_headers_do_not_reach_trae(bridge, upstreams):
    upstreams.trae.requests.clear()
    r = httpx.post(bridge.base_url + "/v1/chat/completions", json={"model": "claude-3-7-sonnet", "messages": [{"role": "user", "content": "hi"}]},
                   headers={"authorization": "Bearer sk-client-secret-123", "x-session-id": "client-session"}, timeout=30)
    assert r.status_code == 200
    (chat,) = [r for r in upstreams.trae.requests if r.path == "/api/ide/v1/chat"]
    sent = orjson.dumps(chat.headers).decode()
    assert "sk-client-secret-123" not in sent and "x-factory-client" not in sent and "authorization" not in chat.headers
