"""Who may call the bridge from a web page: the rule for `Origin` and CORS.

A browser lets any page send a "simple" cross-site POST (text/plain, a form)
without asking first, and attaches the page's `Origin`. The bridge spends the
owner's keys on every call, so a request that carries an `Origin` is served
only when that origin is the bridge's own or one the owner listed in
`[server] cors_origins`. "Own" means the page was loaded from the bridge by a
loopback name: a DNS-rebinding page reaches the bridge under its own name
(`evil.example:8080`) and is refused, unless the bridge has access tokens, which
such a page cannot present.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from addons.guards.loopback import is_loopback

PREFLIGHT_MAX_AGE = "600"
ALLOWED_METHODS = "GET, POST, OPTIONS"
# what a browser client may read from an answer (its SDK looks at these)
EXPOSED_HEADERS = "x-request-id, retry-after, x-llm-bridge-provider, x-llm-bridge-upstream-model"


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]` in lower case with the scheme's default port dropped, or None when
    the value is not an http(s) origin (including the opaque origin `null`)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.username:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def is_own_origin(origin: str, host_header: str, scheme: str, *, tokens_configured: bool) -> bool:
    """The page was served by this bridge, under the name the request was sent to."""
    own = normalize_origin(f"{scheme}://{host_header}")
    if own is None or normalize_origin(origin) != own:
        return False
    return tokens_configured or is_loopback(urlsplit(own).hostname or "")


def preflight_headers(origin: str, requested_headers: str) -> dict[str, str]:
    """The answer to a listed origin's preflight: the methods the bridge serves and the
    headers asked for (the SDKs' own: authorization, x-api-key, anthropic-version, x-stainless-*...)."""
    headers = {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": ALLOWED_METHODS,
        "access-control-max-age": PREFLIGHT_MAX_AGE,
        "vary": "Origin",
    }
    if requested_headers:
        headers["access-control-allow-headers"] = requested_headers
    return headers


def answer_headers(origin: str) -> dict[str, str]:
    """What a listed origin's actual answers carry so its page may read them."""
    return {"access-control-allow-origin": origin, "access-control-expose-headers": EXPOSED_HEADERS, "vary": "Origin"}


def is_json_media_type(content_type: str) -> bool:
    """`application/json`, with or without parameters (`; charset=utf-8`)."""
    return content_type.partition(";")[0].strip().lower() == "application/json"
