"""Claude Code: `env.ANTHROPIC_BASE_URL` (and `env.ANTHROPIC_AUTH_TOKEN`) in its settings.json.

Claude Code reads `~/.claude/settings.json` (or `$CLAUDE_CONFIG_DIR/settings.json`) and exports the
entries of its `"env"` object into its own environment, over the shell's. It appends /v1/messages to
ANTHROPIC_BASE_URL and sends ANTHROPIC_AUTH_TOKEN as `Authorization: Bearer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from addons.client_setup.client import Client, ConfigFile, Options, env_folder
from addons.client_setup.formats import JsonFormat
from addons.client_setup.plan import Entry, Role

BASE_URL_KEY = "ANTHROPIC_BASE_URL"
TOKEN_KEY = "ANTHROPIC_AUTH_TOKEN"
SETTINGS = "settings"


def entries(options: Options) -> list[Entry]:
    return [
        Entry(SETTINGS, ("env", BASE_URL_KEY), options.url, Role.URL),
        Entry(SETTINGS, ("env", TOKEN_KEY), options.token, Role.TOKEN),
    ]


def notes(documents: Mapping[str, Mapping], options: Options, environ: Mapping[str, str]) -> list[str]:
    if "ANTHROPIC_API_KEY" in documents[SETTINGS].get("env", {}):
        return ["Note: env.ANTHROPIC_API_KEY is also set; the bridge does not need it and Claude Code will send it along."]
    return []


CLIENT = Client(
    name="claude-code",
    title="Claude Code",
    summary="~/.claude/settings.json: env.ANTHROPIC_BASE_URL and env.ANTHROPIC_AUTH_TOKEN",
    files=(ConfigFile(SETTINGS, JsonFormat(), "settings.json"),),
    folder=env_folder("CLAUDE_CONFIG_DIR", lambda: Path.home() / ".claude"),
    url_suffixes=("/v1", "/v1/messages"),
    url_why="Claude Code appends /v1/messages itself",
    entries=entries,
    description="""\
Point Claude Code at the bridge: set env.ANTHROPIC_BASE_URL (and env.ANTHROPIC_AUTH_TOKEN) in
Claude Code's settings.json, keeping every other setting.

The settings file is $CLAUDE_CONFIG_DIR/settings.json when CLAUDE_CONFIG_DIR is set, else
~/.claude/settings.json. Claude Code exports the file's "env" entries into its own environment.

--undo removes ANTHROPIC_BASE_URL only if it still equals --url, and ANTHROPIC_AUTH_TOKEN only if it
equals --token or, without --token, if that URL is removed too.""",
    token_help=(
        "a token from the bridge's [server] auth_tokens, written as ANTHROPIC_AUTH_TOKEN. If the bridge has "
        "no auth_tokens, any value works (it only spares Claude Code's login prompt). ANTHROPIC_API_KEY is "
        "not needed: the bridge uses its own provider keys."
    ),
    next_step=lambda options: "Start a new Claude Code session to use the bridge.",
    notes=notes,
    config_aliases=("--settings",),
)
