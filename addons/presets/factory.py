"""Factory (the droid CLI's backend): Anthropic models at /api/llm/a/v1/messages,
GPT models at /api/llm/o/v1/responses, the rest at /api/llm/o/v1/chat/completions,
each with the header set the Factory CLI sends.

`base_url` is Factory's origin; the three endpoints hang off it. Credentials, in
the order droid2api reads them: FACTORY_API_KEY (a fixed key), DROID_REFRESH_KEY
(a WorkOS refresh token, rotated into the bridge's token store), the Factory
CLI's own ~/.factory/auth.json (read and written back in place).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Mapping

ORIGIN = "https://api.factory.ai"
CLI_VERSION = "0.85.0"  # override with headers."user-agent" when Factory wants a newer CLI
AUTH_FILE = "~/.factory/auth.json"
INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14"

# which upstream protocol serves a model name when the config does not say
MODEL_PROTOCOLS = [("claude-*", "anthropic"), ("gpt-*", "openai-responses"), ("*", "openai-chat")]

# what the Factory CLI's bundled SDKs announce; each can be overridden in `headers`
_STAINLESS = {
    "x-stainless-arch": "x64",
    "x-stainless-lang": "js",
    "x-stainless-os": "MacOS",
    "x-stainless-runtime": "node",
    "x-stainless-retry-count": "0",
    "x-stainless-runtime-version": "v24.3.0",
}
_PACKAGE_VERSION = {"anthropic": "0.57.0", "openai-responses": "5.23.2", "openai-chat": "5.23.2"}
_API_PROVIDER = {"anthropic": "anthropic", "openai-responses": "openai", "openai-chat": "fireworks"}


def defaults(config: dict, environ: Mapping[str, str]) -> dict:
    origin = str(config.get("base_url") or ORIGIN).rstrip("/")
    config.setdefault("protocol", "anthropic")
    config["base_url"] = origin
    config["endpoints"] = {
        "anthropic": f"{origin}/api/llm/a",
        "openai-responses": f"{origin}/api/llm/o/v1",
        "openai-chat": f"{origin}/api/llm/o/v1",
        **(config.get("endpoints") or {}),
    }
    config.setdefault("model_protocols", MODEL_PROTOCOLS)
    config["headers"] = {"x-factory-client": "cli", "user-agent": f"factory-cli/{CLI_VERSION}", **(config.get("headers") or {})}
    if not (config.get("api_key") or config.get("api_keys") or config.get("auth") or config.get("client_key")):
        config.update(_credential_from_environment(environ))
    return config


def _credential_from_environment(environ: Mapping[str, str]) -> dict:
    if environ.get("FACTORY_API_KEY"):
        return {"api_key": "env:FACTORY_API_KEY"}
    if environ.get("DROID_REFRESH_KEY"):
        return {"auth": {"type": "workos", "refresh_token": "env:DROID_REFRESH_KEY"}}
    if Path(AUTH_FILE).expanduser().is_file():
        return {"auth": {"type": "factory-cli", "file": AUTH_FILE}}
    raise ValueError(
        "the factory preset found no credentials: set FACTORY_API_KEY or DROID_REFRESH_KEY, log in with the "
        f"Factory CLI ({AUTH_FILE}), or give api_key/auth/client_key"
    )


def request_headers(protocol: str, client_headers: Mapping[str, str], *, thinking: bool, stream: bool) -> dict[str, str]:
    """The per-request part of the CLI's header set; the client's own values win where it sent them."""
    headers = {
        "x-session-id": client_headers.get("x-session-id") or str(uuid.uuid4()),
        "x-assistant-message-id": client_headers.get("x-assistant-message-id") or str(uuid.uuid4()),
        "x-api-provider": _API_PROVIDER.get(protocol, "fireworks"),
    }
    for name, value in _STAINLESS.items():
        headers[name] = client_headers.get(name) or value
    headers["x-stainless-package-version"] = client_headers.get("x-stainless-package-version") or _PACKAGE_VERSION.get(protocol, "5.23.2")
    if protocol == "anthropic":
        headers["anthropic-version"] = client_headers.get("anthropic-version") or "2023-06-01"
        headers["x-stainless-timeout"] = client_headers.get("x-stainless-timeout") or "600"
        if stream:
            headers["x-stainless-helper-method"] = "stream"
        betas = [b.strip() for b in client_headers.get("anthropic-beta", "").split(",") if b.strip()]
        if thinking and INTERLEAVED_THINKING_BETA not in betas:
            betas.append(INTERLEAVED_THINKING_BETA)
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
    return headers


def credential_headers(protocol: str, token: str | None) -> dict[str, str]:
    """Factory takes its token as a bearer on every endpoint; Anthropic's x-api-key is a fixed placeholder."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if protocol == "anthropic":
        headers["x-api-key"] = "placeholder"
    return headers
