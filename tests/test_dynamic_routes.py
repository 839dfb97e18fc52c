"""Dynamic routes: `/<scheme>/<host>/<path>/<model>/v1/messages`, guarded against SSRF."""

from __future__ import annotations

import os

import anthropic
import orjson
import pytest
from mitmproxy.test import taddons, tflow, tutils

from addons.config import BridgeConfig, DynamicRoutesConfig
from addons.dynamic_routes import parse_dynamic_path
from addons.bridge_addon import Bridge
from addons.settings import BridgeSettings
from tests.bridge_process import BridgeProcess
from tests.conftest import OPENAI_KEY

BODY = orjson.dumps({"model": "ignored", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]})


def test_path_parsing():
    t = parse_dynamic_path("/https/api.groq.com/openai/v1/llama-3.3-70b/v1/messages")
    assert (t.scheme, t.host, t.port, t.base_path, t.model) == ("https", "api.groq.com", 443, "/openai/v1", "llama-3.3-70b")
    t = parse_dynamic_path("/http/localhost:11434/v1/meta-llama%2FLlama-3.3-70B/v1/messages")
    assert (t.host, t.port, t.base_path, t.model, t.authority) == ("localhost", 11434, "/v1", "meta-llama/Llama-3.3-70B", "localhost:11434")
    assert parse_dynamic_path("/https/[::1]:8443/m/v1/messages").authority == "[::1]:8443"
    assert parse_dynamic_path("/https/host.example/m/v1/messages").base_path == ""
    assert parse_dynamic_path("/ftp/x/m/v1/messages") is None and parse_dynamic_path("/v1/messages") is None


def bridge(enabled=True, allow=("api.allowed.test",), private=False, resolver=None, tokens=(), attempts=1):
    """attempts=1: retries off, so mitmproxy calls the upstream itself and the flow shows it."""
    config = BridgeConfig.model_validate({
        "server": {"auth_tokens": list(tokens)}, "retries": {"attempts": attempts},
        "dynamic_routes": {"enabled": enabled, "allow_hosts": list(allow), "allow_private_networks": private}})
    settings = BridgeSettings()
    settings.use(config, source="test")
    return Bridge(settings, resolve=resolver)


def flow_for(path, headers=((b"x-api-key", b"sk-upstream"),)):
    f = tflow.tflow()
    f.request = tutils.treq(method=b"POST", path=path.encode(), content=BODY, headers=((b"content-type", b"application/json"), *headers))
    f.response = None
    return f


def public(host, port):
    return {"api.allowed.test": ["8.8.8.8"], "rebind.allowed.test": ["1.1.1.1", "10.0.0.5"],
            "internal.allowed.test": ["169.254.169.254"]}.get(host, [])


async def test_allowed_host_is_routed_to_the_checked_address_with_the_name_kept():
    b = bridge(resolver=public)
    with taddons.context(b):
        f = flow_for("/https/api.allowed.test/openai/v1/llama-x/v1/messages?beta=true")
        await b.request(f)
        assert f.response is None and f.request.path == "/openai/v1/chat/completions"
        assert f.request.headers["host"] == "api.allowed.test"
        call = b.relay.registered(f.request.headers["x-llm-bridge-call"])
        # the relay connects to exactly the address that was checked; Host and TLS keep the name
        assert call.connect_address == "8.8.8.8" and call.url == "https://api.allowed.test/openai/v1/chat/completions"
        assert call.credential.headers(call.key) == {"authorization": "Bearer sk-upstream"}
        assert "x-api-key" not in f.request.headers and "authorization" not in f.request.headers
        assert orjson.loads(f.request.content)["model"] == "llama-x"


async def test_with_retries_the_relay_connects_to_the_checked_address_too():
    b = bridge(resolver=public, attempts=3)
    with taddons.context(b):
        f = flow_for("/https/api.allowed.test/openai/v1/llama-x/v1/messages")
        await b.request(f)
        assert f.response is None and f.request.host == "127.0.0.1"  # to the relay
        call = b.relay.registered(f.request.headers["x-llm-bridge-call"])
        assert call.connect_address == "8.8.8.8" and call.url == "https://api.allowed.test/openai/v1/chat/completions"
        assert "x-api-key" not in f.request.headers and "authorization" not in f.request.headers


@pytest.mark.parametrize(("path", "reason"), [
    ("/https/evil.test/v1/m/v1/messages", "not allowed by allow_hosts"),
    ("/https/rebind.allowed.test/v1/m/v1/messages", "10.0.0.5"),  # one private answer refuses the name
    ("/https/internal.allowed.test/v1/m/v1/messages", "169.254.169.254"),
    ("/http/127.0.0.1/v1/m/v1/messages", "not allowed"),
])
async def test_refused_destinations_never_connect(path, reason):
    b = bridge(allow=("api.allowed.test", "*.allowed.test"), resolver=public)
    with taddons.context(b):
        f = flow_for(path)
        await b.request(f)
        assert f.response.status_code == 403
        body = orjson.loads(f.response.content)
        assert body["type"] == "error" and body["error"]["type"] == "permission_error"
        assert reason in body["error"]["message"]


async def test_private_literal_refused_even_when_allow_listed():
    b = bridge(allow=("127.0.0.1:9999",), resolver=public)
    with taddons.context(b):
        f = flow_for("/http/127.0.0.1:9999/v1/m/v1/messages")
        await b.request(f)
        assert f.response.status_code == 403 and "loopback" in orjson.loads(f.response.content)["error"]["message"]


async def test_disabled_by_default():
    b = bridge(enabled=False, resolver=public)
    with taddons.context(b):
        f = flow_for("/https/api.allowed.test/v1/m/v1/messages")
        await b.request(f)
        assert f.response.status_code == 404


async def test_a_client_key_is_never_resolved_as_an_env_reference(monkeypatch):
    monkeypatch.setenv("BRIDGE_SECRET_FOR_TEST", "sk-the-bridges-own-secret")
    b = bridge(resolver=public)
    with taddons.context(b):
        f = flow_for("/https/api.allowed.test/v1/m/v1/messages", headers=((b"x-api-key", b"env:BRIDGE_SECRET_FOR_TEST"),))
        await b.request(f)
        call = b.relay.registered(f.request.headers["x-llm-bridge-call"])
        assert call.credential.headers(call.key) == {"authorization": "Bearer env:BRIDGE_SECRET_FOR_TEST"}


async def test_bridge_token_stays_with_the_bridge():
    b = bridge(resolver=public, tokens=("bridge-token",))
    with taddons.context(b):
        f = flow_for("/https/api.allowed.test/v1/m/v1/messages", headers=((b"authorization", b"Bearer bridge-token"),))
        await b.request(f)
        assert f.response is None and "authorization" not in f.request.headers  # no upstream key given: none sent
        refused = flow_for("/https/api.allowed.test/v1/m/v1/messages")
        await b.request(refused)
        assert refused.response.status_code == 401


def test_bad_allow_host_entries_stop_start_up():
    with pytest.raises(Exception):
        DynamicRoutesConfig(enabled=True, allow_hosts=["user@host"])


@pytest.fixture(scope="module")
def dynamic_bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dynamic")
    (folder / "bridge.toml").write_text(f"""
[dynamic_routes]
enabled = true
allow_hosts = ["127.0.0.1:{simulator.port}"]
allow_private_networks = true
""")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = BridgeProcess(log_path=folder / "mitmdump.log", cwd=folder, env=env).wait_ready()
    yield proc
    proc.stop()


def test_anthropic_sdk_through_a_dynamic_route(dynamic_bridge, simulator):
    base = f"{dynamic_bridge.base_url}/http/127.0.0.1:{simulator.port}/v1/gpt-4o-mini"
    client = anthropic.Anthropic(base_url=base, api_key=OPENAI_KEY, max_retries=0)
    with client.messages.stream(model="claude-sonnet-5-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        message = s.get_final_message()
    assert message.content[0].text == "Hello from the simulator! Ünïcödé ✓ 🌍"
    sent = simulator.requests[-1]
    assert sent.path == "/v1/chat/completions" and sent.json["model"] == "gpt-4o-mini"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    refused = anthropic.Anthropic(base_url=f"{dynamic_bridge.base_url}/http/127.0.0.1:1/v1/m", api_key="k", max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError, match="not allowed by allow_hosts"):
        refused.messages.create(model="x", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
