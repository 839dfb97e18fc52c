"""Hostile requests, as data: what a careless or malicious client (or another site's page) sends.

Each `Case` is one raw HTTP request to the bridge — method, path, headers, the body's exact bytes —
with the answer it must get: a status from `statuses`, an error in the envelope of `protocol`
(the client's own protocol), the client's field named where one is at fault (`fields`: any one of
them, in OpenAI's `param` or in the message), and `mentions` (regular expressions the message must
match, e.g. the content encoding it refuses). Nothing may reach the upstream.

Header values may hold `{port}`, the bridge's port, filled in when the case is sent. A `Host` of
`127.0.0.1:{port}` is sent unless the case names another.

`test_hostile_input.py` sends every case to a real `mitmdump -s addons/bridge.py`.
"""

from __future__ import annotations

import functools
import gzip
import json
import zlib
from collections import Counter
from dataclasses import dataclass

PROTOCOLS = ("openai-chat", "openai-responses", "anthropic", "gemini")

# a marker in every case's text: an answer that contains it echoes the client's raw body
CANARY = "canary-5f1e9b-never-echoed"

CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
GEMINI_PATH = "/v1beta/models/gem-sim:generateContent"
GEMINI_STREAM_PATH = "/v1beta/models/gem-sim:streamGenerateContent?alt=sse"

PATHS = {"openai-chat": CHAT_PATH, "openai-responses": RESPONSES_PATH, "anthropic": MESSAGES_PATH, "gemini": GEMINI_PATH}

JSON_TYPE = ("Content-Type", "application/json")

MAX_REQUEST_BYTES_DEFAULT = 32 * 1024 * 1024
BOMB_INFLATED = 100 * 1024 * 1024  # what every compression bomb inflates to (100 MiB > 32 MiB)
OVERSIZE_DECLARED = 40 * 1024 * 1024  # a Content-Length above the default limit

# a Python repr, an exception's class name or a traceback in an answer
LEAK_PATTERNS = (
    r"Traceback \(most recent call last\)",
    r"\bJSONDecodeError\b",
    r"\bTypeError\b",
    r"\bValueError\b",
    r"\bKeyError\b",
    r"\bAttributeError\b",
    r"\bIndexError\b",
    r"\bRecursionError\b",
    r"\bOverflowError\b",
    r"\bAssertionError\b",
    r"\bUnicode(?:Decode|Encode)?Error\b",
    r"\bzlib\.error\b",
    r"\b[A-Z][A-Za-z]*(?:Error|Exception)\(",  # SomeError('...') as repr() writes it
    r"\bb'[^']*'",  # a bytes repr
    r'\bb"[^"]*"',
    r" object at 0x[0-9a-f]+",
    r"<class '",
    r'File "[^"]+\.py", line \d+',
)


@dataclass(frozen=True)
class Case:
    name: str
    protocol: str  # whose envelope the answer must use
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    statuses: frozenset[int]
    fields: tuple[str, ...] = ()  # one of these must be named (param or message)
    mentions: tuple[str, ...] = ()  # regexes the message must each match (case-insensitive)
    declared_length: int | None = None  # a Content-Length other than len(body); only `body` is sent

    def __repr__(self) -> str:  # pytest ids and failure reports stay short
        return f"Case({self.name})"


def _bytes(data) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def _with_raw(data: dict, raw: str) -> bytes:
    """`data` as JSON with the string "__RAW__" replaced by `raw` (JSON text json.dumps cannot write)."""
    text = json.dumps(data, ensure_ascii=False)
    assert text.count('"__RAW__"') == 1
    return text.replace('"__RAW__"', raw).encode()


# --- good bodies, one per protocol (also the follow-up request after every case) ---

def chat_body(**fields) -> dict:
    return {"model": "gpt-sim", "messages": [{"role": "user", "content": f"hello {CANARY}"}], **fields}


def messages_body(**fields) -> dict:
    return {"model": "claude-sim", "max_tokens": 64, "messages": [{"role": "user", "content": f"hello {CANARY}"}], **fields}


def responses_body(**fields) -> dict:
    return {"model": "resp-sim", "input": f"hello {CANARY}", **fields}


def gemini_body(**fields) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": f"hello {CANARY}"}]}], **fields}


GOOD_BODIES = {
    "openai-chat": lambda: _bytes(chat_body()),
    "anthropic": lambda: _bytes(messages_body()),
    "openai-responses": lambda: _bytes(responses_body()),
    "gemini": lambda: _bytes(gemini_body()),
}


def good_request(protocol: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """(method, path, headers, body) of a request the bridge must answer 200."""
    body = GOOD_BODIES[protocol]()
    return "POST", PATHS[protocol], [JSON_TYPE], body


def good_body(protocol: str) -> bytes:
    return GOOD_BODIES[protocol]()


# --- compressed bodies ---

PADDED_JSON_HEAD = b'{"model":"gpt-sim","messages":[{"role":"user","content":"hi"}]}'


@functools.cache
def bomb(encoding: str) -> bytes:
    """A valid JSON object followed by 100 MiB of spaces (still valid JSON once inflated), compressed."""
    data = PADDED_JSON_HEAD + b" " * (BOMB_INFLATED - len(PADDED_JSON_HEAD))
    if encoding == "gzip":
        return gzip.compress(data, 9)
    if encoding == "deflate":
        return zlib.compress(data, 9)
    if encoding == "br":
        import brotli

        return brotli.compress(data, quality=5)
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    raise ValueError(encoding)


def compressed(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "br":
        import brotli

        return brotli.compress(data)
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(encoding)


def corrupt(encoding: str) -> bytes:
    """A body that starts like `encoding` and then is garbage."""
    whole = compressed(encoding, _bytes(chat_body()) * 4)
    keep = {"gzip": 12, "deflate": 6, "br": 4, "zstd": 8}[encoding]
    return whole[:keep] + bytes((b * 37 + 11) % 256 for b in range(200))


# --- deep nesting ---

def nested_schema(levels: int) -> str:
    """A JSON schema `levels` objects deep (about 2 x levels JSON levels)."""
    return '{"type":"object","properties":{"a":' * levels + '{"type":"string"}' + "}}" * levels


def nested_arrays(levels: int) -> str:
    return "[" * levels + "]" * levels


# --- the corpus ---

CASES: list[Case] = []


def case(name: str, protocol: str, body: bytes, statuses, *, path: str | None = None, method: str = "POST",
         headers=None, content_type: str | None = "application/json", fields=(), mentions=(),
         declared_length: int | None = None) -> None:
    all_headers = []
    if content_type is not None:
        all_headers.append(("Content-Type", content_type))
    all_headers += list(headers or ())
    statuses = frozenset([statuses] if isinstance(statuses, int) else statuses)
    CASES.append(Case(name, protocol, method, path or PATHS[protocol], tuple(all_headers), body, statuses,
                      tuple(fields), tuple(mentions), declared_length))


GOOD = {"openai-chat": chat_body, "anthropic": messages_body, "openai-responses": responses_body, "gemini": gemini_body}
ALT_PATHS = {"openai-chat": CHAT_PATH, "openai-responses": RESPONSES_PATH, "anthropic": COUNT_TOKENS_PATH,
             "gemini": GEMINI_STREAM_PATH}
SHORT = {"openai-chat": "chat", "openai-responses": "responses", "anthropic": "messages", "gemini": "gemini"}
ENCODINGS_BY_PROTOCOL = {"openai-chat": "gzip", "anthropic": "deflate", "openai-responses": "br", "gemini": "zstd"}


def _for_every_protocol() -> None:
    for protocol in PROTOCOLS:
        p = SHORT[protocol]
        good = _bytes(GOOD[protocol]())
        alt = ALT_PATHS[protocol]

        # 2. the body is JSON, sent as JSON, or nothing
        case(f"{p}-content-type-text-plain", protocol, good, 415, content_type="text/plain")
        case(f"{p}-content-type-text-plain-alt-path", protocol, good, 415, path=alt, content_type="text/plain;charset=UTF-8")
        case(f"{p}-content-type-form-urlencoded", protocol, good, 415, content_type="application/x-www-form-urlencoded")
        case(f"{p}-content-type-multipart", protocol,
             b"--b0undary\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n" + good + b"\r\n--b0undary--\r\n", 415,
             content_type="multipart/form-data; boundary=b0undary")
        case(f"{p}-content-type-missing", protocol, good, 415, content_type=None)

        # 2. other sites' pages
        case(f"{p}-origin-foreign", protocol, good, 403, headers=[("Origin", "https://evil.example")])
        case(f"{p}-origin-null", protocol, good, 403, headers=[("Origin", "null")])

        # 4. size and encodings
        case(f"{p}-content-length-over-limit", protocol, good + b" " * 4096, 413, declared_length=OVERSIZE_DECLARED)
        case(f"{p}-gzip-bomb", protocol, bomb("gzip"), 413, headers=[("Content-Encoding", "gzip")])
        encoding = ENCODINGS_BY_PROTOCOL[protocol]
        if encoding != "gzip":
            case(f"{p}-{encoding}-bomb", protocol, bomb(encoding), 413, headers=[("Content-Encoding", encoding)])
        case(f"{p}-content-encoding-unknown", protocol, good, 415, headers=[("Content-Encoding", "x-snappy-9")],
             mentions=[r"x-snappy-9"])
        case(f"{p}-corrupt-gzip", protocol, corrupt("gzip"), 400, headers=[("Content-Encoding", "gzip")],
             mentions=[r"gzip"])
        case(f"{p}-json-nested-2000", protocol, _with_raw(GOOD[protocol](metadata_x="__RAW__"), nested_arrays(2000)),
             400, mentions=[r"depth|nest"])

        # 6. what is not JSON, or not a JSON object
        case(f"{p}-empty-body", protocol, b"", 400)
        case(f"{p}-json-array", protocol, b"[" + good + b"]", 400)
        case(f"{p}-json-scalar", protocol, b"42", 400)
        case(f"{p}-invalid-utf8", protocol, good.replace(b"hello", b"hel\xff\xfelo"), 400)
        case(f"{p}-truncated-json", protocol, good[: len(good) // 2], 400)


_for_every_protocol()

# --- 1. model names: control characters, length, traversal (per protocol) ---

CRLF = "\r\nx-injected: yes"
for model, label in (("gpt-sim" + CRLF, "crlf"), ("gem/x" + CRLF, "gemini-upstream-crlf"), ("gpt-sim\u0000", "nul"),
                     ("gpt-sim\u007f", "del"), ("gpt-sim\t", "tab"), ("a" * 257, "257-chars")):
    case(f"chat-model-{label}", "openai-chat", _bytes(chat_body(model=model)), 400, fields=["model"])
case("chat-model-256-chars-is-not-too-long", "openai-chat", _bytes(chat_body(model="b" * 256)), 404)
case("chat-model-path-traversal", "openai-chat", _bytes(chat_body(model="../../v1/files")), {400, 404})
case("chat-stream-model-crlf", "openai-chat", _bytes(chat_body(model="gpt-sim" + CRLF, stream=True)), 400, fields=["model"])

for model, label in (("claude/x" + CRLF, "crlf"), ("claude-sim\u001b[31m", "esc"), ("claude-sim\u0000", "nul"),
                     ("c" * 300, "long")):
    case(f"messages-model-{label}", "anthropic", _bytes(messages_body(model=model)), 400, fields=["model"])
case("count-tokens-model-lf", "anthropic", _bytes(messages_body(model="claude-sim\n")), 400, path=COUNT_TOKENS_PATH,
     fields=["model"])

for model, label in (("resp-sim" + CRLF, "crlf"), ("resp/x\u0000", "nul"), ("gem/y\u007f", "gemini-upstream-del"),
                     ("r" * 1000, "long")):
    case(f"responses-model-{label}", "openai-responses", _bytes(responses_body(model=model)), 400, fields=["model"])

for url_model, label in (("gem-sim%0D%0Ax-injected%3A%20yes", "crlf"), ("gem-sim%00", "nul"), ("gem-sim%7F", "del"),
                         ("claude%2Fx%0Ax-injected%3A%20yes", "provider-lf"), ("g" * 300, "long")):
    case(f"gemini-url-model-{label}", "gemini", _bytes(gemini_body()), 400,
         path=f"/v1beta/models/{url_model}:generateContent", fields=["model"])
case("gemini-stream-url-model-crlf", "gemini", _bytes(gemini_body()), 400,
     path="/v1beta/models/gem-sim%0D%0Ax-injected%3A%20yes:streamGenerateContent?alt=sse", fields=["model"])
case("gemini-url-model-path-traversal", "gemini", _bytes(gemini_body()), {400, 404},
     path="/v1beta/models/..%2F..%2Fx:generateContent")

# --- 2. more origins, and content types that only look like JSON ---

case("chat-origin-other-local-port", "openai-chat", _bytes(chat_body()), 403, headers=[("Origin", "http://127.0.0.1:5173")])
case("messages-origin-suffix-trick", "anthropic", _bytes(messages_body()), 403,
     headers=[("Origin", "http://127.0.0.1:{port}.evil.example")])
case("responses-dns-rebinding", "openai-responses", _bytes(responses_body()), 403,
     headers=[("Host", "evil.example:{port}"), ("Origin", "http://evil.example:{port}")])
case("gemini-dns-rebinding", "gemini", _bytes(gemini_body()), 403,
     headers=[("Host", "evil.example:{port}"), ("Origin", "http://evil.example:{port}")])
case("count-tokens-origin-foreign", "anthropic", _bytes(messages_body()), 403, path=COUNT_TOKENS_PATH,
     headers=[("Origin", "https://evil.example")])
case("chat-content-type-jsonx", "openai-chat", _bytes(chat_body()), 415, content_type="application/jsonx")
case("gemini-content-type-text-json-lookalike", "gemini", _bytes(gemini_body()), 415, content_type="text/json")
case("count-tokens-empty-content-type", "anthropic", _bytes(messages_body()), 415, path=COUNT_TOKENS_PATH, content_type="")

# --- 4. the other encodings, corrupt ---

case("messages-corrupt-deflate", "anthropic", corrupt("deflate"), 400, headers=[("Content-Encoding", "deflate")],
     mentions=[r"deflate"])
case("responses-corrupt-br", "openai-responses", corrupt("br"), 400, headers=[("Content-Encoding", "br")],
     mentions=[r"\bbr\b|brotli"])
case("gemini-corrupt-zstd", "gemini", corrupt("zstd"), 400, headers=[("Content-Encoding", "zstd")], mentions=[r"zstd"])

# --- 4. deep tool schemas: parsed fine, deeper than the bridge can re-encode ---

SCHEMA_450 = nested_schema(450)
case("chat-tool-schema-450-deep", "openai-chat",
     _with_raw(chat_body(tools=[{"type": "function", "function": {"name": "deep", "parameters": "__RAW__"}}]), SCHEMA_450),
     400, mentions=[r"depth|nest"])
case("messages-tool-schema-450-deep", "anthropic",
     _with_raw(messages_body(tools=[{"name": "deep", "input_schema": "__RAW__"}]), SCHEMA_450), 400, mentions=[r"depth|nest"])
case("responses-tool-schema-450-deep", "openai-responses",
     _with_raw(responses_body(tools=[{"type": "function", "name": "deep", "parameters": "__RAW__"}]), SCHEMA_450),
     400, mentions=[r"depth|nest"])
case("gemini-tool-schema-450-deep", "gemini",
     _with_raw(gemini_body(tools=[{"functionDeclarations": [{"name": "deep", "parameters": "__RAW__"}]}]), SCHEMA_450),
     400, mentions=[r"depth|nest"])

# --- 6. JSON the bridge's parser must refuse cleanly ---

case("chat-lone-surrogate", "openai-chat", _bytes(chat_body()).replace(b"hello", b"\\ud800hello"), 400)
case("messages-lone-surrogate-in-model", "anthropic", _with_raw(messages_body(model="__RAW__"), '"claude-sim\\udfff"'), 400)
case("chat-nan-literal", "openai-chat", _with_raw(chat_body(temperature="__RAW__"), "NaN"), 400)
case("responses-infinity-literal", "openai-responses", _with_raw(responses_body(max_output_tokens="__RAW__"), "Infinity"), 400)
case("gemini-minus-infinity-literal", "gemini",
     _with_raw(gemini_body(generationConfig={"temperature": "__RAW__"}), "-Infinity"), 400)
case("chat-max-tokens-1e400", "openai-chat", _with_raw(chat_body(max_tokens="__RAW__"), "1e400"), 400)
case("messages-max-tokens-2-pow-70", "anthropic", _with_raw(messages_body(max_tokens="__RAW__"), str(2**70)), 400,
     fields=["max_tokens"])
case("chat-max-tokens-2-pow-70", "openai-chat", _with_raw(chat_body(max_tokens="__RAW__"), str(2**70)), 400,
     fields=["max_tokens"])
case("chat-trailing-garbage", "openai-chat", _bytes(chat_body()) + b" }{", 400)

# --- 5. structure: wrong types ---

case("chat-messages-not-a-list", "openai-chat", _bytes(chat_body(messages="hi")), 400, fields=["messages"])
case("chat-content-a-number", "openai-chat", _bytes(chat_body(messages=[{"role": "user", "content": 5}])), 400,
     fields=["messages[0].content"])
case("messages-max-tokens-a-string", "anthropic", _bytes(messages_body(max_tokens="lots")), 400, fields=["max_tokens"])
case("messages-role-unknown", "anthropic", _bytes(messages_body(messages=[{"role": "wizard", "content": "hi"}])), 400,
     fields=["messages[0].role"])
case("responses-input-a-number", "openai-responses", _bytes(responses_body(input=5)), 400, fields=["input"])
case("gemini-contents-an-object", "gemini", _bytes(gemini_body(contents={"parts": [{"text": "hi"}]})), 400,
     fields=["contents"])
case("gemini-parts-a-string", "gemini", _bytes(gemini_body(contents=[{"role": "user", "parts": "hi"}])), 400,
     fields=["contents[0].parts"])

case("chat-model-a-number", "openai-chat", _bytes(chat_body(model=5)), 400, fields=["model"])
case("chat-model-empty", "openai-chat", _bytes(chat_body(model="")), 400, fields=["model"])
case("chat-messages-empty", "openai-chat", _bytes(chat_body(messages=[])), 400, fields=["messages"])
case("chat-stream-a-string", "openai-chat", _bytes(chat_body(stream="yes")), 400, fields=["stream"])
case("messages-model-missing", "anthropic", _bytes({k: v for k, v in messages_body().items() if k != "model"}), 400,
     fields=["model"])
case("messages-stream-a-string", "anthropic", _bytes(messages_body(stream="yes")), 400, fields=["stream"])
case("responses-model-an-array", "openai-responses", _bytes(responses_body(model=["resp-sim"])), 400, fields=["model"])
case("responses-stream-a-string", "openai-responses", _bytes(responses_body(stream="yes")), 400, fields=["stream"])
case("gemini-contents-empty", "gemini", _bytes(gemini_body(contents=[])), 400, fields=["contents"])

# --- 5. ranges ---

case("chat-presence-penalty-5", "openai-chat", _bytes(chat_body(presence_penalty=5)), 400, fields=["presence_penalty"])
case("chat-n-zero", "openai-chat", _bytes(chat_body(n=0)), 400, fields=["n"])
case("chat-max-tokens-zero", "openai-chat", _bytes(chat_body(max_tokens=0)), 400, fields=["max_tokens"])
case("messages-temperature-1.5", "anthropic", _bytes(messages_body(temperature=1.5)), 400, fields=["temperature"])  # 0..1 here
case("messages-top-k-negative", "anthropic", _bytes(messages_body(top_k=-1)), 400, fields=["top_k"])
case("gemini-top-k-negative", "gemini", _bytes(gemini_body(generationConfig={"topK": -1})), 400,
     fields=["generationConfig.topK"])
case("gemini-thinking-budget-negative", "gemini",
     _bytes(gemini_body(generationConfig={"thinkingConfig": {"thinkingBudget": -7}})), 400,
     fields=["generationConfig.thinkingConfig.thinkingBudget"])
case("gemini-presence-penalty-5", "gemini", _bytes(gemini_body(generationConfig={"presencePenalty": 5})), 400,
     fields=["generationConfig.presencePenalty"])
case("gemini-max-output-tokens-2-pow-40", "gemini", _bytes(gemini_body(generationConfig={"maxOutputTokens": 2**40})), 400,
     fields=["generationConfig.maxOutputTokens"])

case("chat-temperature-5", "openai-chat", _bytes(chat_body(temperature=5)), 400, fields=["temperature"])
case("chat-top-p-1.5", "openai-chat", _bytes(chat_body(top_p=1.5)), 400, fields=["top_p"])
case("chat-max-tokens-1.5", "openai-chat", _bytes(chat_body(max_tokens=1.5)), 400, fields=["max_tokens"])
case("chat-max-completion-tokens-negative", "openai-chat", _bytes(chat_body(max_completion_tokens=-1)), 400,
     fields=["max_completion_tokens"])
case("chat-stream-temperature-5", "openai-chat", _bytes(chat_body(temperature=5, stream=True)), 400, fields=["temperature"])
case("messages-thinking-budget-negative", "anthropic",
     _bytes(messages_body(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": -1})), 400,
     fields=["thinking.budget_tokens"])
case("messages-max-tokens-1.5", "anthropic", _bytes(messages_body(max_tokens=1.5)), 400, fields=["max_tokens"])
case("messages-max-tokens-negative", "anthropic", _bytes(messages_body(max_tokens=-3)), 400, fields=["max_tokens"])
case("messages-temperature-5", "anthropic", _bytes(messages_body(temperature=5)), 400, fields=["temperature"])
case("messages-top-p-1.5", "anthropic", _bytes(messages_body(top_p=1.5)), 400, fields=["top_p"])
case("responses-max-output-tokens-negative", "openai-responses", _bytes(responses_body(max_output_tokens=-5)), 400,
     fields=["max_output_tokens"])
case("responses-max-output-tokens-1.5", "openai-responses", _bytes(responses_body(max_output_tokens=1.5)), 400,
     fields=["max_output_tokens"])
case("responses-temperature-5", "openai-responses", _bytes(responses_body(temperature=5)), 400, fields=["temperature"])
case("responses-top-p-1.5", "openai-responses", _bytes(responses_body(top_p=1.5)), 400, fields=["top_p"])
case("gemini-max-output-tokens-negative", "gemini", _bytes(gemini_body(generationConfig={"maxOutputTokens": -7})), 400,
     fields=["generationConfig.maxOutputTokens"])
case("gemini-max-output-tokens-1.5", "gemini", _bytes(gemini_body(generationConfig={"maxOutputTokens": 1.5})), 400,
     fields=["generationConfig.maxOutputTokens"])
case("gemini-temperature-5", "gemini", _bytes(gemini_body(generationConfig={"temperature": 5})), 400,
     fields=["generationConfig.temperature"])
case("gemini-top-p-1.5", "gemini", _bytes(gemini_body(generationConfig={"topP": 1.5})), 400,
     fields=["generationConfig.topP"])

# --- 5. tool calls: results without their call, calls never answered, duplicate ids ---

CHAT_TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


def _chat_call(call_id: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


case("chat-tool-result-without-call", "openai-chat", _bytes(chat_body(tools=CHAT_TOOLS, messages=[
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": f"look it up {CANARY}"},
    {"role": "assistant", "content": "Looking."},
    {"role": "tool", "tool_call_id": "call_orphan", "content": "42"},
])), 400, fields=["messages[3].tool_call_id"])
case("chat-tool-call-never-answered", "openai-chat", _bytes(chat_body(tools=CHAT_TOOLS, messages=[
    {"role": "user", "content": f"look it up {CANARY}"},
    {"role": "assistant", "content": None, "tool_calls": [_chat_call("call_a")]},
    {"role": "user", "content": "and?"},
])), 400, fields=["messages[1].tool_calls[0]", "messages[2]"])
case("chat-tool-call-duplicate-id", "openai-chat", _bytes(chat_body(tools=CHAT_TOOLS, messages=[
    {"role": "user", "content": f"look it up twice {CANARY}"},
    {"role": "assistant", "content": None, "tool_calls": [_chat_call("call_d"), _chat_call("call_d")]},
    {"role": "tool", "tool_call_id": "call_d", "content": "1"},
    {"role": "tool", "tool_call_id": "call_d", "content": "2"},
])), 400, fields=["messages[1].tool_calls[1]", "messages[3]"])

MESSAGES_TOOLS = [{"name": "lookup", "input_schema": {"type": "object", "properties": {}}}]


def _tool_use(tool_id: str) -> dict:
    return {"type": "tool_use", "id": tool_id, "name": "lookup", "input": {}}


def _tool_result(tool_id: str, text: str = "42") -> dict:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": text}


case("messages-tool-result-without-call", "anthropic", _bytes(messages_body(tools=MESSAGES_TOOLS, messages=[
    {"role": "user", "content": f"look it up {CANARY}"},
    {"role": "assistant", "content": "Looking."},
    {"role": "user", "content": [_tool_result("toolu_orphan")]},
])), 400, fields=["messages[2].content[0]"])
case("messages-tool-use-never-answered", "anthropic", _bytes(messages_body(tools=MESSAGES_TOOLS, messages=[
    {"role": "user", "content": f"look it up {CANARY}"},
    {"role": "assistant", "content": [{"type": "text", "text": "Looking."}, _tool_use("toolu_a")]},
    {"role": "user", "content": [{"type": "text", "text": "and?"}]},
])), 400, fields=["messages[1].content[1]", "messages[2]"])
case("messages-tool-use-duplicate-id", "anthropic", _bytes(messages_body(tools=MESSAGES_TOOLS, messages=[
    {"role": "user", "content": f"look it up twice {CANARY}"},
    {"role": "assistant", "content": [_tool_use("toolu_d"), _tool_use("toolu_d")]},
    {"role": "user", "content": [_tool_result("toolu_d", "1"), _tool_result("toolu_d", "2")]},
])), 400, fields=["messages[1].content[1]", "messages[2].content[1]"])
case("count-tokens-tool-result-without-call", "anthropic", _bytes(messages_body(tools=MESSAGES_TOOLS, messages=[
    {"role": "user", "content": f"look it up {CANARY}"},
    {"role": "assistant", "content": "Looking."},
    {"role": "user", "content": [_tool_result("toolu_orphan")]},
])), 400, path=COUNT_TOKENS_PATH, fields=["messages[2].content[0]"])

RESPONSES_TOOLS = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]


def _function_call(call_id: str) -> dict:
    return {"type": "function_call", "call_id": call_id, "name": "lookup", "arguments": "{}"}


def _function_output(call_id: str, text: str = "42") -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


case("responses-output-without-call", "openai-responses", _bytes(responses_body(tools=RESPONSES_TOOLS, input=[
    {"role": "user", "content": f"look it up {CANARY}"},
    _function_output("call_orphan"),
])), 400, fields=["input[1]"])
case("responses-call-never-answered", "openai-responses", _bytes(responses_body(tools=RESPONSES_TOOLS, input=[
    {"role": "user", "content": f"look it up {CANARY}"},
    _function_call("call_a"),
    {"role": "user", "content": "and?"},
])), 400, fields=["input[1]", "input[2]"])
case("responses-call-duplicate-id", "openai-responses", _bytes(responses_body(tools=RESPONSES_TOOLS, input=[
    {"role": "user", "content": f"look it up twice {CANARY}"},
    _function_call("call_d"),
    _function_call("call_d"),
    _function_output("call_d", "1"),
    _function_output("call_d", "2"),
])), 400, fields=["input[2]", "input[4]"])

GEMINI_TOOLS = [{"functionDeclarations": [{"name": "lookup", "parameters": {"type": "object", "properties": {}}},
                                          {"name": "other", "parameters": {"type": "object", "properties": {}}}]}]

case("gemini-function-response-without-call", "gemini", _bytes(gemini_body(tools=GEMINI_TOOLS, contents=[
    {"role": "user", "parts": [{"text": f"look it up {CANARY}"}]},
    {"role": "model", "parts": [{"text": "Looking."}]},
    {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"result": 42}}}]},
])), 400, fields=["contents[2].parts[0].functionResponse"])
case("gemini-function-call-never-answered", "gemini", _bytes(gemini_body(tools=GEMINI_TOOLS, contents=[
    {"role": "user", "parts": [{"text": f"look it up {CANARY}"}]},
    {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {}}}]},
    {"role": "user", "parts": [{"text": "and?"}]},
])), 400, fields=["contents[1].parts[0]", "contents[2]"])
case("gemini-function-call-duplicate-id", "gemini", _bytes(gemini_body(tools=GEMINI_TOOLS, contents=[
    {"role": "user", "parts": [{"text": f"look it up twice {CANARY}"}]},
    {"role": "model", "parts": [{"functionCall": {"id": "c1", "name": "lookup", "args": {}}},
                                {"functionCall": {"id": "c1", "name": "other", "args": {}}}]},
    {"role": "user", "parts": [{"functionResponse": {"id": "c1", "name": "lookup", "response": {"r": 1}}},
                               {"functionResponse": {"id": "c1", "name": "other", "response": {"r": 2}}}]},
])), 400, fields=["contents[1].parts[1]", "contents[2].parts[1]"])


def _check_corpus() -> None:
    names = [c.name for c in CASES]
    duplicates = [n for n, k in Counter(names).items() if k > 1]
    assert not duplicates, duplicates
    assert len(CASES) >= 60


_check_corpus()

COUNTS = Counter(c.protocol for c in CASES)
