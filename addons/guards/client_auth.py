"""Client authentication to the bridge itself (`[server] auth_tokens`).

The client's credential is only checked here; it is never forwarded upstream.
"""

from __future__ import annotations

import hmac


def presented_token(headers) -> str | None:
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or None


def is_authorized(headers, tokens: list[str]) -> bool:
    if not tokens:
        return True
    token = presented_token(headers)
    if token is None:
        return False
    candidate = token.encode()
    # compare against every token (no early exit) in constant time per comparison
    matches = [hmac.compare_digest(candidate, t.encode()) for t in tokens]
    return any(matches)
