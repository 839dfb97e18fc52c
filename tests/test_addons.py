"""The mitmproxy glue, in process (mitmproxy.test.taddons / tflow)."""

from __future__ import annotations

import gc
import gzip

import orjson
import pytest
from mitmproxy.test import taddons, tflow, tutils

from addons.guards.client_auth import is_authorized
from addons.config import RetriesConfig, BridgeConfig, ModelConfig, ProviderConfig, ServerConfig
from addons.bridge_addon import Bridge
from addons.recording.recorder import redacted_copy
from addons.reverse_mode import PLACEHOLDER_MODE, ReverseMode
from addons.settings import BridgeSettings
from addons.streaming import stream_callable
from transforms.errors import BridgeError

CHAT = orjson.dumps({"model": "claude", "messages": [{"role": "user", "content": "hi"}]})


def chat_flow(body: bytes = CHAT, path: str = "/v1/chat/completions", method: str = "POST", headers=()):
    flow = tflow.tflow()
    flow.request = tutils.treq(method=method.encode(), path=path.encode(), content=body,
                               headers=((b"content-type", b"application/json"), *headers))
    flow.response = None
    return flow


def bridge_with(config: BridgeConfig) -> Bridge:
    """Retries off: these tests look at the flow mitmproxy itself sends (with retries on, every
    call goes through the relay; tests below cover that path too)."""
    settings = BridgeSettings()
    if "retries" not in config.model_fields_set:
        config = config.model_copy(update={"retries": RetriesConfig(attempts=1)})
    settings.use(config, source="test")
    return Bridge(settings)


CONFIG = BridgeConfig(
    providers=[ProviderConfig(name="p", protocol="anthropic", base_url="https://upstream.test", api_key="sk-ant-provider")],
    models=[ModelConfig(id="claude", provider="p", upstream_model="claude-sonnet-4-5")],
)


def test_reverse_mode_and_lazy_connections_are_set_by_the_addon():
    from mitmproxy.addons.proxyserver import Proxyserver

    addon = ReverseMode()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, mode=["regular"], connection_strategy="eager")  # mitmproxy's defaults
        assert tctx.options.mode == [PLACEHOLDER_MODE]
        assert tctx.options.connection_strategy == "lazy"
        tctx.configure(addon, mode=["reverse:https://example.com"])
        assert tctx.options.mode == ["reverse:https://example.com"]  # an explicit mode is kept


async def test_request_is_rewritten_for_the_provider_without_client_credentials():
    bridge = bridge_with(CONFIG)
    with taddons.context(bridge):
        flow = chat_flow(headers=((b"authorization", b"Bearer client-secret"), (b"cookie", b"a=b")))
        await bridge.request(flow)
        assert flow.response is None
        # one road: the relay calls the provider and adds the key, which never sits in the flow
        call = bridge.relay.registered(flow.request.headers["x-llm-bridge-call"])
        assert call.url == "https://upstream.test/v1/messages"
        assert call.credential.headers(call.key)["x-api-key"] == "sk-ant-provider"
        assert flow.request.path == "/v1/messages"
        assert flow.request.headers["host"] == "upstream.test"  # HTTP/1.1 requires it
        assert not {"x-api-key", "authorization", "cookie"} & {k.lower() for k in flow.request.headers}
        assert orjson.loads(flow.request.content)["model"] == "claude-sonnet-4-5"


async def test_no_provider_configured_says_how_to_configure():
    bridge = bridge_with(BridgeConfig())
    with taddons.context(bridge):
        flow = chat_flow()
        await bridge.request(flow)
        assert flow.response.status_code == 404
        message = orjson.loads(flow.response.content)["error"]["message"]
        assert "no provider is configured" in message and "ANTHROPIC_API_KEY" in message and "bridge.toml" in message
        models = chat_flow(b"", "/v1/models", "GET")
        await bridge.request(models)
        assert orjson.loads(models.response.content) == {"object": "list", "data": []}


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [((), False), (((b"authorization", b"Bearer wrong"),), False), (((b"authorization", b"Bearer t2"),), True),
     (((b"x-api-key", b"t1"),), True), (((b"authorization", b"Basic t1"),), False)],
)
async def test_client_auth_tokens(headers, allowed):
    config = CONFIG.model_copy(update={"server": ServerConfig(auth_tokens=["t1", "t2"])})
    bridge = bridge_with(config)
    with taddons.context(bridge):
        flow = chat_flow(headers=headers)
        await bridge.request(flow)
        if allowed:
            assert flow.response is None and flow.request.headers["host"] == "upstream.test"
        else:
            assert flow.response.status_code == 401
            assert orjson.loads(flow.response.content)["error"]["type"] == "authentication_error"


def test_is_authorized_without_tokens_accepts_anyone():
    assert is_authorized({}, [])


async def test_unexpected_failure_fails_closed():
    class Broken(BridgeSettings):
        @property
        def router(self):
            raise RuntimeError("boom")

        @router.setter
        def router(self, value):
            pass

    bridge = Bridge(Broken())
    with taddons.context(bridge):
        flow = chat_flow()
        await bridge.request(flow)
        assert flow.response.status_code == 500
        message = orjson.loads(flow.response.content)["error"]["message"]
        # a sentence for a person; the exception itself goes only to the bridge's log
        assert "internal error" in message and "Nothing was sent upstream" in message
        assert "boom" not in message and "RuntimeError" not in message


class Echo:
    def __init__(self, fail_on: bytes | None = None):
        self.fail_on = fail_on

    def feed(self, chunk: bytes) -> bytes:
        if self.fail_on and self.fail_on in chunk:
            raise ValueError("bad chunk")
        return chunk.replace(b"x", b"")

    def close(self) -> bytes:
        return b"END"


def test_stream_callable_never_returns_empty_bytes_mid_stream():
    stream = stream_callable(Echo(), on_error=lambda exc: b"ERR")
    assert stream(b"x") == []  # b"" here would end an HTTP/1 chunked body
    assert stream(b"ab") == b"ab"
    assert stream(b"") == b"END"


def test_stream_callable_turns_exceptions_into_error_bytes():
    stream = stream_callable(Echo(fail_on=b"!"), on_error=lambda exc: b"ERR:" + str(exc).encode())
    assert stream(b"!") == b"ERR:bad chunk"


def test_stream_callable_inflates_gzip():
    body = gzip.compress(b"a" * 1000)
    stream = stream_callable(Echo(), content_encoding="gzip", on_error=lambda exc: b"ERR")
    out = [stream(body[i:i + 10]) for i in range(0, len(body), 10)] + [stream(b"")]
    assert b"".join(o for o in out if o) == b"a" * 1000 + b"END"
    with pytest.raises(ValueError, match="br"):
        stream_callable(Echo(), content_encoding="br", on_error=lambda exc: b"")


def test_recorded_copy_is_redacted():
    flow = chat_flow(path="/v1/messages?key=sk-secret", headers=((b"x-api-key", b"sk-ant-real"), (b"authorization", b"Bearer t")))
    flow.response = tutils.tresp()
    flow.metadata["llm_bridge"] = {"upstream_model": "m"}
    copy = redacted_copy(flow)
    assert copy.request.headers["x-api-key"] == "<redacted>" and copy.request.headers["authorization"] == "<redacted>"
    assert copy.request.query["key"] == "<redacted>"
    assert flow.request.headers["x-api-key"] == "sk-ant-real"  # the live flow is untouched


def test_bridge_error_statuses():
    assert BridgeError("overloaded", "x").status == 503


async def test_when_flows_can_be_seen_no_secret_is_ever_in_the_flow():
    """mitmweb adds a flow to its view at `requestheaders`; from then on the flow holds markers only,
    and the provider key goes through the relay instead of the flow."""
    from addons.recording.redact import MARKER
    from addons.upstream.relay import CALL_HEADER

    config = BridgeConfig(server=ServerConfig(auth_tokens=["bridge-secret"]), providers=CONFIG.providers, models=CONFIG.models)
    settings = BridgeSettings()
    settings.use(config, source="test")
    bridge = Bridge(settings, flows_visible=lambda: True)
    with taddons.context(bridge):
        flow = chat_flow(path="/v1/chat/completions?key=query-secret",
                         headers=((b"authorization", b"Bearer bridge-secret"), (b"x-api-key", b"client-secret")))
        bridge.requestheaders(flow)
        assert flow.request.headers["authorization"] == MARKER and flow.request.headers["x-api-key"] == MARKER
        assert flow.request.query["key"] == MARKER
        await bridge.request(flow)
        assert flow.response is None  # the stashed bridge token was accepted
        assert flow.request.host == "127.0.0.1" and flow.request.headers["host"] == "upstream.test"
        assert CALL_HEADER in flow.request.headers
        text = bytes(flow.request.headers.fields.__repr__(), "utf-8") + flow.request.content
        assert b"sk-ant-provider" not in text and b"bridge-secret" not in text and b"client-secret" not in text
        (call,) = bridge.relay._calls.values()
        assert call.credential.headers(call.key)["x-api-key"] == "sk-ant-provider"
        bridge.error(flow)
        assert not bridge.relay._calls and bridge._peek(flow, "client_secrets") is None
        del flow
        gc.collect()
        assert not bridge._flows  # nothing of the flow outlives it


async def test_a_wrong_bridge_token_is_refused_when_stashed_too():
    config = BridgeConfig(server=ServerConfig(auth_tokens=["bridge-secret"]), providers=CONFIG.providers, models=CONFIG.models)
    settings = BridgeSettings()
    settings.use(config, source="test")
    bridge = Bridge(settings, flows_visible=lambda: True)
    with taddons.context(bridge):
        flow = chat_flow(headers=((b"authorization", b"Bearer wrong"),))
        bridge.requestheaders(flow)
        await bridge.request(flow)
        assert flow.response.status_code == 401


async def test_the_flow_names_the_provider_from_the_answers_head_on():
    """While mitmproxy passes the call to the relay, the flow is addressed to it; once the answer's head is in,
    mitmweb, -w files and logs see the provider's URL again, and the call's id is spent."""
    bridge = bridge_with(CONFIG)
    with taddons.context(bridge):
        flow = chat_flow(orjson.dumps({"model": "claude", "stream": True, "messages": [{"role": "user", "content": "hi"}]}))
        await bridge.request(flow)
        call_id = flow.request.headers["x-llm-bridge-call"]
        assert (flow.request.host, flow.request.port) == ("127.0.0.1", bridge.relay.port)
        flow.response = tutils.tresp(status_code=200, headers=((b"content-type", b"text/event-stream"),), content=b"")
        bridge.responseheaders(flow)
        assert flow.request.url == "https://upstream.test/v1/messages"
        assert "x-llm-bridge-call" not in flow.request.headers
        assert bridge.relay.registered(call_id) is None
        assert callable(flow.response.stream)  # the answer is still translated as it streams


def test_a_stream_cut_at_the_limit_keeps_no_gap():
    from addons.streaming import StreamTap

    tap = StreamTap(limit=100)
    for chunk in (b"a" * 60, b"b" * 50, b"c" * 30):
        tap.on_client(chunk)
    assert tap.client_body() == b"a" * 60 and tap.truncated == ["client_chunks"]


def test_a_credential_in_a_gemini_clients_query_is_not_kept():
    from addons.recording.redact import redacted_path

    assert redacted_path("/v1beta/models/m:generateContent?alt=sse&key=AIzaSecret") == \
        "/v1beta/models/m:generateContent?alt=sse&key=<redacted>"


async def test_a_replay_of_an_unreadable_saved_request_is_answered_not_forwarded():
    bridge = bridge_with(CONFIG)
    with taddons.context(bridge):
        flow = chat_flow()
        flow.is_replay = "request"
        flow.metadata["llm_bridge"] = {"client_protocol": "openai-chat", "client_request": {"method": "POST"}}
        await bridge.request(flow)
        assert flow.response.status_code == 400 and b"cannot be replayed" in flow.response.content
