"""Trae's ExchangeToken: `{ClientID, RefreshToken, ClientSecret: "-", UserID}` to
`/cloudide/api/v3/trae/oauth/ExchangeToken`, answered with `Result{Token, TokenExpireAt,
RefreshToken, RefreshExpireAt}` (epoch milliseconds).

One call per refresh, and the rotated refresh token it returns is the one
kept. (A seed called it twice and threw the second rotated token away, which
locks the account out once the server enforces single use.)
"""

from __future__ import annotations

import time

import httpx
import orjson

from addons.credentials.refresh_errors import RefreshRejected, RefreshUnavailable, http_failure
from addons.credentials.token_file import TokenSet

TRAE_AUTH_BASE_URL = "https://api-sg-central.trae.ai"
EXCHANGE_PATH = "/cloudide/api/v3/trae/oauth/ExchangeToken"


class TraeExchangeRefresher:
    service = "Trae ExchangeToken"

    def __init__(self, client_id: str, user_id: str, auth_base_url: str = TRAE_AUTH_BASE_URL) -> None:
        self.url = auth_base_url.rstrip("/") + EXCHANGE_PATH
        self.client_id = client_id
        self.user_id = user_id

    async def refresh(self, client: httpx.AsyncClient, refresh_token: str) -> TokenSet:
        body = {"ClientID": self.client_id, "RefreshToken": refresh_token, "ClientSecret": "-", "UserID": self.user_id}
        try:
            response = await client.post(self.url, content=orjson.dumps(body),
                                         headers={"content-type": "application/json"}, timeout=30)
        except httpx.HTTPError as exc:
            raise RefreshUnavailable(f"cannot reach Trae's token service ({http_failure(exc)})") from None
        data = _json(response.content)
        result = data.get("Result") if isinstance(data.get("Result"), dict) else None
        if response.status_code in (400, 401, 403) or (response.status_code == 200 and result is None):
            raise RefreshRejected(f"Trae refused the refresh token: {_reason(data) or f'HTTP {response.status_code}'}")
        if response.status_code != 200:
            raise RefreshUnavailable(f"Trae's token service answered HTTP {response.status_code}")
        token, refresh = result.get("Token"), result.get("RefreshToken")
        if not isinstance(token, str) or not isinstance(refresh, str):
            raise RefreshUnavailable("Trae's token service answered without Token/RefreshToken")
        return TokenSet(token, refresh, _seconds(result.get("TokenExpireAt")), _seconds(result.get("RefreshExpireAt")), time.time())


def _seconds(ms: object) -> float | None:
    return float(ms) / 1000 if isinstance(ms, (int, float)) else None


def _reason(data: dict) -> str:
    meta = data.get("ResponseMetadata")
    if isinstance(meta, dict) and isinstance(meta.get("Error"), dict):
        error = meta["Error"]
        return str(error.get("Message") or error.get("Code") or "")
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return str(data.get("message") or error or "")


def _json(content: bytes) -> dict:
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
