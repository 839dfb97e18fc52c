"""The fake Bedrock runtime (SigV4-checked) and the fake Azure OpenAI resource, over real HTTP."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

import botocore.session
import httpx
import orjson
import pytest
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer

from addons.credentials.aws_sigv4 import sign
from tests.simulator import Simulator
from tests.simulator.azure import AzureSimulator
from tests.simulator.bedrock import BedrockSimulator
from tests.simulator.common import Context
from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS
from transforms.translation import stream_translator, translate_answer
from transforms.bedrock.event_stream import EventStreamFraming
from transforms.ir import ChatRequest, Message, TextPart
from transforms.upstream_options import UpstreamOptions

ACCESS_KEY_ID, SECRET, REGION, TOKEN = "AKIDSIMULATOR0EXAMPLE", "sim/secret+key", "us-east-1", "session-token-sim"
MODEL_ID = "us.anthropic.claude-sonnet-4-20250514-v1:0"
AZURE_KEY = "azure-sim-key"
HELLO = "Hello from the simulator! Ünïcödé ✓ 🌍"
BEDROCK = UPSTREAM_CODECS["bedrock"]
AZURE = UPSTREAM_CODECS["azure"]


@dataclass
class Stack:
    simulator: Simulator
    bedrock: BedrockSimulator
    azure: AzureSimulator
    http: httpx.Client


def start(**bedrock_options) -> Stack:
    context = Context(anthropic_key="sk-ant-sim", openai_key="sk-sim")
    bedrock = BedrockSimulator(context, ACCESS_KEY_ID, SECRET, REGION, bedrock_options.pop("session_token", TOKEN), **bedrock_options)
    azure = AzureSimulator(context, AZURE_KEY, deployments=["gpt-4o-prod"])
    simulator = Simulator(fronts=[bedrock, azure])
    simulator.start_in_thread()
    return Stack(simulator, bedrock, azure, httpx.Client(timeout=10))


@pytest.fixture
def stack():
    built = start()
    yield built
    built.http.close()
    built.simulator.stop()


def anthropic_body(text: str = "hi", **fields) -> dict:
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [{"role": "user", "content": text}], **fields}


def signed_post(stack: Stack, body: dict | bytes, *, stream: bool = False, model: str = MODEL_ID, send_body: bytes | None = None,
                headers: dict | None = None, after: dict | None = None, **credentials) -> httpx.Response:
    """Sign as the bridge does, optionally change something after signing, and send."""
    url = BEDROCK.url(stack.simulator.base_url, model, stream, None)
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    keys = {"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET, "session_token": TOKEN, "region": REGION, **credentials}
    signed = sign("POST", url, headers or {"content-type": "application/json"}, raw, **keys)
    signed.update(after or {})
    signed = {name: value for name, value in signed.items() if value is not None}
    return stack.http.post(url, content=send_body if send_body is not None else raw, headers=signed)


def inner_events(content: bytes) -> list[dict]:
    """A Bedrock stream decoded with botocore's parser: the Anthropic events inside, and exceptions."""
    buffer = EventStreamBuffer()
    buffer.add_data(content)
    out = []
    for message in buffer:
        if message.headers[":message-type"] == "event":
            out.append(orjson.loads(base64.b64decode(orjson.loads(message.payload)["bytes"])))
        else:
            out.append({"exception": message.headers[":exception-type"], **orjson.loads(message.payload)})
    return out


def text_of(events: list[dict]) -> str:
    return "".join(e["delta"].get("text", "") for e in events if e.get("type") == "content_block_delta")


# --- Bedrock: accepted --------------------------------------------------------------------------


def test_signed_invoke_is_accepted(stack):
    response = signed_post(stack, anthropic_body())
    assert response.status_code == 200, response.text
    message = response.json()
    assert message["type"] == "message" and message["model"] == MODEL_ID
    assert message["content"][0]["text"] == HELLO
    assert response.headers["x-amzn-bedrock-output-token-count"] == str(message["usage"]["output_tokens"])
    assert stack.bedrock.verified == 1
    assert stack.bedrock.requests[0].path == "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke"


def test_signed_stream_is_accepted(stack):
    response = signed_post(stack, anthropic_body("hi [sim:tools split=5]"), stream=True)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    events = inner_events(response.content)
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert events[-1]["type"] == "message_stop" and events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] > 0
    assert any(e.get("content_block", {}).get("name") == "get_weather" for e in events)
    assert stack.bedrock.verified == 1


def test_recorded_stream_splits_anywhere(stack):
    """A stream as the simulator sent it, fed to the bridge's framing cut at every byte."""
    recorded = signed_post(stack, anthropic_body("[sim:tools]"), stream=True).content

    def decoded(*chunks: bytes) -> list:
        framing = EventStreamFraming()
        return [(e.event, e.data) for chunk in chunks for e in framing.feed(chunk)] + framing.close()

    whole = decoded(recorded)
    assert [orjson.loads(data) for _, data in whole] == inner_events(recorded)
    for cut in range(len(recorded) + 1):
        assert decoded(recorded[:cut], recorded[cut:]) == whole


def test_arn_model_ids_sign_and_route(stack):
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"
    response = signed_post(stack, anthropic_body(), model=arn)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == arn


def test_no_session_token_when_none_is_configured():
    built = start(session_token=None)
    try:
        assert signed_post(built, anthropic_body(), session_token=None).status_code == 200
        refused = signed_post(built, anthropic_body())  # a token the account does not have
        assert refused.status_code == 403 and refused.json()["message"] == "The security token included in the request is invalid."
    finally:
        built.http.close()
        built.simulator.stop()


def botocore_client(stack: Stack):
    return botocore.session.get_session().create_client(
        "bedrock-runtime", region_name=REGION, endpoint_url=stack.simulator.base_url,
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET, aws_session_token=TOKEN,
        config=Config(retries={"max_attempts": 1}),
    )


def test_a_real_botocore_client_is_accepted(stack):
    client = botocore_client(stack)
    answer = client.invoke_model(modelId=MODEL_ID, body=orjson.dumps(anthropic_body()), contentType="application/json")
    assert orjson.loads(answer["body"].read())["content"][0]["text"] == HELLO
    streamed = client.invoke_model_with_response_stream(modelId=MODEL_ID, body=orjson.dumps(anthropic_body("[sim:thinking]")))
    events = [orjson.loads(part["chunk"]["bytes"]) for part in streamed["body"]]
    assert text_of(events) == "The answer is 42."
    assert stack.bedrock.verified == 2


def test_sign_matches_a_real_botocore_client(stack):
    """The same request signed by `sign` and by boto's bedrock-runtime client carries the same Authorization."""
    client = botocore_client(stack)
    captured = {}
    client.meta.events.register("before-send", lambda request, **_: captured.update(request=request))
    body = orjson.dumps(anthropic_body())
    for _ in range(5):  # the two must fall in the same second to compare signatures
        client.invoke_model(modelId=MODEL_ID, body=body, contentType="application/json", accept="application/json")
        real = {name.lower(): value.decode() if isinstance(value, bytes) else value for name, value in captured["request"].headers.items()}
        ours = sign("POST", captured["request"].url, {"content-type": "application/json", "accept": "application/json"}, body,
                    access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET, session_token=TOKEN, region=REGION)
        if ours["x-amz-date"] == real["x-amz-date"]:
            break
    assert captured["request"].url == BEDROCK.url(stack.simulator.base_url, MODEL_ID)
    assert ours["authorization"] == real["authorization"]
    assert "/bedrock/aws4_request" in ours["authorization"]
    assert ours["x-amz-security-token"] == real["x-amz-security-token"] == TOKEN
    assert ours["host"] == f"127.0.0.1:{stack.simulator.port}"


# --- Bedrock: refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "exception", "message"), [
    ({"access_key_id": "AKIDSOMEONEELSE00000"}, "UnrecognizedClientException", "The security token included in the request is invalid."),
    ({"secret_access_key": "wrong"}, "InvalidSignatureException", "The request signature we calculated does not match"),
    ({"region": "eu-west-1"}, "InvalidSignatureException", "Credential should be scoped to a valid region, not 'eu-west-1'."),
    ({"service": "bedrock-runtime"}, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'."),
    ({"session_token": None}, "UnrecognizedClientException", "The security token included in the request is invalid."),
    ({"session_token": "another-token"}, "UnrecognizedClientException", "The security token included in the request is invalid."),
])
def test_wrong_credentials_are_refused(stack, change, exception, message):
    response = signed_post(stack, anthropic_body(), **change)
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"].startswith(exception + ":")
    assert response.json()["message"].startswith(message)
    assert stack.bedrock.verified == 0


@pytest.mark.parametrize("tamper", [
    {"send_body": orjson.dumps(anthropic_body("hi!"))},  # the body changed after signing
    {"after": {"content-type": "text/plain"}},  # a signed header changed
    {"after": {"x-amz-date": "20200101T000000Z"}},
    {"after": {"authorization": None}},
    {"after": {"authorization": "AWS4-HMAC-SHA256 Credential=garbage"}},
])
def test_tampered_requests_are_refused(stack, tamper):
    response = signed_post(stack, anthropic_body(), **tamper)
    assert response.status_code == 403, response.text
    assert set(response.json()) == {"message"} and response.headers["x-amzn-errortype"]
    assert stack.bedrock.verified == 0


def test_the_path_is_signed(stack):
    url = BEDROCK.url(stack.simulator.base_url, MODEL_ID)
    body = orjson.dumps(anthropic_body())
    headers = sign("POST", url, {}, body, access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET, session_token=TOKEN, region=REGION)
    response = stack.http.post(url.replace("sonnet-4", "opus-4"), content=body, headers=headers)
    assert response.status_code == 403 and "signature we calculated" in response.json()["message"]


@pytest.mark.parametrize(("offset_s", "said"), [(-600, "Signature not yet current"), (600, "Signature expired"), (240, None)])
def test_clock_skew(offset_s, said):
    built = start(clock=lambda: time.time() + offset_s)  # the server's clock is off, not the signer's
    try:
        response = signed_post(built, anthropic_body())
        if said is None:
            assert response.status_code == 200
        else:
            assert response.status_code == 403 and response.json()["message"].startswith(said)
            assert response.headers["x-amzn-errortype"].startswith("InvalidSignatureException")
    finally:
        built.http.close()
        built.simulator.stop()


@pytest.mark.parametrize(("body", "message"), [
    ({"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}, "required key [anthropic_version] not found"),
    (anthropic_body(anthropic_version="2023-06-01"), "anthropic_version: Input should be 'bedrock-2023-05-31'"),
    (anthropic_body(model=MODEL_ID), "model: Extra inputs are not permitted"),
    (anthropic_body(stream=True), "stream: Extra inputs are not permitted"),
])
def test_body_checks(stack, body, message):
    response = signed_post(stack, body)
    assert response.status_code == 400 and message in response.json()["message"]
    assert response.headers["x-amzn-errortype"].startswith("ValidationException:")
    assert stack.bedrock.verified == 1  # signed correctly, refused for its body


@pytest.mark.parametrize(("scenario", "anthropic_type", "status", "exception", "kind"), [
    ("error400", "invalid_request_error", 400, "ValidationException", "invalid_request"),
    ("error403", "permission_error", 403, "AccessDeniedException", "permission"),
    ("error404", "not_found_error", 404, "ResourceNotFoundException", "not_found"),
    ("error429", "rate_limit_error", 429, "ThrottlingException", "rate_limit"),
    ("error500", "api_error", 500, "InternalServerException", "api_error"),
    ("error529", "overloaded_error", 503, "ServiceUnavailableException", "overloaded"),
])
def test_front_errors_in_bedrock_shape(stack, scenario, anthropic_type, status, exception, kind):
    response = signed_post(stack, anthropic_body(f"[sim:{scenario}]"))
    assert response.status_code == status
    assert response.headers["x-amzn-errortype"].startswith(exception + ":")
    assert response.json() == {"message": f"simulated {anthropic_type}"}
    error = BEDROCK.decode_error(response.status_code, response.content, provider="bedrock")
    assert error.kind == kind


def test_midstream_error_is_an_exception_frame(stack):
    events = inner_events(signed_post(stack, anthropic_body("[sim:midstream_error]"), stream=True).content)
    assert events[-1] == {"exception": "serviceUnavailableException", "message": "simulated overloaded mid-stream"}
    stack.bedrock.midstream_exception = "modelStreamErrorException"
    events = inner_events(signed_post(stack, anthropic_body("[sim:midstream_error]"), stream=True).content)
    assert events[-1]["exception"] == "modelStreamErrorException"


# --- Bedrock: the bridge's side, end to end -------------------------------------------------------


def chat(text: str, stream: bool) -> ChatRequest:
    return ChatRequest(model="claude-alias", messages=[Message("user", [TextPart(text)])], stream=stream, include_usage=True)


def bridge_request(stack: Stack, request: ChatRequest) -> tuple[str, bytes, dict[str, str]]:
    """What the bridge sends for a request to the Bedrock codec: its URL and body, signed."""
    url = BEDROCK.url(stack.simulator.base_url, MODEL_ID, request.stream, None)
    body = orjson.dumps(BEDROCK.encode_request(request, upstream_model=MODEL_ID, options=UpstreamOptions()))
    headers = sign("POST", url, {"content-type": "application/json", **BEDROCK.headers(None)}, body,
                   access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET, session_token=TOKEN, region=REGION)
    return url, body, headers


def streamed(stack: Stack, request: ChatRequest):
    url, body, headers = bridge_request(stack, request)
    return stack.http.stream("POST", url, content=body, headers=headers)


def test_openai_client_via_bedrock_whole(stack):
    request = chat("hi", stream=False)
    url, body, headers = bridge_request(stack, request)
    response = stack.http.post(url, content=body, headers=headers)
    status, _, body = translate_answer(CLIENT_CODECS["openai-chat"], BEDROCK, request, status=response.status_code,
                                       body=response.content, created=1, provider="bedrock")
    assert status == 200 and orjson.loads(body)["choices"][0]["message"]["content"] == HELLO


@pytest.mark.parametrize("scenario", ["text split=3", "tools", "thinking", "midstream_error", "error429"])
def test_openai_client_via_bedrock_stream(stack, scenario):
    request = chat(f"hi [sim:{scenario}]", stream=True)
    with streamed(stack, request) as response:
        if response.status_code != 200:
            response.read()
            status, _, body = translate_answer(CLIENT_CODECS["openai-chat"], BEDROCK, request, status=response.status_code,
                                               body=response.content, created=1, provider="bedrock")
            assert (status, orjson.loads(body)["error"]["type"]) == (429, "rate_limit_error")
            return
        translator = stream_translator(CLIENT_CODECS["openai-chat"], BEDROCK, request, {}, created=1, provider="bedrock")
        out = b"".join(translator.feed(chunk) for chunk in response.iter_raw()) + translator.close()
    chunks = [line[6:] for line in out.split(b"\n\n") if line.startswith(b"data: ")]
    if scenario == "midstream_error":
        error = orjson.loads(chunks[-1])["error"]
        assert error["type"] == "server_error" and "serviceUnavailableException" in error["message"]
        return
    assert chunks[-1] == b"[DONE]"
    parsed = [orjson.loads(c) for c in chunks[:-1]]
    deltas = [c["choices"][0]["delta"] for c in parsed if c["choices"]]
    if scenario.startswith("text"):
        assert "".join(d.get("content") or "" for d in deltas) == HELLO
    if scenario == "tools":
        assert [c["function"]["name"] for d in deltas for c in d.get("tool_calls", []) if "id" in c] == ["get_weather"] * 2
    if scenario == "thinking":
        assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Let me think this through carefully."
    assert parsed[-1]["usage"]["completion_tokens"] > 0


def test_disconnect_keeps_the_frames_sent_before_it(stack):
    """The disconnect scenario sends the whole Anthropic stream, then drops the connection unterminated."""
    request = chat("hi [sim:disconnect]", stream=True)
    translator = stream_translator(CLIENT_CODECS["openai-chat"], BEDROCK, request, {}, created=1, provider="bedrock")
    out = b""
    with streamed(stack, request) as response, pytest.raises(httpx.RemoteProtocolError):
        for chunk in response.iter_raw():
            out += translator.feed(chunk)
    out += translator.close()
    chunks = [orjson.loads(line[6:]) for line in out.split(b"\n\n") if line.startswith(b"data: {")]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "Partial answer before"
    assert out.endswith(b"data: [DONE]\n\n")


# --- Azure ---------------------------------------------------------------------------------------


def azure_post(stack: Stack, *, deployment: str = "gpt-4o-prod", query: str = "?api-version=2024-10-21",
               headers: dict | None = None, body: dict | None = None) -> httpx.Response:
    url = f"{stack.simulator.base_url}/openai/deployments/{deployment}/chat/completions{query}"
    body = body or {"messages": [{"role": "user", "content": "hi"}]}
    return stack.http.post(url, json=body, headers={"api-key": AZURE_KEY} if headers is None else headers)


def test_azure_accepts_the_right_key_and_version(stack):
    response = azure_post(stack)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == HELLO
    assert response.json()["model"] == "gpt-4o-prod"
    assert response.headers["apim-request-id"]


@pytest.mark.parametrize("version", ["2024-02-01", "2024-06-01", "2025-01-01-preview"])
def test_azure_known_versions(stack, version):
    assert azure_post(stack, query=f"?api-version={version}").status_code == 200


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"headers": {"api-key": "wrong"}}, 401, "401"),
    ({"headers": {}}, 401, "401"),
    ({"headers": {"authorization": f"Bearer {AZURE_KEY}"}}, 401, "401"),
    ({"query": ""}, 400, "BadRequest"),
    ({"query": "?api-version=2023-01-01"}, 400, "BadRequest"),
    ({"deployment": "gpt-5-nowhere"}, 404, "DeploymentNotFound"),
])
def test_azure_refusals(stack, kwargs, status, code):
    response = azure_post(stack, **kwargs)
    assert response.status_code == status and response.json()["error"]["code"] == code
    if status == 401:
        assert response.json()["error"]["message"].startswith("Access denied due to invalid subscription key")
        error = AZURE.decode_error(status, response.content, provider="azure")
        assert error.kind == "authentication" and "subscription key" in error.message


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_client_via_azure(stack, stream):
    """The bridge's side: the Azure codec's URL, headers and body, the answer translated for an Anthropic client."""
    request = chat("hi", stream)
    url = AZURE.url(stack.simulator.base_url, "gpt-4o-prod", stream, UpstreamOptions(api_version="2025-01-01-preview"))
    body = AZURE.encode_request(request, upstream_model="gpt-4o-prod", options=UpstreamOptions())
    response = stack.http.post(url, content=orjson.dumps(body), headers={"content-type": "application/json", **AZURE.headers(AZURE_KEY)})
    assert response.status_code == 200, response.text
    if not stream:
        status, _, out = translate_answer(CLIENT_CODECS["anthropic"], AZURE, request, status=200, body=response.content,
                                          created=1, provider="azure")
        assert orjson.loads(out)["content"][0]["text"] == HELLO
        return
    translator = stream_translator(CLIENT_CODECS["anthropic"], AZURE, request, {}, created=1, provider="azure")
    out = translator.feed(response.content) + translator.close()
    events = [orjson.loads(line[6:]) for line in out.split(b"\n") if line.startswith(b"data: ")]
    assert text_of(events) == HELLO and events[-1]["type"] == "message_stop"
