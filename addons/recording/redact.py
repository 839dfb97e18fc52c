"""Secrets never leave the process: headers and query parameters that carry
credentials are replaced by a marker wherever a request is kept or shown."""

from __future__ import annotations

from urllib.parse import unquote_plus

MARKER = "<redacted>"

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-ide-token",  # Trae
        "x-amz-security-token",  # AWS session credentials (SigV4 itself is in authorization)
        "cookie",
        "set-cookie",
    }
)
SECRET_QUERY_PARAMS = frozenset({"key", "api_key", "access_token", "token"})


def redact_headers(headers) -> None:
    """In place, on a mitmproxy Headers object."""
    for name in list(headers.keys()):
        if name.lower() in SECRET_HEADERS:
            headers[name] = MARKER


def redacted_header_pairs(headers) -> list[list[str]]:
    return [[k, MARKER if k.lower() in SECRET_HEADERS else v] for k, v in headers.items(multi=True)]


def redact_query(request) -> None:
    for name in list(request.query.keys()):
        if name.lower() in SECRET_QUERY_PARAMS:
            request.query[name] = MARKER


def redacted_path(path: str) -> str:
    """A request path with the values of credential query parameters (`?key=` of Gemini clients) replaced."""
    bare, sep, query = path.partition("?")
    if not sep:
        return path
    fields = []
    for field in query.split("&"):
        name, eq, _value = field.partition("=")
        fields.append(f"{name}={MARKER}" if eq and unquote_plus(name).lower() in SECRET_QUERY_PARAMS else field)
    return f"{bare}?{'&'.join(fields)}"
