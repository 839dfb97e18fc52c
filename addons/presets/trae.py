"""Trae (the IDE's chat backend, protocol `trae`): device-fingerprint headers and
credentials from the environment, as the trae-api-proxy seed reads them.

The fingerprint is whatever a real Trae install sent, copied into TRAE_* variables
(or `headers` in bridge.toml); nothing is randomised per request.
"""

from __future__ import annotations

from typing import Mapping

BASE_URL = "https://trae-api-sg.mchost.guru"

# environment variable -> header, as seed 1 reads them
FINGERPRINT_HEADERS = {
    "TRAE_APP_ID": "x-app-id",
    "TRAE_DEVICE_BRAND": "x-device-brand",
    "TRAE_DEVICE_CPU": "x-device-cpu",
    "TRAE_DEVICE_ID": "x-device-id",
    "TRAE_DEVICE_TYPE": "x-device-type",
    "TRAE_IDE_VERSION": "x-ide-version",
    "TRAE_IDE_VERSION_CODE": "x-ide-version-code",
    "TRAE_IDE_VERSION_TYPE": "x-ide-version-type",
    "TRAE_MACHINE_ID": "x-machine-id",
    "TRAE_OS_VERSION": "x-os-version",
}


def defaults(config: dict, environ: Mapping[str, str]) -> dict:
    config.setdefault("protocol", "trae")
    config.setdefault("list_models", True)  # Trae's own list is the only way to know which models it has today
    config.setdefault("base_url", environ.get("TRAE_API_BASE_URL") or BASE_URL)
    headers = {header: environ[var] for var, header in FINGERPRINT_HEADERS.items() if environ.get(var)}
    headers.update({k.lower(): v for k, v in (config.get("headers") or {}).items()})
    if "x-app-id" not in headers:
        raise ValueError("the trae preset needs the app id of a Trae install: set TRAE_APP_ID or headers.x-app-id")
    config["headers"] = headers
    if environ.get("TRAE_LOCALE") and "locale" not in config:
        config["locale"] = environ["TRAE_LOCALE"]
    if not (config.get("api_key") or config.get("api_keys") or config.get("auth") or config.get("client_key")):
        config.update(_credential_from_environment(environ))
    return config


def _credential_from_environment(environ: Mapping[str, str]) -> dict:
    if environ.get("TRAE_REFRESH_TOKEN"):
        auth = {"type": "trae", "refresh_token": "env:TRAE_REFRESH_TOKEN",
                "client_id": "env:TRAE_CLIENT_ID", "user_id": "env:TRAE_USER_ID"}
        if environ.get("TRAE_AUTH_BASE_URL"):
            auth["token_url"] = environ["TRAE_AUTH_BASE_URL"]
        return {"auth": auth}
    if environ.get("TRAE_IDE_TOKEN"):
        return {"api_key": "env:TRAE_IDE_TOKEN"}
    raise ValueError(
        "the trae preset found no credentials: set TRAE_REFRESH_TOKEN with TRAE_CLIENT_ID and TRAE_USER_ID "
        "(refreshed and rotated by the bridge), or TRAE_IDE_TOKEN (a fixed IDE token), or give api_key/auth"
    )
