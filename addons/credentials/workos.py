"""WorkOS refresh for Factory: form-encoded `grant_type=refresh_token` to
`/user_management/authenticate`, answered with a new access token (a JWT of about
8 hours) and a new refresh token; the old refresh token is spent."""

from __future__ import annotations

import time

import httpx
import orjson

from addons.credentials.refresh_errors import RefreshRejected, RefreshUnavailable, http_failure
from addons.credentials.token_file import TokenSet, jwt_expiry

WORKOS_URL = "https://api.workos.com/user_management/authenticate"
FACTORY_CLIENT_ID = "client_01HNM792M5G5G1A2THWPXKFMXB"  # the Factory CLI's WorkOS client
ACCESS_TOKEN_LIFETIME = 8 * 3600.0  # when the JWT carries no exp


class WorkOSRefresher:
    service = "WorkOS"

    def __init__(self, url: str = WORKOS_URL, client_id: str = FACTORY_CLIENT_ID) -> None:
        self.url = url
        self.client_id = client_id

    async def refresh(self, client: httpx.AsyncClient, refresh_token: str) -> TokenSet:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id}
        try:
            response = await client.post(self.url, data=form, timeout=30)
        except httpx.HTTPError as exc:
            raise RefreshUnavailable(f"cannot reach WorkOS ({http_failure(exc)})") from None
        body = _json(response.content)
        if response.status_code in (400, 401, 403):
            reason = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
            raise RefreshRejected(f"WorkOS refused the refresh token: {reason}")
        if response.status_code != 200:
            raise RefreshUnavailable(f"WorkOS answered HTTP {response.status_code}")
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise RefreshUnavailable("WorkOS answered without access_token/refresh_token")
        now = time.time()
        return TokenSet(access, refresh, jwt_expiry(access) or now + ACCESS_TOKEN_LIFETIME, None, now)


def _json(content: bytes) -> dict:
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
