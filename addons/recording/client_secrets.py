"""A client's credentials are taken out of the flow as soon as its headers arrive.

mitmweb adds a flow to its view at `requestheaders`, before the bridge has
rewritten the request; whatever is in the flow then is shown and can be saved.
So when flows can be seen, the secret headers (and a Gemini `?key=`) are moved
into process memory here and replaced by a marker; the bridge reads them from
this stash to check the client and to pass a client's own key on.
"""

from __future__ import annotations

from addons.recording.redact import MARKER, SECRET_HEADERS

SECRET_QUERY = "key"


class StashedHeaders:
    """The flow's headers with the stashed secrets read back in (read-only, `.get` only)."""

    __slots__ = ("_secrets", "_headers")

    def __init__(self, secrets: dict[str, str], headers) -> None:
        self._secrets = secrets
        self._headers = headers

    def get(self, name: str, default=None):
        value = self._secrets.get(name.lower())
        return value if value is not None else self._headers.get(name, default)


def take_secrets(request) -> dict[str, str]:
    """Move the secret headers and query key out of `request` (in place); return them."""
    secrets: dict[str, str] = {}
    for name in list(request.headers.keys()):
        if name.lower() in SECRET_HEADERS:
            secrets[name.lower()] = request.headers[name]
            request.headers[name] = MARKER
    if SECRET_QUERY in request.query:
        secrets["query:key"] = request.query[SECRET_QUERY]
        request.query[SECRET_QUERY] = MARKER
    return secrets
