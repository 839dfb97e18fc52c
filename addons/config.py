"""bridge.toml: what providers exist and which models map to them.

Validated with pydantic; any problem is reported as one line naming the key,
e.g. ``providers[1].protocol: must be one of openai-chat, anthropic``.
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from addons.guards.cross_site import normalize_origin
from transforms.codecs import UPSTREAM_CODECS
from transforms.protocols import UpstreamProtocol
from transforms.upstream_options import Quirk

Protocol = UpstreamProtocol  # the names are listed once, in transforms/protocols.py
# how a key is presented: bearer (Authorization), x-api-key (the protocol's key header: x-api-key,
# Gemini's x-goog-api-key), azure (api-key), none; AWS providers sign with `aws` instead
AuthType = Literal["bearer", "x-api-key", "azure", "none"]
CacheMode = Literal["auto", "off"]
CacheTtl = Literal["5m", "1h"]
CACHE_TTL_S = {"5m": 300, "1h": 3600}


class ConfigError(Exception):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Strict):
    auth_tokens: list[str] = Field(default_factory=list)
    # web pages allowed to call the bridge (CORS), as exact origins: "http://127.0.0.1:5173"
    cors_origins: list[str] = Field(default_factory=list)
    # the largest request body, as sent or once inflated (Anthropic's own limit by default)
    max_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        origins = []
        for value in values:
            origin = normalize_origin(value)
            if origin is None or value != value.strip():
                raise ValueError(f"'{value}' is not an origin: write scheme://host[:port], e.g. 'http://127.0.0.1:5173'")
            origins.append(origin)
        return origins


class CredentialsConfig(_Strict):
    # where rotated OAuth tokens are kept; default: $XDG_CONFIG_HOME/llm-bridge/credentials.json
    store: str | None = None


class StateConfig(_Strict):
    """What the workers share (addons/state/): in each process and the credentials file by default; with
    `redis_url` ("redis://host:6379/0", rediss://, unix://; or "env:VAR") every worker on every host shares
    key cool-downs, the round robin and refresh-token rotation through Redis."""

    redis_url: str | None = None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _resolve(value)
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("write redis://host:port[/db], rediss://... or unix:///path/redis.sock")
        return value


class OAuthConfig(_Strict):
    """A refresh-token credential. The refresh token given here only seeds the token file;
    every rotated token is kept there (and read from there) from then on."""

    type: Literal["workos", "factory-cli", "trae"]
    refresh_token: str | None = None  # literal or "env:VAR" (workos, trae)
    file: str | None = None  # factory-cli: the Factory CLI's auth.json (default ~/.factory/auth.json)
    client_id: str | None = None  # workos: the Factory CLI's client by default; trae: required
    user_id: str | None = None  # trae: required
    token_url: str | None = None  # workos: the authenticate endpoint; trae: the auth base URL
    refresh_before_seconds: float | None = Field(default=None, ge=0)  # default: 2 h (workos), 5 min (trae)

    @field_validator("refresh_token", "client_id", "user_id")
    @classmethod
    def _resolve_env(cls, value: str | None) -> str | None:
        return _resolve(value) if value is not None else None

    @model_validator(mode="after")
    def _complete(self) -> "OAuthConfig":
        if self.type in ("workos", "trae") and not self.refresh_token:
            raise ValueError(f"a {self.type} credential needs refresh_token")
        if self.type == "trae" and not (self.client_id and self.user_id):
            raise ValueError("a trae credential needs client_id and user_id")
        return self


class AwsConfig(_Strict):
    """SigV4 credentials for Bedrock; values may be "env:VAR"."""

    access_key_id: str = Field(min_length=1)
    secret_access_key: str = Field(min_length=1)
    session_token: str | None = None
    region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]+$")

    @field_validator("access_key_id", "secret_access_key", "session_token")
    @classmethod
    def _resolve_env(cls, value: str | None) -> str | None:
        return _resolve(value) if value is not None else None


class ProviderConfig(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    # a preset ("factory", "trae", ...) fills protocol, base_url, headers and credentials from its defaults
    preset: str | None = None
    protocol: Protocol
    base_url: str
    # base URLs of the other protocols this provider speaks (Factory: anthropic, openai-responses, openai-chat)
    endpoints: dict[Protocol, str] = Field(default_factory=dict)
    # which protocol serves which model name (first match), when a model does not say
    model_protocols: list[tuple[str, Protocol]] = Field(default_factory=list)
    # sent upstream with every request (device fingerprints, client versions); values may be "env:VAR"
    headers: dict[str, str] = Field(default_factory=dict)
    auth: OAuthConfig | None = None
    locale: str | None = None  # trae: the locale its answers use (default en-us)
    auth_type: AuthType | None = None  # default: the protocol's own header (bearer, x-api-key, api-key ...)
    api_version: str | None = None  # azure: the api-version query parameter (default 2024-10-21)
    aws: AwsConfig | None = None  # bedrock: SigV4 credentials
    # literal key or "env:VAR"; resolved at start-up so a missing variable fails early
    api_key: str | None = None
    # several keys, used round robin; a key answered 401/403/429 rests for key_cooldown_seconds
    api_keys: list[str] = Field(default_factory=list)
    key_cooldown_seconds: float = Field(default=60.0, ge=0)
    # send the client's own key (x-api-key or bearer) upstream instead of a configured one
    client_key: bool = False
    # default max_tokens for this provider's models when a client sets none (Anthropic needs one)
    max_tokens: int | None = Field(default=None, ge=1)
    # the most output tokens its models allow: a client's larger max_tokens is lowered to it
    max_output_tokens: int | None = Field(default=None, ge=1)
    quirks: list[Quirk] = Field(default_factory=list)
    # prompt caching (upstreams that cache only marked prefixes, Anthropic and Bedrock): "auto" marks the tools,
    # the system prompt and the last turns of requests whose client marked nothing; "off" sends only the
    # client's own marks. cache_ttl: how long the marks the bridge places ask to be kept (default: 5 minutes)
    cache: CacheMode = "auto"
    cache_ttl: CacheTtl | None = None
    # add the provider's own model list to GET /v1/models (as `<provider>/<model>`) and serve its models by
    # their bare names; default: when no [[models]] or [[routes]] name the provider (an env-var provider)
    list_models: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("preset") is not None:
            from addons.presets import apply_preset  # noqa: PLC0415 - presets build on this model

            data = apply_preset(data)
        return data

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http(value)

    @field_validator("endpoints")
    @classmethod
    def _http_urls(cls, values: dict[str, str]) -> dict[str, str]:
        return {protocol: _http(url) for protocol, url in values.items()}

    @field_validator("headers")
    @classmethod
    def _resolve_header_envs(cls, values: dict[str, str]) -> dict[str, str]:
        return {name.lower(): _resolve(value) for name, value in values.items()}

    @model_validator(mode="after")
    def _one_credential(self) -> "ProviderConfig":
        if self.auth is not None and (self.api_key or self.api_keys or self.client_key):
            raise ValueError("auth (a refresh-token credential) cannot be combined with api_key/api_keys/client_key")
        if UPSTREAM_CODECS[self.protocol].aws_signed and self.aws is None:
            raise ValueError(f"a {self.protocol} provider needs aws = {{ access_key_id, secret_access_key, region }}")
        return self

    def base_url_for(self, protocol: str) -> str:
        return self.endpoints.get(protocol, self.base_url)

    def protocol_for(self, model: str) -> str:
        name = model.lower()
        for pattern, protocol in self.model_protocols:
            if fnmatch.fnmatchcase(name, pattern.lower()):
                return protocol
        return self.protocol

    @field_validator("api_key")
    @classmethod
    def _resolve_env(cls, value: str | None) -> str | None:
        return _resolve(value) if value is not None else None

    @field_validator("api_keys")
    @classmethod
    def _resolve_envs(cls, values: list[str]) -> list[str]:
        return [_resolve(v) for v in values]

    @property
    def keys(self) -> list[str]:
        """Every configured key, the single `api_key` first."""
        return ([self.api_key] if self.api_key else []) + [k for k in self.api_keys if k != self.api_key]


def _http(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    if "@" in value.split("//", 1)[1].split("/", 1)[0]:
        raise ValueError("must not carry a user or password (it would travel in the Host header)")
    return value.rstrip("/")


def _resolve(value: str) -> str:
    if value.startswith("env:"):
        var = value[4:]
        if var not in os.environ:
            raise ValueError(f"environment variable {var} is not set")
        return os.environ[var]
    return value


class ModelConfig(_Strict):
    id: str = Field(min_length=1)
    provider: str
    upstream_model: str | None = None
    protocol: Protocol | None = None  # for providers speaking several (default: the provider's model_protocols)
    headers: dict[str, str] = Field(default_factory=dict)  # added to the provider's
    max_tokens: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    cache: CacheMode | None = None  # the provider's prompt-cache setting, for this model
    cache_ttl: CacheTtl | None = None


class RouteConfig(_Strict):
    """A model-name pattern routed to a provider: the small-model shortcut
    (`*haiku*` -> a fast model) and catch-alls for Claude Code's model names."""

    match: str = Field(min_length=1)  # `*` wildcards, case-insensitive: "*haiku*", "claude-*", "*"
    provider: str
    upstream_model: str | None = None  # default: the client's model name; a `*` takes the match's `*` capture
    protocol: Protocol | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    max_tokens: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    cache: CacheMode | None = None  # the provider's prompt-cache setting, for this model
    cache_ttl: CacheTtl | None = None


class DynamicRoutesConfig(_Strict):
    """`/<scheme>/<host>/<path>/<model>/v1/messages` routes: off unless enabled, then allow-listed hosts only."""

    enabled: bool = False
    allow_hosts: list[str] = Field(default_factory=list)  # "host", "host:port", "*.example.com"
    allow_private_networks: bool = False

    @field_validator("allow_hosts")
    @classmethod
    def _valid_entries(cls, hosts: list[str]) -> list[str]:
        from addons.host_policy import HostPolicy  # noqa: PLC0415 - validates each entry

        HostPolicy(tuple(hosts))
        return hosts


class ModelNamesConfig(_Strict):
    # Claude Code marks variants with a bracketed suffix (claude-sonnet-4-6[1m]); routed without it
    strip_client_suffix: bool = True


class RetriesConfig(_Strict):
    """Upstream calls that fail before their first byte reached the client are tried again."""

    attempts: int = Field(default=3, ge=1, le=10)  # tries in all; 1 turns retrying off
    max_retry_after_seconds: float = Field(default=20.0, ge=0)  # a longer Retry-After goes to the client
    backoff_initial_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=8.0, ge=0)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    read_timeout_seconds: float = Field(default=600.0, gt=0)  # the wait for the answer's first byte
    # the longest silence between two chunks of an answer; reasoning models stay silent for minutes
    idle_timeout_seconds: float = Field(default=300.0, gt=0)


class LedgerConfig(_Strict):
    """The usage ledger (addons/usage/ledger.py): one row per finished exchange, no prompt or answer text."""

    # default: on when the bridge runs from a config file, off with none (env-var providers)
    enabled: bool | None = None
    path: str | None = None  # SQLite file; default llm-bridge-usage.sqlite beside the config file
    url: str | None = None  # postgresql://user:password@host/db (psycopg) instead of SQLite, or env:VAR holding it

    @model_validator(mode="after")
    def _one_place(self) -> "LedgerConfig":
        if self.path and self.url:
            raise ValueError("give path (SQLite) or url, not both")
        if self.url and not self.url.startswith(("postgresql://", "postgres://", "sqlite:///", "env:")):
            raise ValueError("url: write postgresql://user:password@host:port/database, sqlite:///path or env:VAR")
        return self


class BridgeConfig(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    credentials: CredentialsConfig = Field(default_factory=CredentialsConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    providers: list[ProviderConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    model_names: ModelNamesConfig = Field(default_factory=ModelNamesConfig)
    dynamic_routes: DynamicRoutesConfig = Field(default_factory=DynamicRoutesConfig)
    retries: RetriesConfig = Field(default_factory=RetriesConfig)
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)

    @model_validator(mode="after")
    def _references(self) -> "BridgeConfig":
        names = [p.name for p in self.providers]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"providers[{i}].name: '{name}' is used twice")
        ids = [m.id for m in self.models]
        for i, model in enumerate(self.models):
            if model.provider not in names:
                raise ValueError(f"models[{i}].provider: no provider named '{model.provider}'")
            if model.id in ids[:i]:
                raise ValueError(f"models[{i}].id: '{model.id}' is used twice")
        for i, route in enumerate(self.routes):
            if route.provider not in names:
                raise ValueError(f"routes[{i}].provider: no provider named '{route.provider}'")
        return self


# Official endpoints for providers configured from the standard environment variables.
ENV_PROVIDERS: tuple[tuple[str, str, Protocol, str, tuple[str, ...]], ...] = (
    ("ANTHROPIC_API_KEY", "anthropic", "anthropic", "https://api.anthropic.com", ()),
    ("OPENAI_API_KEY", "openai", "openai-chat", "https://api.openai.com/v1", ("max-completion-tokens", "openai-prompt-cache")),
    ("GROQ_API_KEY", "groq", "openai-chat", "https://api.groq.com/openai/v1", ("clean-tool-schemas",)),
    ("DEEPSEEK_API_KEY", "deepseek", "openai-chat", "https://api.deepseek.com/v1", ("reasoning-content-history",)),
    ("OPENROUTER_API_KEY", "openrouter", "openai-chat", "https://openrouter.ai/api/v1", ()),
    ("MISTRAL_API_KEY", "mistral", "openai-chat", "https://api.mistral.ai/v1", ("clean-tool-schemas",)),
    ("GEMINI_API_KEY", "gemini", "gemini", "https://generativelanguage.googleapis.com", ()),
)


def load_config(path: str | Path) -> BridgeConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return BridgeConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_problem(exc)}") from None


def config_from_env(environ: dict[str, str]) -> BridgeConfig:
    providers = [
        ProviderConfig(name=name, protocol=protocol, base_url=base_url, api_key=environ[var], quirks=list(quirks))
        for var, name, protocol, base_url, quirks in ENV_PROVIDERS
        if environ.get(var)
    ]
    return BridgeConfig(providers=providers)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = ""
    for part in error["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{loc}: {message}" if loc else message
