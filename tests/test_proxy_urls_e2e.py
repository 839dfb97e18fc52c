"""Proxy URLs end to end: `POST /api/generate-url`, then the official `openai` and `anthropic`
SDKs with `base_url` = the generated URL -> a real `mitmdump -s addons/bridge.py` -> the project's
simulators (Anthropic, OpenAI-compatible, Bedrock verifying SigV4 with botocore, Azure).
Every documented error code is produced here or in test_retries.py and asserted in its envelope."""

from __future__ import annotations

import os
import re

import anthropic
import httpx
import openai
import pytest
from mitmproxy import io as mitmproxy_io

from tests.bridge_process import BridgeProcess
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.simulator import Simulator
from tests.simulator.azure import AzureSimulator
from tests.simulator.bedrock import BedrockSimulator
from tests.simulator.flaky import FlakyFront

SECRET_A = "proxy-url-secret-A-0123456789abcdef"
SECRET_B = "proxy-url-secret-B-fedcba9876543210"
AWS = {"accessKeyId": "AKIDSIMULATOR0000001", "secretAccessKey": "sim-aws-secret-key-0123456789", "region": "us-east-1",
       "sessionToken": "sim-aws-session-token-abcdef"}
AZURE_KEY = "azure-sim-api-key-0123456789"
BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HELLO = "Hello from the simulator"


@pytest.fixture(scope="module")
def upstreams():
    flaky = FlakyFront()
    sim = Simulator(anthropic_key=ANTHROPIC_KEY, openai_key=OPENAI_KEY)
    bedrock = BedrockSimulator(sim.context, AWS["accessKeyId"], AWS["secretAccessKey"], AWS["region"], AWS["sessionToken"])
    azure = AzureSimulator(sim.context, AZURE_KEY, deployments=["gpt-4o-deploy"])
    sim.fronts.extend([bedrock, azure, flaky])
    flaky.delegate = sim._dispatch
    sim.start_in_thread()
    sim.bedrock, sim.azure, sim.flaky = bedrock, azure, flaky
    yield sim
    sim.stop()


def start(folder, *args: str, secret: str | None = SECRET_A, name: str = "bridge", toml: str = "") -> BridgeProcess:
    config = folder / f"{name}.toml"
    config.write_text(toml)
    options = [f"--set=bridge_url_secret={secret}"] if secret else []
    env = {k: v for k, v in os.environ.items() if k != "BRIDGE_URL_SECRET"}
    return BridgeProcess(f"--set=bridge_config={config}", *options, *args, log_path=folder / f"{name}.log", env=env).wait_ready()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("proxy-urls")


@pytest.fixture(scope="module")
def bridge(folder):
    # a bridge whose flows someone could see and save: the token and keys must stay out of all of it
    proc = start(folder, f"--set=bridge_record={folder / 'recorded'}", "-w", str(folder / "saved.flow"),
                 "--set=flow_detail=3")
    yield proc
    proc.stop()


def generate(bridge, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(bridge.base_url + "/api/generate-url", json=body, timeout=10, **kwargs)


def proxy_url(bridge, body: dict) -> str:
    answer = generate(bridge, body)
    assert answer.status_code == 200, answer.text
    url = answer.json()["proxyUrl"]
    assert re.fullmatch(re.escape(bridge.base_url) + r"/proxy/[A-Za-z0-9_-]+", url)
    return url


def v2(source: str, target: dict, model: dict | None = None, mode: str = "auto") -> dict:
    return {"version": 2, "source": {"protocol": source}, "target": target,
            "model": model or {"mode": "map", "map": {}}, "endpoints": {"mode": mode}}


def anthropic_target(sim) -> dict:
    return {"protocol": "anthropic", "baseUrl": sim.base_url, "auth": {"type": "x-api-key", "key": ANTHROPIC_KEY}}


def openai_target(sim) -> dict:
    return {"provider": "groq", "baseUrl": f"{sim.base_url}/v1", "auth": {"type": "bearer", "token": OPENAI_KEY}}


def openai_client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="proxy-placeholder", max_retries=0)


def anthropic_client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="proxy-placeholder", max_retries=0)


def chat(url: str, stream: bool, model: str = "gpt-4o") -> tuple[str, str]:
    messages = [{"role": "user", "content": "hello"}]
    if stream:
        chunks = list(openai_client(url).chat.completions.create(model=model, messages=messages, stream=True))
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[0].model
    answer = openai_client(url).chat.completions.create(model=model, messages=messages)
    return answer.choices[0].message.content, answer.model


def message(url: str, stream: bool, model: str = "claude-sonnet-4-6[1m]") -> str:
    client = anthropic_client(url)
    kwargs = {"model": model, "max_tokens": 200, "messages": [{"role": "user", "content": "hello"}]}
    if stream:
        with client.messages.stream(**kwargs) as events:
            final = events.get_final_message()
    else:
        final = client.messages.create(**kwargs)
    return "".join(block.text for block in final.content if block.type == "text")


# --- the four acceptance routes, streamed and not ---

@pytest.mark.parametrize("stream", [False, True])
def test_openai_client_to_anthropic_upstream(bridge, upstreams, stream):
    url = proxy_url(bridge, v2("openai", anthropic_target(upstreams), {"mode": "force", "force": "claude-sonnet-4-5"}))
    upstreams.clear()
    text, model = chat(url, stream)
    assert text.startswith(HELLO) and model == "gpt-4o"  # the client's name; the upstream's is in a header
    (sent,) = [r for r in upstreams.requests if r.path == "/v1/messages"]
    assert sent.json["model"] == "claude-sonnet-4-5" and sent.headers["x-api-key"] == ANTHROPIC_KEY


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_client_to_openai_compatible_upstream(bridge, upstreams, stream):
    rules = {"mode": "map", "map": {"claude-*": "gpt-4.1-*"}, "stripClientSuffix": True}
    url = proxy_url(bridge, v2("anthropic", openai_target(upstreams), rules))
    upstreams.clear()
    assert message(url, stream).startswith(HELLO)
    (sent,) = [r for r in upstreams.requests if r.path == "/v1/chat/completions"]
    assert sent.json["model"] == "gpt-4.1-sonnet-4-6"  # wildcard map after the [1m] suffix was stripped
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_client_to_bedrock(bridge, upstreams, stream):
    target = {"provider": "bedrock", "baseUrl": upstreams.base_url, "auth": {"type": "aws", **AWS}}
    url = proxy_url(bridge, v2("anthropic", target, {"mode": "force", "force": BEDROCK_MODEL}))
    verified = upstreams.bedrock.verified
    assert message(url, stream).startswith(HELLO)
    assert upstreams.bedrock.verified == verified + 1  # the simulator checked the SigV4 signature with botocore
    request = upstreams.bedrock.requests[-1]
    suffix = "invoke-with-response-stream" if stream else "invoke"
    assert request.path == f"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/{suffix}"
    assert request.headers["x-amz-security-token"] == AWS["sessionToken"]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_client_to_azure(bridge, upstreams, stream):
    target = {"provider": "azure", "baseUrl": upstreams.base_url, "auth": {"type": "azure", "apiKey": AZURE_KEY, "apiVersion": "2024-06-01"}}
    url = proxy_url(bridge, v2("openai", target, {"mode": "map", "map": {"gpt-4o": "gpt-4o-deploy"}}))
    text, _ = chat(url, stream)
    assert text.startswith(HELLO)
    request = upstreams.azure.requests[-1]
    assert request.path == "/openai/deployments/gpt-4o-deploy/chat/completions" and request.query == "api-version=2024-06-01"
    assert request.headers["api-key"] == AZURE_KEY and "authorization" not in request.headers


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_client_to_anthropic_upstream(bridge, upstreams, stream):
    from google import genai
    from google.genai import types

    url = proxy_url(bridge, v2("gemini", anthropic_target(upstreams), {"mode": "force", "force": "claude-sonnet-4-5"}))
    client = genai.Client(api_key="proxy-placeholder", http_options=types.HttpOptions(base_url=url, api_version="v1beta"))
    if stream:
        text = "".join(c.text or "" for c in client.models.generate_content_stream(model="gemini-2.5-flash", contents="hello"))
    else:
        text = client.models.generate_content(model="gemini-2.5-flash", contents="hello").text
    assert text.startswith(HELLO)
    assert upstreams.requests[-1].json["model"] == "claude-sonnet-4-5"


def test_a_v1_body_makes_a_working_url(bridge, upstreams):
    body = {"version": 1, "sourceProtocol": "openai", "targetProtocol": "anthropic", "targetBaseUrl": upstreams.base_url + "/",
            "auth": {"type": "x-api-key", "key": ANTHROPIC_KEY}, "forceModel": "claude-sonnet-4-5"}
    answer = generate(bridge, body)
    assert answer.status_code == 200
    snippets = answer.json()["snippets"]
    assert snippets["envBlock"].startswith(f"export OPENAI_BASE_URL={answer.json()['proxyUrl']}/v1")
    assert chat(answer.json()["proxyUrl"], False)[0].startswith(HELLO)


def test_several_keys_rotate(bridge, upstreams):
    target = {"provider": "groq", "baseUrl": f"{upstreams.base_url}/v1", "auth": {"type": "bearer", "keys": ["k-one", "k-two"]}}
    url = proxy_url(bridge, v2("openai", target, {"mode": "force", "force": "gpt-4o-mini"}))
    upstreams.clear()
    for _ in range(2):
        with pytest.raises(openai.AuthenticationError):  # the simulator only takes its own key
            chat(url, False)
    used = [r.headers["authorization"] for r in upstreams.requests if r.path == "/v1/chat/completions"]
    # one conversation: the key it hashes to, then, once that one rests, the other (session affinity)
    assert sorted(used) == ["Bearer k-one", "Bearer k-two"]
    with pytest.raises(openai.RateLimitError) as raised:  # both refused keys now rest: nothing is sent
        chat(url, False)
    assert raised.value.response.json()["error_code"] == "RATE_LIMITED"
    assert len([r for r in upstreams.requests if r.path == "/v1/chat/completions"]) == 2


# --- endpoint groups ---

def test_models_pass_through_natively_for_a_matching_client(bridge, upstreams):
    url = proxy_url(bridge, v2("openai", openai_target(upstreams)))
    assert [m.id for m in openai_client(url).models.list()] == ["gpt-4o-mini", "gpt-4.1"]  # the upstream's own list


def test_models_are_listed_locally_when_translating(bridge, upstreams):
    url = proxy_url(bridge, v2("anthropic", openai_target(upstreams), {"mode": "force", "force": "llama-3.3-70b"}))
    listed = anthropic_client(url).models.list()
    assert [m.id for m in listed] == ["llama-3.3-70b"]
    answer = httpx.get(url + "/v1/models", headers={"anthropic-version": "2023-06-01"})
    assert answer.headers["x-request-id"].startswith("req_")


def test_count_tokens_passthrough_and_estimate(bridge, upstreams):
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Count these few words, please."}]}
    native = proxy_url(bridge, v2("anthropic", anthropic_target(upstreams)))
    forwarded = anthropic_client(native).messages.count_tokens(**body)
    assert forwarded.input_tokens > 0 and upstreams.requests[-1].path == "/v1/messages/count_tokens"
    translated = proxy_url(bridge, v2("anthropic", openai_target(upstreams)))
    answer = httpx.post(translated + "/v1/messages/count_tokens", json=body, headers={"anthropic-version": "2023-06-01"})
    assert answer.status_code == 200 and answer.headers["x-llm-bridge-token-count"] == "estimate"
    assert answer.json()["input_tokens"] > 0


def test_embeddings_pass_through_to_a_provider_that_has_them(bridge, upstreams):
    target = {"provider": "openai", "baseUrl": f"{upstreams.base_url}/v1", "auth": {"type": "bearer", "token": OPENAI_KEY}}
    url = proxy_url(bridge, v2("openai", target, {"mode": "map", "map": {"small": "text-embedding-3-small"}}))
    result = openai_client(url).embeddings.create(model="small", input=["one", "two"])
    assert len(result.data) == 2 and result.model == "text-embedding-3-small"
    assert upstreams.requests[-1].json["model"] == "text-embedding-3-small"


# --- every documented error code, in its envelope ---

def envelope(answer: httpx.Response, code: str, status: int) -> dict:
    body = answer.json()
    assert answer.status_code == status, answer.text
    assert body["error_code"] == code
    assert set(body) >= {"error_code", "message", "provider", "endpoint_group", "request_id", "docs_url"}
    assert body["request_id"] == answer.headers["x-request-id"]
    assert body["docs_url"].startswith("http")
    return body


def test_invalid_json_names_the_field(bridge, upstreams):
    bad_url = v2("openai", {"protocol": "openai", "baseUrl": "ftp://x", "auth": {"type": "none"}})
    body = envelope(generate(bridge, bad_url), "INVALID_JSON", 400)
    assert body["message"].startswith("target.baseUrl:")
    body = envelope(generate(bridge, {"version": 1, "sourceProtocol": "openai", "targetProtocol": "anthropic",
                                      "auth": {"type": "none"}}), "INVALID_JSON", 400)
    assert body["message"].startswith("targetBaseUrl:")
    envelope(httpx.post(bridge.base_url + "/api/generate-url", content=b"{not json", headers={"content-type": "application/json"}), "INVALID_JSON", 400)
    # a proxied call with a body that is not JSON: the OpenAI envelope too, so the SDK raises BadRequestError
    url = proxy_url(bridge, v2("openai", anthropic_target(upstreams)))
    answer = httpx.post(url + "/v1/chat/completions", content=b"{oops", headers={"content-type": "application/json"})
    body = envelope(answer, "INVALID_JSON", 400)
    assert body["error"]["type"] == "invalid_request_error" and body["endpoint_group"] == "chat"


def test_missing_token(bridge):
    for path in ("/proxy/", "/proxy//v1/chat/completions"):
        body = envelope(httpx.post(bridge.base_url + path, json={}), "MISSING_TOKEN", 400)
        assert "no token" in body["message"]


def test_invalid_token_for_any_tampered_character(bridge, upstreams):
    url = proxy_url(bridge, v2("anthropic", anthropic_target(upstreams)))
    prefix, token = url.rsplit("/", 1)
    for position in range(0, len(token), max(1, len(token) // 24)):  # ~24 positions spread over the token
        replacement = "A" if token[position] != "A" else "B"
        tampered = f"{prefix}/{token[:position]}{replacement}{token[position + 1:]}"
        with pytest.raises(anthropic.AuthenticationError) as raised:  # the SDK's own exception
            message(tampered, False)
        assert raised.value.body["error_code"] == "INVALID_TOKEN"
        assert raised.value.body["type"] == "error" and raised.value.body["error"]["type"] == "authentication_error"


def test_unsupported_endpoint_names_group_and_provider(bridge, upstreams):
    url = proxy_url(bridge, v2("openai", anthropic_target(upstreams)))
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client(url).embeddings.create(model="x", input="hi")
    body = raised.value.body if "error_code" in (raised.value.body or {}) else raised.value.response.json()
    assert body["error_code"] == "UNSUPPORTED_ENDPOINT" and body["endpoint_group"] == "embeddings"
    assert body["provider"] == "anthropic" and "anthropic" in body["message"]
    strict = proxy_url(bridge, v2("openai", anthropic_target(upstreams), mode="passthrough"))
    answer = httpx.post(strict + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    body = envelope(answer, "UNSUPPORTED_ENDPOINT", 400)
    assert body["endpoint_group"] == "chat" and "'auto' or 'translate'" in body["message"]


def test_upstream_error_keeps_a_client_error_status_and_is_502_for_a_failure(bridge, upstreams):
    url = proxy_url(bridge, v2("openai", anthropic_target(upstreams), {"mode": "force", "force": "claude-sonnet-4-5"}))
    answer = httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "[sim:error400]"}]})
    body = envelope(answer, "UPSTREAM_ERROR", 400)  # the provider's 400: an SDK must not retry it
    assert body["error"]["type"] == "invalid_request_error" and body["provider"] == "anthropic"
    flaky = {"protocol": "openai", "baseUrl": f"{upstreams.base_url}/flaky/e502/v1", "auth": {"type": "bearer", "token": OPENAI_KEY}}
    url = proxy_url(bridge, v2("openai", flaky))
    upstreams.flaky.script("e502", ["501"])  # not worth retrying
    answer = httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    body = envelope(answer, "UPSTREAM_ERROR", 502)
    assert "scripted 501" in body["message"]


def test_every_answer_carries_its_request_id(bridge, upstreams):
    url = proxy_url(bridge, v2("openai", anthropic_target(upstreams), {"mode": "force", "force": "claude-sonnet-4-5"}))
    raw = openai_client(url).chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-request-id"].startswith("req_") and raw.headers.get("x-upstream-request-id")
    with openai_client(url).chat.completions.with_streaming_response.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True) as streamed:
        assert streamed.headers["x-request-id"].startswith("req_")
    assert generate(bridge, {}).headers["x-request-id"].startswith("req_")


def test_catalog_and_console(bridge):
    catalog = httpx.get(bridge.base_url + "/api/catalog").json()
    ids = {p["id"] for p in catalog["providers"]}
    assert ids >= {"openai", "anthropic", "gemini", "groq", "deepseek", "openrouter", "mistral", "together", "fireworks",
                   "xai", "nvidia", "ollama", "azure", "bedrock", "factory", "trae"}
    assert httpx.get(bridge.base_url + "/").headers["content-type"].startswith("text/html")
    errors = httpx.get(bridge.base_url + "/api/errors").json()
    assert errors["RETRY_EXHAUSTED"]["status"] == 503


# --- secrets: neither the token nor a key shows in the log, the -w file or a recording ---

def test_no_token_or_key_is_logged_saved_or_recorded(bridge, upstreams, folder):
    url = proxy_url(bridge, v2("openai", anthropic_target(upstreams), {"mode": "force", "force": "claude-sonnet-4-5"}))
    token = url.rsplit("/", 1)[1]
    assert chat(url, True)[0].startswith(HELLO)
    with pytest.raises(openai.AuthenticationError):
        chat(url[:-2] + ("AA" if not url.endswith("AA") else "BB"), False)
    aws_url = proxy_url(bridge, v2("anthropic", {"provider": "bedrock", "baseUrl": upstreams.base_url,
                                                 "auth": {"type": "aws", **AWS}}, {"mode": "force", "force": BEDROCK_MODEL}))
    assert message(aws_url, False).startswith(HELLO)
    secrets = [token, token[:40], aws_url.rsplit("/", 1)[1][:40], ANTHROPIC_KEY, AWS["secretAccessKey"], AWS["sessionToken"]]
    bridge.stop()  # flush the -w file and recordings
    texts = {"log": bridge.log_path.read_bytes(), "saved.flow": (folder / "saved.flow").read_bytes()}
    texts.update({p.name: p.read_bytes() for p in (folder / "recorded").rglob("*") if p.is_file()})
    assert len(texts) >= 3
    for name, data in texts.items():
        for secret in secrets:
            assert secret.encode() not in data, f"{secret[:8]}... found in {name}"
    with open(folder / "saved.flow", "rb") as file:
        paths = [f.request.path for f in mitmproxy_io.FlowReader(file).stream() if hasattr(f, "request")]
    assert "/api/generate-url" in paths  # the generate-url flows were saved, but without their answers' URLs
    assert not any("/proxy/" in p and "<token>" not in p for p in paths)


# --- secrets: rotation, and a bridge with none ---

def on(proc: BridgeProcess, url: str) -> str:
    """The same proxy URL served by another bridge process (each test bridge has its own port)."""
    return proc.base_url + url[url.index("/proxy/"):]


def test_secret_rotation(folder, upstreams):
    rules = {"mode": "force", "force": "claude-sonnet-4-5"}
    first = start(folder, secret=SECRET_A, name="rotation-a")
    try:
        old = proxy_url(first, v2("openai", anthropic_target(upstreams), rules))
    finally:
        first.stop()
    rotated = start(folder, secret=f"{SECRET_B},{SECRET_A}", name="rotation-ba")
    try:
        assert chat(on(rotated, old), False)[0].startswith(HELLO)  # the old secret is still listed
        new = proxy_url(rotated, v2("openai", anthropic_target(upstreams), rules))
    finally:
        rotated.stop()
    dropped = start(folder, secret=SECRET_B, name="rotation-b")
    try:
        with pytest.raises(openai.AuthenticationError) as raised:
            chat(on(dropped, old), False)
        assert raised.value.response.json()["error_code"] == "INVALID_TOKEN"
        assert chat(on(dropped, new), False)[0].startswith(HELLO)  # new URLs were sealed with the newest secret
    finally:
        dropped.stop()


def test_without_a_secret_the_url_routes_say_so(folder, upstreams):
    proc = start(folder, secret=None, name="no-secret", toml='[server]\nauth_tokens = ["bridge-token"]\n')
    try:
        body = envelope(generate(proc, v2("openai", anthropic_target(upstreams))), "UNAUTHORIZED", 401)
        assert "access token" in body["message"]
        answer = generate(proc, v2("openai", anthropic_target(upstreams)), headers={"authorization": "Bearer bridge-token"})
        body = envelope(answer, "SECRET_NOT_SET", 503)
        assert "BRIDGE_URL_SECRET" in body["message"]
        envelope(httpx.post(proc.base_url + "/proxy/abc/v1/chat/completions", json={}), "SECRET_NOT_SET", 503)
    finally:
        proc.stop()


def test_minting_with_flows_visible_and_a_bridge_token(folder, upstreams):
    # with flows visible the bridge moves credentials out of the flow at requestheaders: the token still counts
    proc = start(folder, "--set=flow_detail=2", name="visible-minting", toml='[server]\nauth_tokens = ["bridge-token"]\n')
    try:
        body = v2("openai", anthropic_target(upstreams), {"mode": "force", "force": "claude-sonnet-4-5"})
        answer = generate(proc, body, headers={"authorization": "Bearer bridge-token"})
        assert answer.status_code == 200, answer.text
        envelope(generate(proc, body, headers={"authorization": "Bearer wrong"}), "UNAUTHORIZED", 401)
        assert chat(answer.json()["proxyUrl"], False)[0].startswith(HELLO)  # using a URL needs only the URL
        assert "sk-ant-sim" not in proc.log()
    finally:
        proc.stop()


def test_a_url_never_borrows_the_bridges_own_keys(folder, upstreams):
    # the bridge has a provider named "anthropic" with its own key; a URL whose provider is also
    # "anthropic" must go up with the URL's key only
    toml = f"""
[[providers]]
name = "anthropic"
protocol = "anthropic"
base_url = "{upstreams.base_url}"
api_key = "sk-ant-the-bridges-own-key"
"""
    proc = start(folder, name="own-keys", toml=toml)
    try:
        target = {"provider": "anthropic", "baseUrl": upstreams.base_url, "auth": {"type": "x-api-key", "key": ANTHROPIC_KEY}}
        url = proxy_url(proc, v2("openai", target, {"mode": "force", "force": "claude-sonnet-4-5"}))
        upstreams.clear()
        assert chat(url, False)[0].startswith(HELLO)
        (sent,) = [r for r in upstreams.requests if r.path == "/v1/messages"]
        assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    finally:
        proc.stop()
