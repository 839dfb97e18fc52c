"""Provider presets: `preset = "factory"` in bridge.toml fills what a provider's
upstream always needs (endpoints, headers, where its credentials come from).

Factory and Trae are modules with `defaults(config, environ)` (fills a provider's
raw config; what the user wrote wins) and, when their upstream wants headers
computed per request, `request_headers(...)`. Every other preset is a row of the
catalog (`catalog.py`): protocol, base URL, auth type, quirks, and the key from
the provider's usual environment variable when none is written.
"""

from __future__ import annotations

import os
from typing import Mapping

from addons.presets import factory, trae
from addons.presets.catalog import CATALOG, CatalogEntry

PRESETS = {"factory": factory, "trae": trae}


def apply_preset(data: dict, environ: Mapping[str, str] | None = None) -> dict:
    name = data.get("preset")
    environ = os.environ if environ is None else environ
    module = PRESETS.get(name)
    if module is not None:
        return module.defaults(dict(data), environ)
    entry = CATALOG.get(name)
    if entry is None:
        raise ValueError(f"unknown preset '{name}' (known: {', '.join(sorted(CATALOG))})")
    return catalog_defaults(entry, dict(data), environ)


def catalog_defaults(entry: CatalogEntry, config: dict, environ: Mapping[str, str]) -> dict:
    config.setdefault("protocol", entry.protocol)
    config.setdefault("base_url", entry.default_base_url)
    config.setdefault("quirks", list(entry.quirks))
    if entry.auth_type in ("bearer", "x-api-key", "azure"):
        config.setdefault("auth_type", entry.auth_type)
    has_key = config.get("api_key") or config.get("api_keys") or config.get("client_key") or config.get("aws")
    if not has_key and entry.env_key and environ.get(entry.env_key):
        config["api_key"] = f"env:{entry.env_key}"
    return config


def preset_module(name: str | None):
    return PRESETS.get(name) if name else None
