"""A fake WorkOS `POST /user_management/authenticate` (refresh-token grant), as droid2api calls it.

Refresh tokens are single use: a successful exchange retires the presented token and issues a
new one (rotation). Presenting a retired token again is answered `invalid_grant` and recorded in
`reused_refresh_tokens`, so a test can assert a bridge never replays a rotated token (e.g. two
concurrent refreshes racing with the same token, or a restart reading a stale one).

The replay grace period (WorkOS's AuthKit documents one, as do Auth0, Okta, Cognito and Clerk: a client
whose refresh answer was lost presents the replaced token again): with `replay_grace_s` > 0, the token the
latest exchange replaced is accepted once more within that many seconds of it, and a new pair is issued;
the pair it replaces (the one whose answer was lost) stops working, so only the newest pair is live. Such
replays are recorded in `grace_replays`, not in `reused_refresh_tokens`. Off (0) by default: strictly single use.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from .common import dumps
from .http import Request, Response

AUTHENTICATE_PATH = "/user_management/authenticate"
WORKOS_CLIENT_ID = "client_01HNM792M5G5G1A2THWPXKFMXB"  # droid2api's fixed client id
FORM_TYPE = "application/x-www-form-urlencoded"
SIM_USER = {
    "id": "user_01SIMULATORDROIDUSER00000",
    "email": "droid@example.com",
    "first_name": "Sim",
    "last_name": "Droid",
}
SIM_ORGANIZATION_ID = "org_01SIMULATORORGANIZATION000"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _error(status: int, error: str, description: str) -> Response:
    body = dumps({"error": error, "error_description": description})
    return Response(status, {"content-type": "application/json; charset=utf-8"}, body)


class WorkOSSimulator:
    """Answers the refresh-token grant; knows which access tokens it issued and until when."""

    def __init__(
        self,
        refresh_tokens: list[str] | tuple[str, ...] = (),
        access_ttl_s: float = 8 * 3600,
        delay_s: float = 0.0,
        on_issue: Callable[[dict], None] | None = None,
        replay_grace_s: float = 0.0,
    ) -> None:
        self.access_ttl_s = access_ttl_s
        self.delay_s = delay_s
        self.on_issue = on_issue  # called with the success body, before it is written
        self.calls = 0  # authenticate calls, successful or not
        self.requests: list[Request] = []
        self.reused_refresh_tokens: list[str] = []
        self.issued: list[dict] = []  # every success body, in order
        self.replay_grace_s = replay_grace_s
        self.grace_replays: list[str] = []
        self._last_replaced: tuple[str, str, float] | None = None  # (replaced token, its replacement, when)
        self._live_refresh: set[str] = set(refresh_tokens)
        self._retired_refresh: set[str] = set()
        self._access_expiry: dict[str, float] = {}  # access token -> epoch seconds

    def add_refresh_token(self, token: str) -> None:
        self._live_refresh.add(token)

    def is_valid_access_token(self, token: str) -> bool:
        expiry = self._access_expiry.get(token)
        return expiry is not None and time.time() < expiry

    def revoke_access_tokens(self) -> None:
        """Every access token issued so far stops working (a server-side logout or key roll)."""
        self._access_expiry.clear()

    @property
    def live_refresh_tokens(self) -> set[str]:
        return set(self._live_refresh)

    async def dispatch(self, request: Request) -> Response | None:
        if request.path != AUTHENTICATE_PATH:
            return None
        self.calls += 1
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if request.method != "POST":
            return _error(405, "invalid_request", f"{request.method} is not allowed on {AUTHENTICATE_PATH}")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != FORM_TYPE:
            return _error(400, "invalid_request", f"Content-Type must be {FORM_TYPE}")
        form = {name: values[0] for name, values in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("client_id") != WORKOS_CLIENT_ID:
            return _error(400, "invalid_client", f"Invalid client ID '{form.get('client_id', '')}'.")
        if form.get("grant_type") != "refresh_token":
            return _error(400, "unsupported_grant_type", f"Unsupported grant type '{form.get('grant_type', '')}'.")
        presented = form.get("refresh_token", "")
        if not presented:
            return _error(400, "invalid_request", "refresh_token is required.")

        # Decided with no await in between: concurrent requests with one token cannot both win.
        last = self._last_replaced
        replay = last is not None and presented == last[0] and time.time() - last[2] <= self.replay_grace_s
        if replay:
            self.grace_replays.append(presented)  # a lost answer: the replaced token once more, in the grace period
            self._live_refresh.discard(last[1])
            self._retired_refresh.add(last[1])
        elif presented in self._retired_refresh:
            self.reused_refresh_tokens.append(presented)
            return _error(400, "invalid_grant", "Refresh token already exchanged.")
        elif presented not in self._live_refresh:
            return _error(400, "invalid_grant", "Invalid refresh token.")
        else:
            self._live_refresh.discard(presented)
            self._retired_refresh.add(presented)
        new_refresh = secrets.token_urlsafe(24)
        self._live_refresh.add(new_refresh)
        self._last_replaced = None if replay else (presented, new_refresh, time.time())  # (a replay: once)
        access_token, expiry = self._access_token()
        self._access_expiry[access_token] = expiry
        body = {
            "access_token": access_token,
            "refresh_token": new_refresh,
            "user": dict(SIM_USER),
            "organization_id": SIM_ORGANIZATION_ID,
        }
        self.issued.append(body)
        if self.on_issue is not None:
            self.on_issue(body)
        return Response(200, {"content-type": "application/json; charset=utf-8"}, dumps(body))

    def _access_token(self) -> tuple[str, float]:
        now = time.time()
        expiry = now + self.access_ttl_s
        header = {"alg": "RS256", "typ": "JWT", "kid": "sso_oidc_key_pair_sim"}
        payload = {
            "iss": f"https://api.workos.com/user_management/{WORKOS_CLIENT_ID}",
            "sub": SIM_USER["id"],
            "org_id": SIM_ORGANIZATION_ID,
            "sid": f"session_{secrets.token_hex(8)}",
            "jti": secrets.token_hex(8),
            "iat": int(now),
            "exp": int(expiry),
        }
        signature = _b64url(secrets.token_bytes(64))
        return f"{_b64url(dumps(header))}.{_b64url(dumps(payload))}.{signature}", expiry
