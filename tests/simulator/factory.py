"""A fake Factory LLM gateway (`/api/llm/{a,o}/v1/...`), as droid2api calls it.

Checks the bearer (a live WorkOS access token or a static FACTORY_API_KEY) and Factory's fixed
header set, then hands the request to the plain Anthropic / OpenAI front-ends with the path
rewritten and the credentials swapped for the key the shared `Context` expects.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import anthropic, openai_chat, openai_responses
from .common import Context, dumps
from .http import Request, Response, StreamingResponse
from .workos import WorkOSSimulator

ANTHROPIC_MESSAGES = "/api/llm/a/v1/messages"
ANTHROPIC_COUNT_TOKENS = "/api/llm/a/v1/messages/count_tokens"
OPENAI_RESPONSES = "/api/llm/o/v1/responses"
OPENAI_CHAT = "/api/llm/o/v1/chat/completions"

# Factory path -> (plain API path, front-end handler, protocol family)
ROUTES = {
    ANTHROPIC_MESSAGES: ("/v1/messages", anthropic.handle, "anthropic"),
    ANTHROPIC_COUNT_TOKENS: ("/v1/messages/count_tokens", anthropic.count_tokens, "anthropic"),
    OPENAI_RESPONSES: ("/v1/responses", openai_responses.handle, "openai"),
    OPENAI_CHAT: ("/v1/chat/completions", openai_chat.handle, "openai"),
}
STAINLESS_HEADERS = (
    "x-stainless-lang",
    "x-stainless-package-version",
    "x-stainless-os",
    "x-stainless-runtime",
    "x-stainless-arch",
    "x-stainless-retry-count",
    "x-stainless-runtime-version",
)
COMMON_HEADERS = ("x-session-id", "x-assistant-message-id", "x-api-provider")
FALLBACK_KEY = "sk-factory-sim"  # handed to a front-end whose Context accepts any key


class HeaderProblem(Exception):
    """A 400 naming the Factory header that is missing or wrong."""

    def __init__(self, header: str, message: str) -> None:
        super().__init__(message)
        self.header = header


class FactorySimulator:
    """Factory's LLM endpoints; `requests` holds every request as it arrived (path, headers)."""

    def __init__(self, workos: WorkOSSimulator | None, context: Context, static_keys: Iterable[str] = ()) -> None:
        self.workos = workos
        self.context = context
        self.static_keys = set(static_keys)
        self.requests: list[Request] = []

    def token_valid(self, token: str) -> bool:
        if token in self.static_keys:
            return True
        return self.workos is not None and self.workos.is_valid_access_token(token)

    async def dispatch(self, request: Request) -> Response | StreamingResponse | None:
        route = ROUTES.get(request.path)
        if route is None or request.method != "POST":
            return None
        self.requests.append(request)
        plain_path, handler, family = route
        request_id = f"req_sim_{self.context.next_number():06d}"

        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _error(family, 401, "authentication_error", "Missing bearer token in authorization header", request_id)
        if not self.token_valid(token):
            return _error(family, 401, "authentication_error", "Invalid or expired access token", request_id)
        try:
            _check_headers(request, family)
        except HeaderProblem as problem:
            return _error(family, 400, "invalid_request_error", str(problem), request_id, param=problem.header)

        headers = {name: value for name, value in request.headers.items() if name not in ("authorization", "x-api-key")}
        if family == "anthropic":
            headers["x-api-key"] = self.context.anthropic_key or FALLBACK_KEY
        else:
            headers["authorization"] = f"Bearer {self.context.openai_key or FALLBACK_KEY}"
        plain = Request(
            method=request.method,
            path=plain_path,
            query=request.query,
            headers=headers,
            body=request.body,
            version=request.version,
        )
        return handler(plain, self.context)


def _check_headers(request: Request, family: str) -> None:
    headers = request.headers
    if headers.get("x-factory-client") != "cli":
        raise HeaderProblem("x-factory-client", "x-factory-client header must be 'cli'")
    for name in COMMON_HEADERS:
        if not headers.get(name, "").strip():
            raise HeaderProblem(name, f"{name} header is required")
    if not headers.get("user-agent", "").startswith("factory-cli/"):
        raise HeaderProblem("user-agent", "user-agent header must start with 'factory-cli/'")
    if family == "anthropic":
        if headers.get("x-api-key") != "placeholder":
            raise HeaderProblem("x-api-key", "x-api-key header must be 'placeholder'")
        if not headers.get("anthropic-version", "").strip():
            raise HeaderProblem("anthropic-version", "anthropic-version header is required")
    for name in STAINLESS_HEADERS:
        if not headers.get(name, "").strip():
            raise HeaderProblem(name, f"{name} header is required")


def _error(family: str, status: int, kind: str, message: str, request_id: str, param: str | None = None) -> Response:
    if family == "anthropic":
        body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    else:
        body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    headers = {"content-type": "application/json; charset=utf-8", "x-request-id": request_id}
    return Response(status, headers, dumps(body))
