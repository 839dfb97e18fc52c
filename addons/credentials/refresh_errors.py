"""How a refresh can fail, in terms of what the client should be told."""

from __future__ import annotations


class RefreshRejected(Exception):
    """The token service refused the refresh token (spent, revoked, expired): only a new login helps."""


class RefreshUnavailable(Exception):
    """The token service could not be reached or failed: retrying later may help."""
