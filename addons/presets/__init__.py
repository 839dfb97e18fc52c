"""Provider presets: `preset = "factory"` in bridge.toml fills what a provider's
upstream always needs (endpoints, headers, where its credentials come from).

Each preset is a module with `defaults(config, environ)` (fills a provider's
raw config; what the user wrote wins) and, when its upstream wants headers
computed per request, `request_headers(...)`.
"""

from __future__ import annotations

import os
from typing import Mapping

from addons.presets import factory, trae

PRESETS = {"factory": factory, "trae": trae}


def apply_preset(data: dict, environ: Mapping[str, str] | None = None) -> dict:
    name = data.get("preset")
    module = PRESETS.get(name)
    if module is None:
        raise ValueError(f"unknown preset '{name}' (known: {', '.join(sorted(PRESETS))})")
    return module.defaults(dict(data), os.environ if environ is None else environ)


def preset_module(name: str | None):
    return PRESETS.get(name) if name else None
