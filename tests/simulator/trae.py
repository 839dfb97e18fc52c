"""A fake Trae: the OAuth token exchange, the model list and the IDE chat endpoint.

Wire formats follow the seed-system notes (sections 1 and 2), so they are as
faithful as two open-source clients' reading of Trae. Where the notes are silent
the choices are marked [I]:
- OAuth errors use ByteDance's `{"ResponseMetadata": {"Error": {Code, Message}}}` envelope [I];
- IDE API errors are `{"code": N, "message": ...}`: HTTP 401 for a bad token (1001),
  HTTP 400 for malformed headers or body (4001, naming what is wrong), and
  HTTP 200 for a model Trae does not offer (4001), as Trae answers some errors with 200 [I].
Refresh tokens are single use: an exchange retires the presented token, and a retired
token presented again is recorded in `reused_refresh_tokens`, so tests can prove a
client never spends one twice.

Chat scenarios are picked by a `[sim:NAME key=value]` directive in `user_input`:
`text` (default), `thinking`, `length`, `queue n=K`, `error code=N`, `error_event code=N`,
`split n=N`; `split=N` and `delay_ms=N` work on every scenario, as in the other front-ends.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterable

import orjson

from .common import Rejected, dumps
from .http import Request, Response, StreamingResponse
from .scenarios import DIRECTIVE, _int_option, _parse_options

EXCHANGE_PATH = "/cloudide/api/v3/trae/oauth/ExchangeToken"
MODEL_LIST_PATH = "/api/ide/v1/model_list"
CHAT_PATH = "/api/ide/v1/chat"
PATHS = (EXCHANGE_PATH, MODEL_LIST_PATH, CHAT_PATH)

DEFAULT_MODELS = (
    {"name": "claude3.5", "display_name": "Claude-3.5-Sonnet", "is_default": False, "multimodal": True},
    {"name": "aws_sdk_claude37_sonnet", "display_name": "Claude-3.7-Sonnet", "is_default": True, "multimodal": True},
    {"name": "gpt-4o", "display_name": "GPT-4o", "is_default": False, "multimodal": True},
    {"name": "deepseek-R1", "display_name": "DeepSeek-Reasoner(R1)", "is_default": False, "multimodal": False},
)
HELLO = ("Hello", " from the", " Trae simulator! Ünï", "cödé ✓", " 🌍")
CODE_MESSAGES = {1001: "auth failed", 4001: "param is invalid", 4008: "quota exceeded", 4011: "too many requests"}
CURRENT_TIME = re.compile(r"^\d{8} \d{2}:\d{2}:\d{2} [A-Za-z]+$")
SCENARIOS = {"text": set(), "thinking": set(), "length": set(), "queue": {"n"}, "error": {"code"},
             "error_event": {"code"}, "split": {"n"}}
COMMON_OPTIONS = {"split", "delay_ms"}
JSON = {"content-type": "application/json; charset=utf-8"}
SSE = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


class _Refused(Exception):
    """Raised while checking a request; carries the whole answer."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.body.decode("utf-8", "replace"))
        self.response = response


class TraeSimulator:
    def __init__(
        self,
        refresh_tokens: Iterable[str] = ("trae-refresh-initial",),
        *,
        client_id: str = "sim-client-id",
        user_id: str = "sim-user-id",
        app_id: str = "sim-app-id",
        access_ttl_s: float = 3600,
        refresh_ttl_s: float = 14 * 86400,
        exchange_delay_s: float = 0.0,
        models: Iterable[dict] = DEFAULT_MODELS,
        clock: Callable[[], float] = time.time,  # tests pass their own to expire tokens without waiting
    ) -> None:
        self.client_id, self.user_id, self.app_id = client_id, user_id, app_id
        self.access_ttl_s, self.refresh_ttl_s = access_ttl_s, refresh_ttl_s
        self.exchange_delay_s = exchange_delay_s
        self.models = [dict(model) for model in models]
        self.clock = clock
        self.requests: list[Request] = []
        self.exchange_calls = 0
        self.refresh_tokens: dict[str, float] = {}  # valid refresh token -> expiry (epoch s)
        self.retired_refresh_tokens: set[str] = set()
        self.reused_refresh_tokens: list[str] = []
        self.access_tokens: dict[str, float] = {}  # valid access token -> expiry (epoch s)
        self._queued: dict[str, int] = {}  # user_input -> queue answers given so far
        self._numbers = itertools.count(1)
        for token in refresh_tokens:
            self.add_refresh_token(token)

    # --- helpers for tests ---

    def add_refresh_token(self, token: str, expires_at: float | None = None) -> None:
        self.refresh_tokens[token] = expires_at if expires_at is not None else self.clock() + self.refresh_ttl_s

    def issue_access_token(self, ttl_s: float | None = None) -> str:
        token = "trae-at-" + secrets.token_urlsafe(32)
        self.access_tokens[token] = self.clock() + (self.access_ttl_s if ttl_s is None else ttl_s)
        return token

    def ide_headers(self, token: str) -> dict[str, str]:
        """The headers a well-configured client sends with `token`."""
        return {"x-ide-token": token, "x-app-id": self.app_id, "x-device-id": "7311234567890123456",
                "x-machine-id": "a" * 64, "x-ide-version": "1.2.10", "x-ide-version-code": "20250325",
                "x-ide-version-type": "stable", "x-device-type": "windows"}

    # --- routing ---

    async def dispatch(self, request: Request) -> Response | StreamingResponse | None:
        """The answer to a Trae request; None when the path is not one of Trae's."""
        if request.path not in PATHS:
            return None
        self.requests.append(request)
        expected = "GET" if request.path == MODEL_LIST_PATH else "POST"
        if request.method != expected:
            return _ide_error(405, 4001, f"method {request.method} not allowed on {request.path}")
        try:
            if request.path == EXCHANGE_PATH:
                return await self._exchange(request)
            if request.path == MODEL_LIST_PATH:
                return self._model_list(request)
            return self._chat(request)
        except _Refused as refused:
            return refused.response

    # --- OAuth token exchange ---

    async def _exchange(self, request: Request) -> Response:
        self.exchange_calls += 1
        if self.exchange_delay_s:
            # before any check, so that two concurrent uses of one token both wait, then race
            await asyncio.sleep(self.exchange_delay_s)
        body = request.json
        if not isinstance(body, dict):
            return _oauth_error(400, "InvalidParameter", "the body must be a JSON object")
        for field in ("ClientID", "RefreshToken", "ClientSecret", "UserID"):
            if not isinstance(body.get(field), str) or not body[field]:
                return _oauth_error(400, "MissingParameter", f"{field} is required")
        if body["ClientSecret"] != "-":
            return _oauth_error(401, "InvalidClient", "ClientSecret must be '-'")
        if body["ClientID"] != self.client_id or body["UserID"] != self.user_id:
            return _oauth_error(401, "InvalidClient", "ClientID or UserID does not match the refresh token")
        token = body["RefreshToken"]
        if token in self.retired_refresh_tokens:
            self.reused_refresh_tokens.append(token)
            return _oauth_error(401, "RefreshTokenReused", "refresh token has already been used; sign in again")
        if token not in self.refresh_tokens:
            return _oauth_error(401, "InvalidRefreshToken", "unknown refresh token")
        now = self.clock()
        if self.refresh_tokens[token] <= now:
            return _oauth_error(401, "RefreshTokenExpired", "refresh token expired; sign in to Trae again")
        del self.refresh_tokens[token]
        self.retired_refresh_tokens.add(token)
        new_refresh = "trae-rt-" + secrets.token_urlsafe(32)
        self.add_refresh_token(new_refresh)
        access = self.issue_access_token()
        result = {
            "Token": access,
            "TokenExpireAt": int(self.access_tokens[access] * 1000),
            "RefreshToken": new_refresh,
            "RefreshExpireAt": int(self.refresh_tokens[new_refresh] * 1000),
        }
        return Response(200, JSON, dumps({"ResponseMetadata": {"Action": "ExchangeToken"}, "Result": result}))

    # --- IDE API ---

    def _authorize(self, request: Request) -> None:
        token = request.headers.get("x-ide-token", "")
        expires = self.access_tokens.get(token)
        if expires is None or expires <= self.clock():
            raise _Refused(_ide_error(401, 1001, "auth failed: x-ide-token is missing, invalid or expired"))
        if request.headers.get("x-app-id") != self.app_id:
            raise _Refused(_ide_error(400, 4001, "param is invalid: x-app-id is missing or unknown"))

    def _model_list(self, request: Request) -> Response:
        self._authorize(request)
        return Response(200, JSON, dumps({"model_configs": self.models}))

    def _chat(self, request: Request) -> Response | StreamingResponse:
        self._authorize(request)
        for header in ("x-device-id", "x-machine-id", "x-ide-version"):
            if not request.headers.get(header):
                raise _Refused(_ide_error(400, 4001, f"param is invalid: header {header} is required"))
        body = request.json
        _validate_chat(body)
        if body["model_name"] not in {model["name"] for model in self.models}:
            return _ide_error(200, 4001, "param is invalid")  # as Trae answers a model it does not offer [I]

        name, options = "text", {}
        found = DIRECTIVE.search(body["user_input"])
        try:
            if found:
                name, options = found["name"], _parse_options(found["options"])
            if name not in SCENARIOS:
                raise _Refused(_ide_error(400, 4001, f"simulator: unknown scenario {name!r}; known: {', '.join(SCENARIOS)}"))
            unknown = set(options) - COMMON_OPTIONS - SCENARIOS[name]
            if unknown:
                raise _Refused(_ide_error(400, 4001, f"simulator: unknown option(s) {', '.join(sorted(unknown))} for {name!r}"))
            split = _int_option(options, "split", None, minimum=1)
            delay_s = _int_option(options, "delay_ms", 0, minimum=0) / 1000
            if name == "split":
                split = _int_option(options, "n", 1, minimum=1)
            count = _int_option(options, "n", 1, minimum=0) if name == "queue" else 0
            code = _int_option(options, "code", 4008 if name == "error" else 4011, minimum=0)
        except Rejected as rejected:
            raise _Refused(_ide_error(400, 4001, rejected.failure.message)) from None

        if name == "error":
            return _ide_error(200, code, CODE_MESSAGES.get(code, "simulated error"))
        if name == "queue":
            served = self._queued.get(body["user_input"], 0)
            if served < count:
                self._queued[body["user_input"]] = served + 1
                waiting = {"position": count - served, "message": "request is waiting in queue",
                           "queue_id": f"q-sim-{next(self._numbers)}"}
                return StreamingResponse(200, SSE, [_event("request_wait_in_queue", waiting)], delay_s, split)

        events = [_event("metadata", {"prompt_completion_id": f"pc-sim-{next(self._numbers):06d}"})]
        if name == "error_event":
            events.append(_event("error", {"code": code, "message": CODE_MESSAGES.get(code, "simulated error")}))
            return StreamingResponse(200, SSE, events, delay_s, split)
        reasoning, text, finish = _answer(name, body)
        events += [_event("output", {"response": "", "reasoning_content": delta, "finish_reason": ""}) for delta in reasoning]
        events += [_event("output", {"response": delta, "reasoning_content": "", "finish_reason": ""}) for delta in text]
        events.append(_event("done", {"finish_reason": finish}))
        return StreamingResponse(200, SSE, events, delay_s, split)


def _answer(name: str, body: dict) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """(reasoning deltas, text deltas, finish reason) of a scenario."""
    if name == "thinking":
        return ("Let me think this", " through carefully."), ("The answer", " is 42."), "stop"
    if name == "length":
        return (), ("This answer is cut", " off before it"), "length"
    said = DIRECTIVE.sub("", body["user_input"]).strip()
    # echo-ish, so a test sees the turn and the input the simulator understood
    return (), (*HELLO, f" Turn {body['current_turn']}, you said: {said}"), "stop"


def _validate_chat(body: object) -> None:
    def bad(detail: str) -> _Refused:
        return _Refused(_ide_error(400, 4001, f"param is invalid: {detail}"))

    if not isinstance(body, dict):
        raise bad("the body must be a JSON object")
    history = body.get("chat_history")
    if not isinstance(history, list):
        raise bad("chat_history must be an array")
    for i, item in enumerate(history):
        if not isinstance(item, dict):
            raise bad(f"chat_history[{i}] must be an object")
        if item.get("role") not in ("system", "user", "assistant"):
            raise bad(f"chat_history[{i}].role must be system, user or assistant")
        for field in ("content", "status"):
            if not isinstance(item.get(field), str):
                raise bad(f"chat_history[{i}].{field} must be a string")
    if not isinstance(body.get("user_input"), str) or not body["user_input"]:
        raise bad("user_input must be a non-empty string")
    turn = body.get("current_turn")
    if not isinstance(turn, int) or isinstance(turn, bool) or turn < 0:
        raise bad("current_turn must be a non-negative integer")
    for field in ("session_id", "conversation_id", "model_name"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise bad(f"{field} must be a non-empty string")
    turns = body.get("valid_turns", [])
    if not isinstance(turns, list) or not all(isinstance(t, int) and 0 <= t < len(history) for t in turns):
        raise bad("valid_turns must list indexes of chat_history")
    for field in ("context_resolvers", "multi_media"):
        if not isinstance(body.get(field, []), list):
            raise bad(f"{field} must be an array")
    variables = body.get("variables")
    if not isinstance(variables, str):
        raise bad("variables must be a JSON-encoded string")
    try:
        parsed = orjson.loads(variables)
    except orjson.JSONDecodeError:
        raise bad("variables is not valid JSON") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("locale"), str):
        raise bad("variables must hold a locale")
    if not isinstance(parsed.get("current_time"), str) or not CURRENT_TIME.match(parsed["current_time"]):
        raise bad("variables.current_time must look like 'YYYYMMDD HH:MM:SS Weekday'")


def _event(name: str, payload: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(payload) + b"\n\n"


def _ide_error(status: int, code: int, message: str) -> Response:
    return Response(status, JSON, dumps({"code": code, "message": message}))


def _oauth_error(status: int, code: str, message: str) -> Response:
    return Response(status, JSON, dumps({"ResponseMetadata": {"Error": {"Code": code, "Message": message}}}))
