"""Gemini API (`POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`).

Request checks and reply rendering after the Gemini API reference and real captures:

* Errors are Google's envelope `{"error": {"code", "message", "status", "details"?}}`, pretty-printed
  as the API sends it. Parse-level problems read `Invalid JSON payload received. Unknown name "x" at
  'tools[0].function_declarations[0].parameters': Cannot find field.` (all of them, joined by newlines,
  with a `google.rpc.BadRequest` detail); semantic ones read `* GenerateContentRequest.contents[1].parts:
  contents.parts must not be empty.\\n`. Field paths use the proto's snake_case names; a schema's
  properties are `properties[N].value` (by position) in parse errors and `properties[name]` in semantic ones.
* `:streamGenerateContent?alt=sse` answers `data: <GenerateContentResponse>\\r\\n\\r\\n` events; without
  `alt=sse` it streams one JSON array, element by element: `[{...}\\n` then `,\\r\\n{...}\\n` per further
  element and a closing `]` (elements pretty-printed with two-space indents). Error bodies of that
  endpoint are wrapped in an array too (`[{"error": ...}]`), as the real API does.
* Every chunk carries the cumulative `usageMetadata`, `modelVersion` (the model of the URL) and the
  same `responseId`. Text comes one delta per chunk, parallel function calls together in one chunk.
  The last chunk carries `finishReason` (STOP also after function calls, with `finishMessage` "Model
  generated function call(s)."); a Gemini 3 reply ending in STOP closes with an extra chunk whose only
  part is `{"text": ""}` (carrying the reply's `thoughtSignature` when it has no function call), as in
  the captures. A refusal ends with a SAFETY chunk whose candidate has `"content": {}` and
  `safetyRatings` (a non-streamed refusal has no text at all, as captured).
* `thinkingConfig.includeThoughts: true` shows thinking as `{"text", "thought": true}` parts; otherwise
  it is only counted (`thoughtsTokenCount`); `thinkingBudget: 0` turns it off.
* A mid-stream failure is a `{"error": {...}}` element after some chunks, on the 200 response.

Keys: `x-goog-api-key` header or `?key=` query parameter. The key is checked against
`context.gemini_key` when the Context has such a field (it does not yet: add `gemini_key: str | None
= None` to enforce one); otherwise any non-empty key passes. A missing key answers 403
PERMISSION_DENIED, a bearer token without a key 401 UNAUTHENTICATED and a wrong key 400
INVALID_ARGUMENT (API_KEY_INVALID), like the real API.

Thought signatures: the simulator signs the first functionCall part of each reply (Gemini 2.5 and 3
models) and, on Gemini 3, the last part of a reply without function calls. A function-call signature
binds the call's name and arguments, so a signature that is altered or moved to another part no
longer verifies. For models whose name starts with `gemini-3`, every signature sent back must verify
(else 400 `Corrupted thought signature.`) and, within the current turn (everything after the latest
user content holding text or media), the first functionCall part of each model step must carry one
(else the real API's `Function call is missing a thought_signature ...` 400). Google's documented
placeholder signatures for history the model did not produce (`skip_thought_signature_validator`,
`context_engineering_is_the_way_to_go`, raw or base64-encoded) are accepted, as the real API does.

Implicit caching (see `prompt_cache.py`), only when `context.prompt_cache.gemini_implicit` is on (off
by default): per API key and model, the prompt is systemInstruction, tools, then each content,
ceil(len(canonical JSON) / 4) tokens each; the longest prefix ending at a content boundary that an
earlier request sent, from `context.prompt_cache.min_tokens` (1024) on, is reported as
`usageMetadata.cachedContentTokenCount` (and `cacheTokensDetails`), `promptTokenCount` being the
whole prompt. Entries live 10 minutes from their last use (the simulator's choice; Google does not
document it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, unquote

import orjson

from . import scenarios
from .common import Context, Failure, Rejected
from .http import Request, Response, StreamEvent, StreamingResponse
from .prompt_cache import Block, canonical, prefixes
from .scenarios import Reply, Stop, TextPart, ThinkingPart, ToolCallPart, Usage

ROUTE = re.compile(
    r"^/(?P<version>v1beta|v1)/models/(?P<model>[^/:]+):"
    r"(?P<method>generateContent|streamGenerateContent|countTokens)$"
)
PROTO = "type.googleapis.com/google.ai.generativelanguage.v1beta."
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# Scenario error kinds (Anthropic's names, see scenarios.ERRORS) -> (HTTP status, real-looking message).
SCENARIO_ERRORS = {
    "invalid_request_error": (400, "Request contains an invalid argument."),
    "authentication_error": (
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
    ),
    "permission_error": (403, "The caller does not have permission"),
    "not_found_error": (404, "models/{model} is not found for API version v1beta, or is not supported for "
                             "generateContent. Call ModelService.ListModels to see the list of available models "
                             "and their supported methods."),
    "rate_limit_error": (429, "You exceeded your current quota, please check your plan and billing details. "
                              "For more information on this error, head to: "
                              "https://ai.google.dev/gemini-api/docs/rate-limits."),
    "api_error": (500, "An internal error has occurred. Please retry or report in "
                       "https://developers.generativeai.google/guide/troubleshooting"),
    "overloaded_error": (503, "The model is overloaded. Please try again later."),
}
FINISH_REASONS = {
    Stop.END_TURN: "STOP",
    Stop.STOP_SEQUENCE: "STOP",
    Stop.TOOL_USE: "STOP",  # Gemini has no tool-use finish reason
    Stop.MAX_TOKENS: "MAX_TOKENS",
    Stop.REFUSAL: "SAFETY",
}
FUNCTION_CALLS_MESSAGE = "Model generated function call(s)."
SAFETY_RATINGS = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]
MISSING_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
    "or other form of API consumer identity to call this API."
)
BAD_KEY = "API key not valid. Please pass a valid API key."
SIGNATURE_DOCS = "https://ai.google.dev/gemini-api/docs/thought-signatures"
# Google documents these as stand-ins for signatures the client never received (e.g. foreign history).
PLACEHOLDER_SIGNATURES = {"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"}
FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
RESPONSE_MIME_TYPES = {"text/plain", "application/json", "application/xml", "application/yaml", "text/x.enum"}
SCHEMA_TYPES = {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
CALLING_MODES = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"}
THINKING_LEVELS = {"THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"}
DATA_FIELDS = ("text", "inlineData", "functionCall", "functionResponse", "fileData", "executableCode",
               "codeExecutionResult")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _names(*camel: str) -> frozenset[str]:
    """Proto JSON accepts a field under its lowerCamel and its snake_case name."""
    return frozenset([*camel, *(_snake(name) for name in camel)])


TOP_FIELDS = _names("model", "contents", "systemInstruction", "tools", "toolConfig", "safetySettings",
                    "generationConfig", "cachedContent", "labels", "serviceTier", "store")
CONTENT_FIELDS = _names("role", "parts")
PART_FIELDS = _names(*DATA_FIELDS, "thought", "thoughtSignature", "videoMetadata", "partMetadata", "mediaResolution")
BLOB_FIELDS = _names("mimeType", "data", "displayName")
FILE_FIELDS = _names("mimeType", "fileUri", "displayName")
CALL_FIELDS = _names("id", "name", "args")
RESPONSE_FIELDS = _names("id", "name", "response", "parts", "willContinue", "scheduling")
TOOL_FIELDS = _names("functionDeclarations", "googleSearchRetrieval", "codeExecution", "googleSearch", "computerUse",
                     "urlContext", "fileSearch", "googleMaps", "mcpServers", "enterpriseWebSearch", "retrieval")
DECLARATION_FIELDS = _names("name", "description", "parameters", "parametersJsonSchema", "response",
                            "responseJsonSchema", "behavior")
SCHEMA_FIELDS = _names("type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
                       "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
                       "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum")
TOOL_CONFIG_FIELDS = _names("functionCallingConfig", "retrievalConfig")
CALLING_FIELDS = _names("mode", "allowedFunctionNames")
GENERATION_FIELDS = _names("stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
                           "responseModalities", "candidateCount", "maxOutputTokens", "temperature", "topP", "topK",
                           "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
                           "enableEnhancedCivicAnswers", "speechConfig", "thinkingConfig", "imageConfig",
                           "mediaResolution", "audioTimestamp")
THINKING_FIELDS = _names("includeThoughts", "thinkingBudget", "thinkingLevel")


def _get(obj: dict, camel: str):
    if camel in obj:
        return obj[camel]
    return obj.get(_snake(camel))


def _has(obj: dict, camel: str) -> bool:
    return camel in obj or _snake(camel) in obj


# --- entry points ------------------------------------------------------------------------------


def route(path: str) -> re.Match | None:
    """The route match for a Gemini path (the colon may arrive percent-encoded), else None."""
    return ROUTE.match(unquote(path))


def looks_gemini(request: Request) -> bool:
    """For the simulator's 404 fallback: a request aimed at the Gemini API."""
    return (
        "x-goog-api-key" in request.headers
        or "key" in parse_qs(request.query)
        or request.path.startswith("/v1beta/")
        or re.match(r"^/v1/models/[^/]+(:|%3A)", request.path, re.IGNORECASE) is not None  # not OpenAI's GET /v1/models
    )


def not_found_response(request: Request) -> Response:
    return error_response(GoogleError(404, f"Method not found: {request.method} {request.path}"), wrap=False)


def handle(request: Request, context: Context) -> Response | StreamingResponse:
    found = route(request.path)
    query = parse_qs(request.query)
    alt = (query.get("alt") or [""])[-1]
    wrap = found is not None and found["method"] == "streamGenerateContent" and alt != "sse"
    try:
        if request.method != "POST" or found is None:
            raise GoogleError(404, f"Method not found: {request.method} {request.path}")
        _authenticate(request, query, context)
        if alt not in ("", "json", "sse"):
            raise GoogleError(400, f"Invalid value at 'alt', \"{alt}\": only json and sse are supported")
        body = request.json if request.body.strip() else {}  # an empty body is an empty request
        if not isinstance(body, dict):
            raise GoogleError(400, "Invalid JSON payload received. Unexpected token.")
        model = found["model"]
        if found["method"] == "countTokens":
            return _count_tokens(body, request.body)
        validate(body, model)
        plan = scenarios.plan(conversation(body, request.body))
        if isinstance(plan.outcome, Failure):
            raise _scenario_error(plan.outcome, model)
    except GoogleError as error:
        return error_response(error, wrap)
    except Rejected as rejected:  # the scenario catalogue refused the directive
        return error_response(GoogleError(rejected.failure.status, rejected.failure.message), wrap)

    reply = _apply_thinking_config(plan.outcome, _thinking_config(body))
    if context.prompt_cache.gemini_implicit and (found["method"] != "generateContent" or not reply.midstream_error):
        key = request.headers.get("x-goog-api-key") or (query.get("key") or [""])[-1]
        cached = settle_cache(body, model, key, context)
        reply = replace(reply, usage=cached.applied_to(reply.usage, report_writes=False))
    number = context.next_number()
    render = _Render(
        model=model,
        response_id=f"simResp{number:010d}",
        number=number,
        include_thoughts=_get(_thinking_config(body), "includeThoughts") is True,
    )
    if found["method"] == "generateContent":
        if reply.midstream_error:
            return error_response(_scenario_error(Failure(503, "overloaded_error", ""), model), wrap=False)
        return Response(200, _headers(), _pretty(render.whole(reply)) + b"\n")
    sse = alt == "sse"
    headers = _headers(sse=sse)
    events = render.stream_events(reply, sse)
    return StreamingResponse(200, headers, events, plan.delay_s, plan.split, reply.disconnect)


# --- errors ---------------------------------------------------------------------------------------


class GoogleError(Exception):
    def __init__(self, code: int, message: str, details: list[dict] | None = None, status: str | None = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def error_response(error: GoogleError, wrap: bool) -> Response:
    """The error body; `wrap` for streamGenerateContent without alt=sse, which answers a JSON array."""
    body = _pretty(error.body())
    body = b"[" + body + b"\n]" if wrap else body + b"\n"
    return Response(error.code, _headers(), body)


def _scenario_error(failure: Failure, model: str) -> GoogleError:
    status, message = SCENARIO_ERRORS.get(failure.kind, (failure.status, failure.message))
    message = f"simulated {STATUS_NAMES.get(status, 'UNKNOWN')}: {message.format(model=model)}"
    details = None
    if status == 429:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaDimensions": {"model": model, "location": "global"},
                        "quotaValue": "5",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
        ]
    return GoogleError(status, message, details)


def _headers(*, sse: bool = False) -> dict[str, str]:
    if sse:  # as captured: no charset, served as an attachment
        return {"content-type": "text/event-stream", "content-disposition": "attachment",
                "vary": "Origin, X-Origin, Referer"}
    return {"content-type": "application/json; charset=UTF-8", "vary": "Origin, X-Origin, Referer"}


def _authenticate(request: Request, query: dict[str, list[str]], context: Context) -> None:
    key = request.headers.get("x-goog-api-key") or (query.get("key") or [""])[-1]
    if not key:
        if request.headers.get("authorization", "").lower().startswith("bearer "):
            raise GoogleError(401, SCENARIO_ERRORS["authentication_error"][1])
        raise GoogleError(403, MISSING_KEY)
    expected = getattr(context, "gemini_key", None)
    if expected is not None and key != expected:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": BAD_KEY},
        ]
        raise GoogleError(400, BAD_KEY, details)


def _count_tokens(body: dict, raw_body: bytes) -> Response:
    contents = _get(body, "contents")
    if contents is not None and not isinstance(contents, list):
        raise GoogleError(400, f"Invalid value at 'contents' ({PROTO}Content), {_json(contents)}")
    total = len(raw_body) // 4 + 1
    reply = {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
    return Response(200, _headers(), _pretty(reply) + b"\n")


# --- JSON as Google writes it ---------------------------------------------------------------------


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _pretty(value) -> bytes:
    """Two-space indents and `"key": value`, as in non-streamed bodies and JSON-array elements."""
    return json.dumps(value, ensure_ascii=False, indent=2).encode()


def _sse_json(value) -> bytes:
    """One line with `": "` after keys and bare `,` between items, as the captured SSE events."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ": ")).encode()


# --- thought signatures ----------------------------------------------------------------------------

_SIGNATURE_KEY = b"llm-simulator gemini thought signature"
_SIGNATURE_MAGIC = b"\x12\x2dsim"
_SIGNATURE_LENGTH = len(_SIGNATURE_MAGIC) + 1 + 8 + 32


def _decode_bytes(text: str) -> bytes | None:
    """A proto `bytes` field in JSON: base64, standard or URL-safe, padding optional."""
    if not isinstance(text, str):
        return None
    standard = text.strip().replace("-", "+").replace("_", "/")
    standard += "=" * (-len(standard) % 4)
    try:
        return base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        return None


def _call_payload(name, args) -> bytes:
    return orjson.dumps({"name": name, "args": args or {}}, option=orjson.OPT_SORT_KEYS)


def _sign(kind: bytes, nonce: int, payload: bytes) -> str:
    nonce_bytes = nonce.to_bytes(8, "big")
    mac = hashlib.sha256(_SIGNATURE_KEY + b"\0" + kind + nonce_bytes + payload).digest()
    return base64.b64encode(_SIGNATURE_MAGIC + kind + nonce_bytes + mac).decode()


def call_signature(name: str, args: dict, nonce: int = 0) -> str:
    """The signature issued on a functionCall part; it binds the call's name and arguments."""
    return _sign(b"f", nonce, _call_payload(name, args))


def text_signature(nonce: int = 0) -> str:
    """The signature issued on the last part of a Gemini 3 reply without function calls."""
    return _sign(b"t", nonce, b"")


def signature_is_valid(signature: str, part: dict) -> bool:
    """True for a signature this simulator issued for this part (or one of Google's placeholders)."""
    raw = _decode_bytes(signature)
    if signature in PLACEHOLDER_SIGNATURES or (raw is not None and raw.decode("latin-1") in PLACEHOLDER_SIGNATURES):
        return True
    if raw is None or len(raw) != _SIGNATURE_LENGTH or not raw.startswith(_SIGNATURE_MAGIC):
        return False
    kind = raw[len(_SIGNATURE_MAGIC) : len(_SIGNATURE_MAGIC) + 1]
    nonce = int.from_bytes(raw[len(_SIGNATURE_MAGIC) + 1 : len(_SIGNATURE_MAGIC) + 9], "big")
    if kind == b"f":
        call = _get(part, "functionCall")
        if not isinstance(call, dict):
            return False
        expected = _sign(kind, nonce, _call_payload(call.get("name"), call.get("args")))
    elif kind == b"t":
        expected = _sign(kind, nonce, b"")
    else:
        return False
    return hmac.compare_digest(_decode_bytes(expected) or b"", raw)


def issues_signatures(model: str) -> bool:
    """Thinking models sign their function calls (2.5 when thinking, as captured, and 3)."""
    return model.startswith(("gemini-2.5", "gemini-3"))


def strict_signatures(model: str) -> bool:
    """Gemini 3 models reject requests whose current turn lacks the signatures they issued."""
    return model.startswith("gemini-3")


def _emits_call_ids(model: str) -> bool:
    """Gemini 3.1 and later number their function calls (`functionCall.id`); earlier models do not."""
    found = re.match(r"gemini-(\d+)\.(\d+)", model)
    return bool(found) and (int(found[1]), int(found[2])) >= (3, 1)


# --- request checks ----------------------------------------------------------------------------------


class _Checks:
    """Collects the parse-level violations (reported together) and the semantic ones."""

    def __init__(self) -> None:
        self.violations: list[tuple[str, str]] = []  # (field, description)
        self.semantic: list[str] = []

    def unknown_fields(self, obj: dict, known: frozenset[str], path: str) -> None:
        for name in obj:
            if name not in known:
                at = f" at '{path}'" if path else ""
                self.violations.append(
                    (path or name, f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.')
                )

    def bad_value(self, path: str, kind: str, value) -> None:
        self.violations.append((path, f"Invalid value at '{path}' ({kind}), {_json(value)}"))

    def not_repeating(self, name: str, path: str) -> None:
        self.violations.append(
            (path, f'Invalid JSON payload received. Unknown name "{name}" at \'{path}\': '
                   "Proto field is not repeating, cannot start list.")
        )

    def fail(self, path: str, message: str) -> None:
        self.semantic.append(f"* GenerateContentRequest.{path}: {message}\n")

    def raise_if_any(self) -> None:
        if self.violations:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": f, "description": d} for f, d in self.violations],
                }
            ]
            raise GoogleError(400, "\n".join(d for _, d in self.violations), details)
        if self.semantic:
            raise GoogleError(400, "".join(self.semantic))


def _is_int(value) -> bool:
    if isinstance(value, str):  # proto3 JSON accepts integers as strings
        return re.fullmatch(r"-?\d+", value) is not None
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate(body: dict, model: str) -> None:
    """Raise a 400 `GoogleError` for requests the real API refuses, naming the field."""
    checks = _Checks()
    checks.unknown_fields(body, TOP_FIELDS, "")
    contents = _get(body, "contents")
    if contents is not None and not isinstance(contents, list):
        checks.bad_value("contents", f"{PROTO}Content", contents)
    elif not contents:
        checks.fail("contents", "contents is not specified")
    else:
        for number, content in enumerate(contents):
            _check_content(checks, content, f"contents[{number}]", system=False)
    system = _get(body, "systemInstruction")
    if system is not None:
        _check_content(checks, system, "system_instruction", system=True)
    declared = _check_tools(checks, _get(body, "tools"))
    _check_tool_config(checks, _get(body, "toolConfig"), declared)
    _check_generation_config(checks, _get(body, "generationConfig"))
    safety = _get(body, "safetySettings")
    if safety is not None and (not isinstance(safety, list) or not all(isinstance(s, dict) for s in safety)):
        checks.bad_value("safety_settings", f"{PROTO}SafetySetting", safety)
    checks.raise_if_any()
    _check_function_turns(contents)
    if strict_signatures(model):
        _check_signatures(contents)


def _role(content: dict) -> str:
    return _get(content, "role") or "user"  # an unset role means user in single-turn requests


def _check_content(checks: _Checks, content, path: str, *, system: bool) -> None:
    if not isinstance(content, dict):
        checks.bad_value(path, f"{PROTO}Content", content)
        return
    checks.unknown_fields(content, CONTENT_FIELDS, path)
    role = _get(content, "role")
    if role is not None and not isinstance(role, str):
        checks.bad_value(f"{path}.role", "TYPE_STRING", role)
    elif not system and role not in (None, "", "user", "model"):
        checks.fail(f"{path}.role", "Please use a valid role: user, model.")
    parts = _get(content, "parts")
    if parts is not None and not isinstance(parts, list):
        checks.bad_value(f"{path}.parts", f"{PROTO}Part", parts)
        return
    if not parts:
        checks.fail(f"{path}.parts", "contents.parts must not be empty.")
        return
    for number, part in enumerate(parts):
        _check_part(checks, part, f"{path}.parts[{number}]")


def _check_part(checks: _Checks, part, path: str) -> None:
    if not isinstance(part, dict):
        checks.bad_value(path, f"{PROTO}Part", part)
        return
    checks.unknown_fields(part, PART_FIELDS, path)
    present = [name for name in DATA_FIELDS if _get(part, name) is not None]
    if not present:
        checks.fail(f"{path}.data", "required oneof field 'data' must have one initialized field")
    elif len(present) > 1:
        checks.violations.append(
            (path, f"Invalid JSON payload received. Oneof field 'data' is already set. Cannot set '{present[1]}'")
        )
    if _has(part, "text") and not isinstance(_get(part, "text"), str):
        checks.bad_value(f"{path}.text", "TYPE_STRING", _get(part, "text"))
    if _has(part, "thought") and not isinstance(_get(part, "thought"), bool):
        checks.bad_value(f"{path}.thought", "TYPE_BOOL", _get(part, "thought"))
    if _has(part, "thoughtSignature"):
        signature = _get(part, "thoughtSignature")
        if _decode_bytes(signature) is None:
            checks.violations.append(
                (f"{path}.thought_signature",
                 f"Invalid value at '{path}.thought_signature' (TYPE_BYTES), "
                 f"Base64 decoding failed for {_json(signature)}")
            )
    blob = _get(part, "inlineData")
    if blob is not None:
        _check_blob(checks, blob, f"{path}.inline_data")
    file = _get(part, "fileData")
    if file is not None:
        if not isinstance(file, dict):
            checks.bad_value(f"{path}.file_data", f"{PROTO}FileData", file)
        else:
            checks.unknown_fields(file, FILE_FIELDS, f"{path}.file_data")
            if not isinstance(_get(file, "fileUri"), str) or not _get(file, "fileUri"):
                checks.fail(f"{path}.file_data.file_uri", "file_uri must be specified")
    call = _get(part, "functionCall")
    if call is not None:
        if not isinstance(call, dict):
            checks.bad_value(f"{path}.function_call", f"{PROTO}FunctionCall", call)
        else:
            checks.unknown_fields(call, CALL_FIELDS, f"{path}.function_call")
            if not isinstance(call.get("name"), str) or not call.get("name"):
                checks.fail(f"{path}.function_call.name", "Name cannot be empty.")
            if call.get("args") is not None and not isinstance(call["args"], dict):
                checks.bad_value(f"{path}.function_call.args", "type.googleapis.com/google.protobuf.Struct",
                                 call["args"])
    response = _get(part, "functionResponse")
    if response is not None:
        if not isinstance(response, dict):
            checks.bad_value(f"{path}.function_response", f"{PROTO}FunctionResponse", response)
        else:
            checks.unknown_fields(response, RESPONSE_FIELDS, f"{path}.function_response")
            if not isinstance(response.get("name"), str) or not response.get("name"):
                checks.fail(f"{path}.function_response.name", "Name cannot be empty.")
            if not isinstance(response.get("response"), dict):
                checks.bad_value(f"{path}.function_response.response", "type.googleapis.com/google.protobuf.Struct",
                                 response.get("response"))


def _check_blob(checks: _Checks, blob, path: str) -> None:
    if not isinstance(blob, dict):
        checks.bad_value(path, f"{PROTO}Blob", blob)
        return
    checks.unknown_fields(blob, BLOB_FIELDS, path)
    mime_type = _get(blob, "mimeType")
    if not isinstance(mime_type, str) or not mime_type:
        checks.fail(f"{path}.mime_type", "mime_type must be specified")
    data = _get(blob, "data")
    if not isinstance(data, str) or _decode_bytes(data) is None:
        checks.violations.append(
            (f"{path}.data", f"Invalid value at '{path}.data' (TYPE_BYTES), Base64 decoding failed for {_json(data)}")
        )


def _check_tools(checks: _Checks, tools) -> list[str]:
    """Check `tools`; the declared function names."""
    declared: list[str] = []
    if tools is None:
        return declared
    if not isinstance(tools, list):
        checks.bad_value("tools", f"{PROTO}Tool", tools)
        return declared
    for number, tool in enumerate(tools):
        path = f"tools[{number}]"
        if not isinstance(tool, dict):
            checks.bad_value(path, f"{PROTO}Tool", tool)
            continue
        checks.unknown_fields(tool, TOOL_FIELDS, path)
        declarations = _get(tool, "functionDeclarations")
        if declarations is None:
            continue
        if not isinstance(declarations, list):
            checks.bad_value(f"{path}.function_declarations", f"{PROTO}FunctionDeclaration", declarations)
            continue
        for inner, declaration in enumerate(declarations):
            inner_path = f"{path}.function_declarations[{inner}]"
            if not isinstance(declaration, dict):
                checks.bad_value(inner_path, f"{PROTO}FunctionDeclaration", declaration)
                continue
            checks.unknown_fields(declaration, DECLARATION_FIELDS, inner_path)
            name = declaration.get("name")
            if not isinstance(name, str) or not FUNCTION_NAME.match(name):
                checks.fail(
                    f"{inner_path}.name",
                    "Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, "
                    "A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.",
                )
            elif name in declared:
                checks.fail(f"{inner_path}.name", f"Duplicate function declaration found: {name}")
            else:
                declared.append(name)
            if declaration.get("description") is not None and not isinstance(declaration["description"], str):
                checks.bad_value(f"{inner_path}.description", "TYPE_STRING", declaration["description"])
            if declaration.get("parameters") is not None:
                _check_schema(checks, declaration["parameters"], f"{inner_path}.parameters")
            if _get(declaration, "response") is not None:
                _check_schema(checks, _get(declaration, "response"), f"{inner_path}.response")
            for loose in ("parametersJsonSchema", "responseJsonSchema"):  # full JSON Schema, not checked
                if _get(declaration, loose) is not None and not isinstance(_get(declaration, loose), (dict, bool)):
                    checks.bad_value(f"{inner_path}.{_snake(loose)}", "type.googleapis.com/google.protobuf.Value",
                                     _get(declaration, loose))
            if declaration.get("parameters") is not None and _get(declaration, "parametersJsonSchema") is not None:
                checks.fail(inner_path, "parameters and parameters_json_schema cannot both be set.")
    return declared


def _check_schema(checks: _Checks, schema, path: str, semantic_path: str | None = None) -> None:
    """Gemini's `Schema` message (an OpenAPI subset): JSON Schema keywords outside it are unknown names.

    Parse-level violations come in document order, as the API's JSON parser meets them.
    """
    semantic_path = semantic_path or path
    if not isinstance(schema, dict):
        checks.bad_value(path, f"{PROTO}Schema", schema)
        return
    properties = schema.get("properties")
    for name, value in schema.items():
        key = re.sub(r"_([a-z])", lambda found: found[1].upper(), name)  # any_of -> anyOf
        if name not in SCHEMA_FIELDS:
            checks.unknown_fields({name: value}, SCHEMA_FIELDS, path)
        elif key == "type":
            if isinstance(value, list):
                checks.not_repeating(name, path)
            elif not isinstance(value, str) or value.upper() not in SCHEMA_TYPES:
                checks.bad_value(f"{path}.type", f"{PROTO}Type", value)
        elif key == "properties":
            if not isinstance(value, dict):
                checks.bad_value(f"{path}.properties", f"{PROTO}Schema", value)
                continue
            for number, (inner_name, inner) in enumerate(value.items()):
                _check_schema(checks, inner, f"{path}.properties[{number}].value",
                              f"{semantic_path}.properties[{inner_name}]")
        elif key == "items":
            if isinstance(value, list):
                checks.not_repeating(name, path)
            else:
                _check_schema(checks, value, f"{path}.items", f"{semantic_path}.items")
        elif key == "anyOf":
            if not isinstance(value, list):
                checks.bad_value(f"{path}.any_of", f"{PROTO}Schema", value)
                continue
            for number, inner in enumerate(value):
                _check_schema(checks, inner, f"{path}.any_of[{number}]", f"{semantic_path}.any_of[{number}]")
        elif key == "required":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                checks.bad_value(f"{path}.required", "TYPE_STRING", value)
                continue
            for number, item in enumerate(value):
                if not isinstance(properties, dict) or item not in properties:
                    checks.fail(f"{semantic_path}.required[{number}]", "property is not defined")
        elif key == "enum" and (not isinstance(value, list) or not all(isinstance(item, str) for item in value)):
            checks.bad_value(f"{path}.enum", "TYPE_STRING", value)
    kind = schema.get("type")
    if isinstance(kind, str) and kind.upper() == "ARRAY" and schema.get("items") is None:
        checks.fail(f"{semantic_path}.items", "missing field.")


def _check_tool_config(checks: _Checks, tool_config, declared: list[str]) -> None:
    if tool_config is None:
        return
    if not isinstance(tool_config, dict):
        checks.bad_value("tool_config", f"{PROTO}ToolConfig", tool_config)
        return
    checks.unknown_fields(tool_config, TOOL_CONFIG_FIELDS, "tool_config")
    calling = _get(tool_config, "functionCallingConfig")
    if calling is None:
        return
    path = "tool_config.function_calling_config"
    if not isinstance(calling, dict):
        checks.bad_value(path, f"{PROTO}FunctionCallingConfig", calling)
        return
    checks.unknown_fields(calling, CALLING_FIELDS, path)
    mode = calling.get("mode")
    if mode is not None and (not isinstance(mode, str) or mode.upper() not in CALLING_MODES):
        checks.bad_value(f"{path}.mode", f"{PROTO}FunctionCallingConfig.Mode", mode)
        return
    allowed = _get(calling, "allowedFunctionNames")
    if allowed is None:
        return
    if not isinstance(allowed, list) or not all(isinstance(name, str) for name in allowed):
        checks.bad_value(f"{path}.allowed_function_names", "TYPE_STRING", allowed)
        return
    if allowed and (mode or "").upper() not in ("ANY", "VALIDATED"):
        checks.fail(f"{path}.allowed_function_names", "allowed_function_names should only be set when mode is ANY.")
    for number, name in enumerate(allowed):
        if name not in declared:
            checks.fail(f"{path}.allowed_function_names[{number}]",
                        f"function `{name}` is not declared in the request's function declarations.")


def _check_generation_config(checks: _Checks, config) -> None:
    if config is None:
        return
    path = "generation_config"
    if not isinstance(config, dict):
        checks.bad_value(path, f"{PROTO}GenerationConfig", config)
        return
    checks.unknown_fields(config, GENERATION_FIELDS, path)
    for name in ("maxOutputTokens", "candidateCount", "topK", "seed"):
        value = _get(config, name)
        if value is not None and not _is_int(value):
            checks.bad_value(f"{path}.{_snake(name)}", "TYPE_INT32", value)
    for name in ("temperature", "topP", "presencePenalty", "frequencyPenalty"):
        value = _get(config, name)
        if value is not None and not _is_number(value):
            checks.bad_value(f"{path}.{_snake(name)}", "TYPE_FLOAT", value)
    temperature, top_p = _get(config, "temperature"), _get(config, "topP")
    if _is_number(temperature) and not 0 <= temperature <= 2:
        checks.fail(f"{path}.temperature", "temperature must be in the range [0.0, 2.0].")
    if _is_number(top_p) and not 0 <= top_p <= 1:
        checks.fail(f"{path}.top_p", "top_p must be in the range [0.0, 1.0].")
    max_tokens = _get(config, "maxOutputTokens")
    if _is_int(max_tokens) and int(max_tokens) < 1:
        checks.fail(f"{path}.max_output_tokens", "max_output_tokens must be positive.")
    stop = _get(config, "stopSequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(sequence, str) for sequence in stop):
            checks.bad_value(f"{path}.stop_sequences", "TYPE_STRING", stop)
        elif len(stop) > 5:
            checks.fail(f"{path}.stop_sequences", "stop_sequences must have at most 5 elements.")
    mime_type = _get(config, "responseMimeType")
    if mime_type is not None and mime_type not in RESPONSE_MIME_TYPES:
        checks.fail(f"{path}.response_mime_type", "allowed mimetypes are `text/plain`, `application/json`, "
                                                  "`application/xml`, `application/yaml` and `text/x.enum`.")
    schema = _get(config, "responseSchema")
    if schema is not None:
        _check_schema(checks, schema, f"{path}.response_schema")
        if mime_type not in ("application/json", "text/x.enum"):
            checks.fail(f"{path}.response_mime_type", "response_mime_type must be `application/json` or "
                                                      "`text/x.enum` when response_schema is set.")
        if _get(config, "responseJsonSchema") is not None:
            checks.fail(f"{path}.response_schema", "response_schema and response_json_schema cannot both be set.")
    thinking = _get(config, "thinkingConfig")
    if thinking is not None:
        _check_thinking_config(checks, thinking, f"{path}.thinking_config")


def _check_thinking_config(checks: _Checks, thinking, path: str) -> None:
    if not isinstance(thinking, dict):
        checks.bad_value(path, f"{PROTO}ThinkingConfig", thinking)
        return
    checks.unknown_fields(thinking, THINKING_FIELDS, path)
    include = _get(thinking, "includeThoughts")
    if include is not None and not isinstance(include, bool):
        checks.bad_value(f"{path}.include_thoughts", "TYPE_BOOL", include)
    budget = _get(thinking, "thinkingBudget")
    if budget is not None:
        if not _is_int(budget):
            checks.bad_value(f"{path}.thinking_budget", "TYPE_INT32", budget)
        elif int(budget) < -1:
            checks.fail(f"{path}.thinking_budget", "thinking_budget must be -1 (dynamic), 0 (off) or positive.")
    level = _get(thinking, "thinkingLevel")
    if level is not None and (not isinstance(level, str) or level.upper() not in THINKING_LEVELS):
        checks.bad_value(f"{path}.thinking_level", f"{PROTO}ThinkingConfig.ThinkingLevel", level)
    if budget is not None and level is not None:
        checks.fail(path, "thinking_budget and thinking_level cannot both be set.")


def _parts(content: dict) -> list[dict]:
    return [part for part in _get(content, "parts") or [] if isinstance(part, dict)]


def _calls(content: dict) -> list[dict]:
    return [part for part in _parts(content) if _get(part, "functionCall") is not None]


def _function_responses(content: dict) -> list[dict]:
    return [part for part in _parts(content) if _get(part, "functionResponse") is not None]


def _check_function_turns(contents: list[dict]) -> None:
    """The pairing rules the real API states in these words."""
    for number, content in enumerate(contents):
        previous = contents[number - 1] if number else None
        if _role(content) == "model" and _calls(content) and (previous is None or _role(previous) != "user"):
            raise GoogleError(400, "Please ensure that function call turn comes immediately after a user turn or "
                                   "after a function response turn.")
        responses = _function_responses(content)
        if not responses:
            continue
        if previous is None or _role(previous) != "model" or not _calls(previous):
            raise GoogleError(400, "Please ensure that function response turn comes immediately after a function "
                                   "call turn.")
        if len(responses) != len(_calls(previous)):
            raise GoogleError(400, "Please ensure that the number of function response parts is equal to the number "
                                   "of function call parts of the function call turn.")


def _check_signatures(contents: list[dict]) -> None:
    """Gemini 3: signatures must verify; each step of the current turn must sign its first call."""
    for content in contents:
        for part in _parts(content):
            signature = _get(part, "thoughtSignature")
            if signature and not signature_is_valid(signature, part):
                raise GoogleError(400, "Corrupted thought signature.")
    start = 0
    for number, content in enumerate(contents):
        standard = [part for part in _parts(content)
                    if _get(part, "text") is not None or _get(part, "inlineData") is not None
                    or _get(part, "fileData") is not None]
        if _role(content) == "user" and standard:
            start = number + 1
    for number in range(start, len(contents)):
        content = contents[number]
        calls = _calls(content)
        if _role(content) != "model" or not calls or _get(calls[0], "thoughtSignature"):
            continue
        name = _get(calls[0], "functionCall").get("name")
        raise GoogleError(
            400,
            "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
            "correctly, and missing thought_signature may lead to degraded model performance. Additional data, "
            f"function call `default_api:{name}` , position {number + 1}. Please refer to {SIGNATURE_DOCS} "
            "for more details.",
        )


# --- what the scenarios see --------------------------------------------------------------------------


def _response_text(response: dict) -> str:
    """A functionResponse's text for `after_tools`: a lone string value, else its compact JSON."""
    payload = _get(response, "response")
    if isinstance(payload, dict) and len(payload) == 1:
        (value,) = payload.values()
        if isinstance(value, str):
            return value
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def conversation(body: dict, raw_body: bytes) -> scenarios.Conversation:
    contents = _get(body, "contents")
    latest_user_text = None
    for content in reversed(contents):
        if _role(content) != "user":
            continue
        texts = [text for part in _parts(content)
                 if isinstance(text := _get(part, "text"), str) and text and not _get(part, "thought")]
        if texts:
            latest_user_text = "\n".join(texts)
            break
    final = contents[-1]
    responses = _function_responses(final) if _role(final) == "user" else []
    tool_results = [_response_text(_get(part, "functionResponse")) for part in responses] if responses else None
    config = _get(body, "generationConfig") or {}
    return scenarios.Conversation(
        protocol="gemini",  # type: ignore[arg-type]  # Literal lists the first two protocols only
        body=body,
        raw_body=raw_body,
        latest_user_text=latest_user_text,
        trailing_tool_results=tool_results,
        stop_sequences=list(_get(config, "stopSequences") or []),
    )


def _thinking_config(body: dict) -> dict:
    config = _get(body, "generationConfig") or {}
    return _get(config, "thinkingConfig") or {}


def _apply_thinking_config(reply: Reply, thinking: dict) -> Reply:
    """`thinkingBudget: 0` turns thinking off: no thoughts, none counted."""
    budget = _get(thinking, "thinkingBudget")
    if budget is None or int(budget) != 0:
        return reply
    parts = tuple(part for part in reply.parts if not isinstance(part, ThinkingPart))
    usage = replace(reply.usage, output_tokens=reply.usage.output_tokens - reply.usage.reasoning_tokens,
                    reasoning_tokens=0)
    return replace(reply, parts=parts, usage=usage)


# --- responses -----------------------------------------------------------------------------------------


def usage_metadata(usage: Usage, candidates: int | None = None, thoughts: int | None = None) -> dict:
    """Gemini counts: the prompt includes the cached tokens; thoughts are outside the candidates."""
    prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    all_candidates = usage.output_tokens - usage.reasoning_tokens
    candidates = all_candidates if candidates is None else min(candidates, all_candidates)
    thoughts = usage.reasoning_tokens if thoughts is None else min(thoughts, usage.reasoning_tokens)
    metadata: dict = {"promptTokenCount": prompt}
    if candidates:
        metadata["candidatesTokenCount"] = candidates
    metadata["totalTokenCount"] = prompt + candidates + thoughts
    if usage.cache_read_input_tokens:
        metadata["cachedContentTokenCount"] = usage.cache_read_input_tokens
    metadata["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if usage.cache_read_input_tokens:
        metadata["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": usage.cache_read_input_tokens}]
    if thoughts:
        metadata["thoughtsTokenCount"] = thoughts
    return metadata


@dataclass
class _Chunk:
    parts: list[dict]  # a part's "text" may be a callable, rendered when sent (`timed`)
    candidates: int  # cumulative counts after this chunk
    thoughts: int
    source: int  # index of the reply part that produced it (-1: the closing chunk)
    finish: str | None = None
    extra: dict = field(default_factory=dict)
    no_content: bool = False  # a blocked candidate: `"content": {}`


@dataclass
class _Render:
    model: str
    response_id: str
    number: int
    include_thoughts: bool

    def _call_part(self, part: ToolCallPart, signed: bool) -> dict:
        call: dict = {"name": part.name, "args": part.arguments}
        if _emits_call_ids(self.model):
            call["id"] = f"s{self.number % 100000:05d}c{part.ordinal % 16:x}"  # 8 characters, as captured
        rendered: dict = {"functionCall": call}
        if signed:
            rendered["thoughtSignature"] = call_signature(part.name, part.arguments, self.number)
        return rendered

    def _candidate(self, parts: list[dict], finish: str | None, extra: dict, no_content: bool) -> dict:
        candidate: dict = {"content": {} if no_content else {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        candidate.update(extra)
        return candidate

    def _response(self, candidate: dict, usage: dict) -> dict:
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": self.model,
                "responseId": self.response_id}

    def whole(self, reply: Reply) -> dict:
        """A non-streamed GenerateContentResponse."""
        finish = FINISH_REASONS[reply.stop]
        calls = [part for part in reply.parts if isinstance(part, ToolCallPart)]
        parts: list[dict] = []
        for part in reply.parts:
            match part:
                case ThinkingPart() if self.include_thoughts:
                    parts.append({"text": part.text(), "thought": True})
                case TextPart():
                    parts.append({"text": part.text()})
                case ToolCallPart():
                    parts.append(self._call_part(part, issues_signatures(self.model) and part is calls[0]))
        if strict_signatures(self.model) and finish == "STOP" and not calls and parts:
            parts[-1]["thoughtSignature"] = text_signature(self.number)
        extra: dict = {"finishMessage": FUNCTION_CALLS_MESSAGE} if calls else {}
        if finish == "SAFETY":
            extra = {"safetyRatings": SAFETY_RATINGS}
        candidate = self._candidate(parts, finish, extra, no_content=finish == "SAFETY")
        return self._response(candidate, usage_metadata(reply.usage))

    def chunks(self, reply: Reply) -> list[_Chunk]:
        chunks: list[_Chunk] = []
        candidates = thoughts = 0
        signed = False
        pending_calls: list[tuple[int, ToolCallPart]] = []

        def flush_calls() -> None:
            nonlocal candidates, signed
            if not pending_calls:
                return
            parts = []
            for _, call in pending_calls:  # parallel calls travel in one chunk
                parts.append(self._call_part(call, issues_signatures(self.model) and not signed))
                signed = True
                candidates += len(call.fragments) + 1
            chunks.append(_Chunk(parts, candidates, thoughts, pending_calls[0][0]))
            pending_calls.clear()

        for index, part in enumerate(reply.parts):
            if isinstance(part, ToolCallPart):
                pending_calls.append((index, part))
                continue
            flush_calls()
            match part:
                case ThinkingPart():
                    for delta in part.deltas:
                        thoughts += 1
                        if self.include_thoughts:
                            chunks.append(_Chunk([{"text": delta, "thought": True}], candidates, thoughts, index))
                case TextPart():
                    for delta in part.deltas:
                        candidates += 1
                        chunks.append(_Chunk([{"text": delta}], candidates, thoughts, index))
        flush_calls()
        if reply.midstream_error:
            return chunks

        finish = FINISH_REASONS[reply.stop]
        has_calls = any(isinstance(part, ToolCallPart) for part in reply.parts)
        if finish == "SAFETY":
            chunks.append(_Chunk([], candidates, thoughts, -1, finish, {"safetyRatings": SAFETY_RATINGS}, True))
        elif strict_signatures(self.model) and finish == "STOP":
            closing = {"text": ""} if has_calls else {"text": "", "thoughtSignature": text_signature(self.number)}
            chunks.append(_Chunk([closing], candidates, thoughts, -1, finish))
        else:
            if not chunks:
                chunks.append(_Chunk([{"text": ""}], candidates, thoughts, -1))
            chunks[-1].finish = finish
            if has_calls:
                chunks[-1].extra["finishMessage"] = FUNCTION_CALLS_MESSAGE
        return chunks

    def _chunk_response(self, chunk: _Chunk, usage: dict) -> dict:
        parts = [{**part, "text": part["text"]()} if callable(part.get("text")) else part for part in chunk.parts]
        return self._response(self._candidate(parts, chunk.finish, chunk.extra, chunk.no_content), usage)

    def stream_events(self, reply: Reply, sse: bool) -> list[StreamEvent]:
        chunks = self.chunks(reply)
        if reply.midstream_error:  # the first part's chunks, then the error element
            first = chunks[0].source if chunks else -1
            chunks = [chunk for chunk in chunks if chunk.source == first]
        events: list[StreamEvent] = []
        for number, chunk in enumerate(chunks):
            final = number == len(chunks) - 1 and not reply.midstream_error
            usage = usage_metadata(reply.usage) if final else usage_metadata(reply.usage, chunk.candidates,
                                                                              chunk.thoughts)
            frame = _framer(sse, first=number == 0)
            if any(callable(part.get("text")) for part in chunk.parts):
                events.append(lambda chunk=chunk, usage=usage, frame=frame: frame(self._chunk_response(chunk, usage)))
            else:
                events.append(frame(self._chunk_response(chunk, usage)))
        if reply.midstream_error:
            error = GoogleError(503, "The model is overloaded. Please try again later.").body()
            events.append(_framer(sse, first=not events)(error))
        if not sse:
            events.append(b"]")
        return events


def _framer(sse: bool, *, first: bool) -> Callable[[dict], bytes]:
    """How one GenerateContentResponse goes on the wire: an SSE event, or the next array element."""
    if sse:
        return lambda value: b"data: " + _sse_json(value) + b"\r\n\r\n"
    opening = b"[" if first else b",\r\n"
    return lambda value: opening + _pretty(value) + b"\n"


# --- implicit caching ---------------------------------------------------------------------------------


def settle_cache(body: dict, model: str, key: str, context: Context):
    """Implicit prefix caching at content boundaries, per API key and model."""
    head = []
    system = _get(body, "systemInstruction")
    if system is not None:
        head.append(Block("systemInstruction", canonical(["systemInstruction", system])))
    head += [Block(f"tools[{number}]", canonical(["tools", tool])) for number, tool in enumerate(_get(body, "tools") or [])]
    contents = [Block(f"contents[{number}]", canonical(item)) for number, item in enumerate(_get(body, "contents") or [])]
    chain = prefixes(f"gemini\0{model}", [*head, *contents])
    return context.prompt_cache.implicit(("gemini", key, model), chain, range(len(head), len(chain)), "in_memory")
