"""The models a running bridge serves, from its `GET /v1/models` (for a client whose config lists them)."""

from __future__ import annotations

import httpx

from addons.client_setup.config_file import EXIT_BAD_INPUT, EXIT_IO, SetupError

TIMEOUT_SECONDS = 10


def served_models(url: str, token: str | None) -> tuple[str, ...]:
    """The ids of the bridge's OpenAI-format model list, in its order; SetupError saying what to do instead."""
    address = f"{url}/v1/models"
    instead = "or name the models with --model (repeatable)"
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(address, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise SetupError(f"Cannot read the bridge's models at {address} ({type(exc).__name__}: {exc}); start the "
                         f"bridge, {instead}.", EXIT_IO) from None
    if response.status_code == 401:
        raise SetupError(f"The bridge at {url} refused to list its models (401): pass --token with one of its "
                         f"[server] auth_tokens, {instead}.", EXIT_BAD_INPUT)
    try:
        listed = response.json()["data"] if response.status_code == 200 else None
        ids = tuple(dict.fromkeys(m["id"] for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)))
    except (ValueError, KeyError, TypeError):
        ids = None
    if ids is None:
        raise SetupError(f"{address} answered {response.status_code} without an OpenAI model list: is {url} the "
                         f"bridge? Check --url, {instead}.", EXIT_IO)
    if not ids:
        raise SetupError(f"The bridge at {url} serves no models yet: configure a provider, {instead}.", EXIT_BAD_INPUT)
    return ids
