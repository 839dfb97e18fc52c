"""The Azure OpenAI upstream codec: OpenAI Chat with the deployment in the path and an api-key header."""

from __future__ import annotations

import orjson
import pytest

from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS
from transforms.translation import is_passthrough, stream_translator, translate_answer, upstream_body
from transforms.ir import ChatRequest, Message, TextPart, ToolChoice, ToolDefinition
from transforms.openai_chat.encode_request import encode_chat_request
from transforms.upstream_options import UpstreamOptions

AZURE = UPSTREAM_CODECS["azure"]
BASE = "https://my-resource.openai.azure.com"


def request(**fields) -> ChatRequest:
    return ChatRequest(model="alias", messages=[Message("user", [TextPart("hi")])], **fields)


def test_url_default_api_version():
    assert AZURE.url(BASE, "gpt-4o-prod", False, None) == (
        BASE + "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
    )
    assert AZURE.url(BASE + "/", "gpt-4o-prod", True, UpstreamOptions()) == AZURE.url(BASE, "gpt-4o-prod")


def test_url_api_version_override_and_encoding():
    url = AZURE.url(BASE, "my deployment/v2", False, UpstreamOptions(api_version="2025-01-01-preview"))
    assert url == BASE + "/openai/deployments/my%20deployment%2Fv2/chat/completions?api-version=2025-01-01-preview"


def test_url_base_may_already_end_in_openai():
    assert AZURE.url(BASE + "/openai/", "d") == AZURE.url(BASE, "d")


def test_headers():
    assert AZURE.headers("azure-key") == {"api-key": "azure-key"}
    assert AZURE.headers(None) == {}


def test_body_is_openai_chat_minus_model():
    chat = request(stream=True, max_tokens=50, temperature=0.2, tools=[ToolDefinition("f", "F", {"type": "object"})],
                   tool_choice=ToolChoice("required"))
    options = UpstreamOptions(quirks=frozenset({"max-completion-tokens"}))
    body = AZURE.encode_request(chat, upstream_model="gpt-4o-prod", options=options)
    expected = encode_chat_request(chat, upstream_model="gpt-4o-prod", options=options)
    del expected["model"]
    assert body == expected
    assert body["stream_options"] == {"include_usage": True} and body["max_completion_tokens"] == 50


def test_an_openai_chat_client_is_translated_not_passed_through():
    client = CLIENT_CODECS["openai-chat"]
    assert not is_passthrough(client, AZURE)
    body = orjson.loads(upstream_body(client, AZURE, request(), {"model": "alias", "messages": []}, upstream_model="d"))
    assert "model" not in body and body["messages"] == [{"role": "user", "content": "hi"}]


COMPLETION = {
    "id": "chatcmpl-az1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}}}],
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hello."},
                 "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}}}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}


def test_whole_answer_to_an_anthropic_client():
    status, _, body = translate_answer(CLIENT_CODECS["anthropic"], AZURE, request(), status=200,
                                       body=orjson.dumps(COMPLETION), created=1, provider="azure")
    out = orjson.loads(body)
    assert status == 200 and out["content"] == [{"type": "text", "text": "Hello."}]
    assert out["usage"]["input_tokens"] == 9 and out["stop_reason"] == "end_turn"


@pytest.mark.parametrize(("status", "body", "kind"), [
    (401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint."}}, "authentication"),
    (404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}}, "not_found"),
    (400, {"error": {"code": "BadRequest", "message": "API version not supported"}}, "invalid_request"),
    (400, {"error": {"code": "content_filter", "message": "The response was filtered", "param": "prompt", "status": 400}}, "invalid_request"),
    (429, {"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation have exceeded the rate limit."}}, "rate_limit"),
])
def test_errors(status, body, kind):
    error = AZURE.decode_error(status, orjson.dumps(body), provider="azure", retry_after="5")
    assert (error.kind, error.status, error.retry_after) == (kind, status, "5")
    assert error.message == f"azure upstream: {body['error']['message']}"


def test_stream_with_azure_prompt_filter_chunk():
    def data(payload: dict) -> bytes:
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    head = {"id": "chatcmpl-az1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    body = (
        data({"choices": [], "created": 0, "id": "", "model": "", "object": "",
              "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]})
        + data({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        + data({**head, "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]})
        + data({**head, "choices": [{"index": 0, "delta": {"content": "lo."}, "finish_reason": None}]})
        + data({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        + data({**head, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}})
        + b"data: [DONE]\n\n"
    )
    translator = stream_translator(CLIENT_CODECS["anthropic"], AZURE, request(stream=True), {}, created=1, provider="azure")
    out = b"".join(translator.feed(body[i : i + 13]) for i in range(0, len(body), 13)) + translator.close()
    events = [orjson.loads(line[6:]) for line in out.split(b"\n") if line.startswith(b"data: ")]
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "Hello." and events[-1]["type"] == "message_stop"
    assert next(e for e in events if e["type"] == "message_delta")["usage"]["output_tokens"] == 2
