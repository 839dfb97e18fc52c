"""Where and how a Trae request is sent. The device-fingerprint headers Trae also wants
(x-app-id, x-device-id, ...) are provider configuration, added by the proxy."""

from __future__ import annotations


def chat_url(base_url: str, model: str | None = None, stream: bool = False, options=None) -> str:
    # the model is in the body, and Trae always streams: one URL for every request
    return base_url.rstrip("/") + "/api/ide/v1/chat"


def model_list_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/api/ide/v1/model_list?type=llm_raw_chat"


def request_headers(token: str | None) -> dict[str, str]:
    return {"x-ide-token": token} if token else {}
