"""The Gemini CLI: GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY in ~/.gemini/.env, API-key auth in settings.json.

The Gemini CLI (0.61) takes a base URL only from the environment (GOOGLE_GEMINI_BASE_URL, read by the
google-genai SDK inside it, which appends /v1beta/models/...). It loads the first .env file it finds:
`.gemini/.env` or `.env` in the working folder and each folder above it, then `~/.gemini/.env` (in a
trusted folder; headless runs need one anyway), then `~/.env`; variables already in the environment win.
Its API-key auth (`security.auth.selectedType = "gemini-api-key"` in ~/.gemini/settings.json) sends
GEMINI_API_KEY as `x-goog-api-key`, which the bridge takes as its token. `$GEMINI_CLI_HOME` moves `~`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from addons.client_setup.client import Client, ConfigFile, Options
from addons.client_setup.formats import DotenvFormat, JsonFormat
from addons.client_setup.plan import Entry, Role

SETTINGS = "settings"
ENV = "env"
BASE_URL_KEY = "GOOGLE_GEMINI_BASE_URL"
KEY_KEY = "GEMINI_API_KEY"
API_KEY_AUTH = "gemini-api-key"
NO_TOKEN = "llm-bridge"  # the CLI's API-key auth needs some key; a bridge without auth_tokens takes any


def folder(environ: Mapping[str, str]) -> Path:
    home = environ.get("GEMINI_CLI_HOME", "").strip()
    return (Path(home).expanduser() if home else Path.home()) / ".gemini"


def entries(options: Options) -> list[Entry]:
    return [
        Entry(SETTINGS, ("security", "auth", "selectedType"), API_KEY_AUTH, Role.FIXED),
        Entry(SETTINGS, ("model", "name"), options.model, Role.CHOSEN),
        Entry(ENV, (BASE_URL_KEY,), options.url, Role.URL),
        Entry(ENV, (KEY_KEY,), options.token or NO_TOKEN, Role.TOKEN),
    ]


def notes(documents: Mapping[str, Mapping], options: Options, environ: Mapping[str, str]) -> list[str]:
    found = [f"Note: {name} is set in this shell and wins over the .env file; unset it to use the bridge."
             for name in (BASE_URL_KEY, KEY_KEY) if environ.get(name)]
    found.append("Note: a .env or .gemini/.env file in the working folder or a folder above it is read instead "
                 "of ~/.gemini/.env; headless runs (gemini -p) need a trusted folder (--skip-trust, or trust it once).")
    return found


CLIENT = Client(
    name="gemini-cli",
    title="the Gemini CLI",
    summary="~/.gemini/.env: GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY; ~/.gemini/settings.json: API-key auth",
    files=(ConfigFile(SETTINGS, JsonFormat(), "settings.json"), ConfigFile(ENV, DotenvFormat(), ".env")),
    folder=folder,
    url_suffixes=("/v1", "/v1beta"),
    url_why="the Gemini CLI appends /v1beta/models/... itself",
    entries=entries,
    description="""\
Point the Gemini CLI at the bridge. It takes a base URL only from its environment, which it also loads
from ~/.gemini/.env; this command writes there, keeping every other line:

    GOOGLE_GEMINI_BASE_URL=<url>
    GEMINI_API_KEY=TOKEN                 # "llm-bridge" without --token

and chooses API-key auth in ~/.gemini/settings.json, keeping every other setting:

    {"security": {"auth": {"selectedType": "gemini-api-key"}},
     "model": {"name": "MODEL"}}        # with --model

The folder is $GEMINI_CLI_HOME/.gemini when GEMINI_CLI_HOME is set, else ~/.gemini; --config names
settings.json and .env is written beside it. The CLI reads the first .env it finds: one in the working
folder or above it hides ~/.gemini/.env, and variables set in the shell win over it. Headless runs
(gemini -p) need a trusted folder: pass --skip-trust, or trust the folder once interactively.

--undo removes the two variables while GOOGLE_GEMINI_BASE_URL still equals --url, and the auth choice
(and model.name) with them.""",
    token_help=(
        "a token from the bridge's [server] auth_tokens, written as GEMINI_API_KEY (the CLI sends it as "
        "x-goog-api-key, which the bridge takes as its token). Without it GEMINI_API_KEY is \"llm-bridge\": "
        "the CLI's API-key auth needs some key, and a bridge without auth_tokens takes any."
    ),
    model_help="the model the CLI uses by default (any id of the bridge's GET /v1/models), written as model.name",
    next_step=lambda options: "Run gemini to use the bridge"
    + ("." if options.model else "; pass -m MODEL with a model the bridge serves."),
    notes=notes,
)
