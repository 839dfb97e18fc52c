"""How a refresh can fail, in terms of what the client should be told."""

from __future__ import annotations

import httpx


class RefreshRejected(Exception):
    """The token service refused the refresh token (spent, revoked, expired): only a new login helps."""


class RefreshUnavailable(Exception):
    """The token service could not be reached or failed: retrying later may help."""


def http_failure(exc: Exception) -> str:
    """Why a token service could not be reached, for a person (no exception class names)."""
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or the name does not resolve"
    return "the connection failed"
