"""opencode: an OpenAI-compatible provider `llm-bridge` in ~/.config/opencode/opencode.json.

opencode (1.18) merges `$XDG_CONFIG_HOME/opencode/opencode.json` (default `~/.config/opencode`) with a
project's own opencode.json. A provider with `"npm": "@ai-sdk/openai-compatible"` sends Chat Completions to
`options.baseURL` with `options.apiKey` as `Authorization: Bearer`, for the models listed under it; they
are named `llm-bridge/<model>` (`opencode run -m llm-bridge/<model>`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from addons.client_setup.client import Client, ConfigFile, Options
from addons.client_setup.formats import JsonFormat
from addons.client_setup.plan import Entry, Role

PROVIDER = "llm-bridge"
CONFIG = "config"
PROVIDER_PACKAGE = "@ai-sdk/openai-compatible"


def folder(environ: Mapping[str, str]) -> Path:
    config_home = environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(config_home).expanduser() if config_home else Path.home() / ".config") / "opencode"


def _models(served: tuple[str, ...]):
    def merge(current: object) -> dict:
        """The served models; a model already listed keeps the settings the user gave it (limits, name)."""
        current = current if isinstance(current, dict) else {}
        return {m: current[m] if isinstance(current.get(m), dict) else {"name": m} for m in served}

    return merge


def _model_names(value: object) -> str:
    return json.dumps(sorted(value) if isinstance(value, dict) else value, ensure_ascii=False)


def entries(options: Options) -> list[Entry]:
    provider = ("provider", PROVIDER)
    models = options.models
    return [
        Entry(CONFIG, (*provider, "npm"), PROVIDER_PACKAGE, Role.FIXED),
        Entry(CONFIG, (*provider, "name"), PROVIDER, Role.FIXED),
        Entry(CONFIG, (*provider, "options", "baseURL"), options.url + "/v1", Role.URL),
        Entry(CONFIG, (*provider, "options", "apiKey"), options.token, Role.TOKEN),
        Entry(CONFIG, (*provider, "models"), {m: {"name": m} for m in models} if models else None, Role.CHOSEN,
              merge=_models(models) if models else None, show=_model_names, must_be_container=True),
        Entry(CONFIG, ("model",), f"{PROVIDER}/{options.model}" if options.model else None, Role.CHOSEN,
              mine=lambda value: isinstance(value, str) and value.startswith(f"{PROVIDER}/")),
    ]


CLIENT = Client(
    name="opencode",
    title="opencode",
    summary="~/.config/opencode/opencode.json: an OpenAI-compatible provider \"llm-bridge\" and its models",
    files=(ConfigFile(CONFIG, JsonFormat(), "opencode.json"),),
    folder=folder,
    url_suffixes=("/v1", "/v1/chat/completions"),
    url_why="this command writes <url>/v1 for opencode itself",
    entries=entries,
    description="""\
Point opencode at the bridge: add an OpenAI-compatible provider to opencode's global opencode.json,
keeping every other setting:

    "provider": {"llm-bridge": {"npm": "@ai-sdk/openai-compatible", "name": "llm-bridge",
                                "options": {"baseURL": "<url>/v1", "apiKey": "TOKEN"},
                                "models": {"MODEL": {"name": "MODEL"}, ...}}},
    "model": "llm-bridge/MODEL"          # with --model: the first one

The models are the ones the bridge serves: without --model they are read from the bridge's
GET <url>/v1/models (with --token when it has auth_tokens), so the bridge must be running; with
--model (repeatable) they are those named, and the first becomes the default model. A model already
listed keeps the settings given to it; models the bridge no longer serves are dropped.

The file is $XDG_CONFIG_HOME/opencode/opencode.json, else ~/.config/opencode/opencode.json. A file
with comments (JSONC) is refused, not rewritten. Models are then named llm-bridge/<model>:
opencode run -m llm-bridge/MODEL "...".

--undo removes the provider (and "model", while it is one of its models) while its baseURL still
equals <url>/v1.""",
    token_help=(
        "a token from the bridge's [server] auth_tokens, written as the provider's options.apiKey (sent as "
        "Authorization: Bearer) and used to read the model list. Without auth_tokens on the bridge, leave it out."
    ),
    model_help=(
        "a model to list under the provider (repeatable; the first becomes opencode's default model). "
        "Without --model the list is read from the bridge's GET /v1/models."
    ),
    single_model=False,
    lists_models=True,
    next_step=lambda options: (f"Run opencode (or opencode run -m {PROVIDER}/{options.model or 'MODEL'} \"...\") "
                               "to use the bridge."),
)
