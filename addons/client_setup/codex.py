"""Codex: a `[model_providers.llm-bridge]` provider in ~/.codex/config.toml, chosen by `model_provider`.

Codex (0.171) reads `$CODEX_HOME/config.toml`, else `~/.codex/config.toml`. A custom provider speaks the
Responses API at `base_url` (Codex appends /responses); `experimental_bearer_token` is sent as
`Authorization: Bearer` (its `env_key` alternative would need a variable exported in every shell).
The TOML file is edited with tomlkit, so comments, layout and every other key stay as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from addons.client_setup.client import Client, ConfigFile, Options, env_folder
from addons.client_setup.formats import TomlFormat
from addons.client_setup.plan import Entry, Role

PROVIDER = "llm-bridge"
CONFIG = "config"


def entries(options: Options) -> list[Entry]:
    table = ("model_providers", PROVIDER)
    return [
        Entry(CONFIG, ("model_provider",), PROVIDER, Role.FIXED),
        Entry(CONFIG, (*table, "name"), PROVIDER, Role.FIXED),
        Entry(CONFIG, (*table, "base_url"), options.url + "/v1", Role.URL),
        Entry(CONFIG, (*table, "wire_api"), "responses", Role.FIXED),
        Entry(CONFIG, (*table, "experimental_bearer_token"), options.token, Role.TOKEN),
        Entry(CONFIG, ("model",), options.model, Role.CHOSEN),
    ]


def notes(documents: Mapping[str, Mapping], options: Options, environ: Mapping[str, str]) -> list[str]:
    config = documents[CONFIG]
    found = []
    if "model" not in config:
        found.append("Note: no model is set, so Codex asks the bridge for its own default model; pass --model "
                     "with one the bridge serves (see its GET /v1/models), or run codex -m MODEL.")
    if "profile" in config:
        found.append(f"Note: profile = {config['profile']!r} is set; a model_provider in that profile wins over this one.")
    return found


CLIENT = Client(
    name="codex",
    title="Codex",
    summary="~/.codex/config.toml: a [model_providers.llm-bridge] table, model_provider = \"llm-bridge\"",
    files=(ConfigFile(CONFIG, TomlFormat(), "config.toml"),),
    folder=env_folder("CODEX_HOME", lambda: Path.home() / ".codex"),
    url_suffixes=("/v1", "/v1/responses"),
    url_why="this command writes <url>/v1 for Codex itself",
    entries=entries,
    description="""\
Point Codex at the bridge: add a provider to Codex's config.toml and choose it, keeping every other
setting, comment and line of the file:

    model_provider = "llm-bridge"
    model = "MODEL"                      # with --model
    [model_providers.llm-bridge]
    name = "llm-bridge"
    base_url = "<url>/v1"
    wire_api = "responses"
    experimental_bearer_token = "TOKEN"  # with --token

The file is $CODEX_HOME/config.toml when CODEX_HOME is set, else ~/.codex/config.toml. A profile
(`profile = ...`, or codex --profile) with its own model_provider wins over these top-level keys.

--undo removes the provider table and model_provider while base_url still equals <url>/v1 (and model
with them, or only while it equals --model when --model is given).""",
    token_help=(
        "a token from the bridge's [server] auth_tokens, written as the provider's experimental_bearer_token "
        "(sent as Authorization: Bearer). Without auth_tokens on the bridge, leave it out. OPENAI_API_KEY is not "
        "needed: the bridge uses its own provider keys."
    ),
    model_help="the model Codex uses by default (any id of the bridge's GET /v1/models), written as model",
    next_step=lambda options: "Run codex (or codex exec \"...\") to use the bridge"
    + ("." if options.model else "; pass -m MODEL with a model the bridge serves."),
    notes=notes,
)
