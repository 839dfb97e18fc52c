"""Trae's model list (`GET /api/ide/v1/model_list`) -> the model names chat accepts."""

from __future__ import annotations

import orjson

from transforms.trae.errors import error_in_json


def parse_model_list(body: bytes) -> list[str]:
    """`model_configs[].name`; entries without a name are skipped. Raises ValueError
    (orjson's decode error is one) when the body is not the object Trae sends."""
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError(f"Trae model list: expected a JSON object with 'model_configs', got {type(data).__name__}")
    configs = data.get("model_configs")
    if configs is None:
        return []
    if not isinstance(configs, list):
        raise ValueError(f"Trae model list: 'model_configs' must be an array, got {type(configs).__name__}")
    return [config["name"] for config in configs if isinstance(config, dict) and isinstance(config.get("name"), str) and config["name"]]


def model_names(body: bytes, *, provider: str = "trae") -> list[str]:
    """The names in a model-list answer; Trae also says no with HTTP 200, which raises its error."""
    error = error_in_json(body, provider=provider)
    if error is not None:
        raise error
    return parse_model_list(body)
