"""The bodies of `POST /api/generate-url`, validated, and the one form the bridge keeps.

Two documented bodies are accepted:
  v1  {sourceProtocol, targetProtocol, targetBaseUrl, auth, modelMap?, forceModel?}
  v2  {source, target{protocol, provider, baseUrl, auth}, model{mode, force, map, stripClientSuffix},
       endpoints{mode}}
v1 is normalised to v2, and a v2 `ProxyConfig` is what a token seals. Every problem is
reported as one line naming the field (`target.baseUrl: must start with http:// or https://`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from addons.config import _first_problem
from addons.presets.catalog import CATALOG, custom_entry
from transforms.codecs import UPSTREAM_CODECS
from transforms.protocols import CLIENT_PROTOCOLS, UPSTREAM_PROTOCOLS

# protocol names as clients write them -> the bridge's own
PROTOCOL_ALIASES = {
    "openai": "openai-chat", "openai-chat": "openai-chat", "chat": "openai-chat",
    "mistral": "openai-chat", "ollama": "openai-chat",
    "openai-responses": "openai-responses", "responses": "openai-responses",
    "anthropic": "anthropic", "gemini": "gemini", "azure": "azure", "bedrock": "bedrock",
}
SOURCE_PROTOCOLS = CLIENT_PROTOCOLS
# a proxy URL carries keys: an upstream reached only with an IDE login (Trae) cannot be its target
TARGET_PROTOCOLS = tuple(p for p in UPSTREAM_PROTOCOLS if not UPSTREAM_CODECS[p].login_only)


class ConfigProblem(ValueError):
    """A body the generator refuses; the message names the field."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _no_env(value: str | None) -> str | None:
    # bridge.toml resolves "env:VAR"; a URL must never make the bridge read its own environment
    if value is not None and value.startswith("env:"):
        raise ValueError("env: references are not allowed in proxy URLs; give the key itself")
    return value


# a credential as written in the body: never an "env:" reference
Secret = Annotated[str, AfterValidator(_no_env)]
Key = Annotated[str, Field(min_length=1), AfterValidator(_no_env)]


def _no_envs(values: list[str]) -> list[str]:
    return [_no_env(v) for v in values]


Keys = Annotated[list[Annotated[str, Field(min_length=1)]], AfterValidator(_no_envs)]


class _KeyAuth(_Body):
    token: Secret | None = None
    key: Secret | None = None
    keys: Keys = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_key(self):
        if not (self.token or self.key or self.keys):
            raise ValueError("needs token (or key), or keys")
        return self

    @property
    def all_keys(self) -> list[str]:
        first = [k for k in (self.token, self.key) if k]
        return first + [k for k in self.keys if k not in first]


class BearerAuth(_KeyAuth):
    type: Literal["bearer"]


class ApiKeyAuth(_KeyAuth):
    type: Literal["x-api-key"]


class MultiKeyAuth(_KeyAuth):
    """v1's `multiKey`: bearer keys used in turn."""

    type: Literal["multiKey"]


class AzureAuth(_Body):
    type: Literal["azure"]
    apiKey: Key
    apiVersion: str = Field(default="2024-10-21", pattern=r"^\d{4}-\d{2}-\d{2}(-preview)?$")
    keys: Keys = Field(default_factory=list)

    @property
    def all_keys(self) -> list[str]:
        return [self.apiKey] + [k for k in self.keys if k != self.apiKey]


class AwsAuth(_Body):
    type: Literal["aws"]
    accessKeyId: Key
    secretAccessKey: Key
    sessionToken: Secret | None = None
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")


class NoAuth(_Body):
    type: Literal["none"]


Auth = Annotated[BearerAuth | ApiKeyAuth | MultiKeyAuth | AzureAuth | AwsAuth | NoAuth, Field(discriminator="type")]


def _protocol(value: str, allowed: tuple[str, ...]) -> str:
    name = PROTOCOL_ALIASES.get(value)
    if name is None or name not in allowed:
        raise ValueError(f"unknown protocol '{value}' (known: {', '.join(allowed)})")
    return name


def _base_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    if "?" in value or "#" in value:
        raise ValueError("must not carry a query string or fragment")
    if "@" in value.split("//", 1)[1].split("/", 1)[0]:
        raise ValueError("must not carry a user or password (it would travel in the Host header)")
    return value.rstrip("/")


class Source(_Body):
    protocol: str
    provider: str | None = None

    @field_validator("protocol")
    @classmethod
    def _known(cls, value: str) -> str:
        return _protocol(value, SOURCE_PROTOCOLS)


class Target(_Body):
    provider: str | None = None  # a catalog id: fills protocol, base URL and auth type
    protocol: str | None = None
    baseUrl: str | None = None
    auth: Auth

    @field_validator("provider")
    @classmethod
    def _catalogued(cls, value: str | None) -> str | None:
        if value is None:
            return None
        entry = CATALOG.get(value)
        if entry is None:
            raise ValueError(f"unknown provider '{value}' (known: {', '.join(CATALOG)})")
        if not entry.url_capable:
            raise ValueError(f"'{value}' rotates refresh tokens, which a stateless URL cannot keep; "
                             "configure it in bridge.toml (preset = \"" + value + "\")")
        return value

    @field_validator("protocol")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return None if value is None else _protocol(value, TARGET_PROTOCOLS)

    @field_validator("baseUrl")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return None if value is None else _base_url(value)

    @model_validator(mode="after")
    def _complete(self):
        entry = CATALOG.get(self.provider) if self.provider else None
        if entry is None and (self.protocol is None or self.baseUrl is None):
            raise ValueError("give provider (a catalog id), or protocol and baseUrl")
        protocol = self.protocol or entry.protocol
        auth = self.auth.type
        if protocol == "bedrock" and auth != "aws":
            raise ValueError("bedrock needs auth.type 'aws'")
        if auth == "aws" and protocol != "bedrock":
            raise ValueError(f"auth.type 'aws' signs Bedrock requests only, not {protocol}")
        if protocol == "azure" and auth != "azure":
            raise ValueError("azure needs auth.type 'azure' (apiKey, apiVersion)")
        if "YOUR-RESOURCE" in self.resolved_base_url:
            raise ValueError("give baseUrl: your Azure resource's endpoint, https://<resource>.openai.azure.com")
        return self

    @property
    def entry(self):
        return CATALOG[self.provider] if self.provider else custom_entry(self.protocol, self.baseUrl)

    @property
    def resolved_protocol(self) -> str:
        return self.protocol or self.entry.protocol

    @property
    def resolved_base_url(self) -> str:
        if self.baseUrl:
            return self.baseUrl
        if self.resolved_protocol == "bedrock" and self.auth.type == "aws":  # the region's own endpoint
            return f"https://bedrock-runtime.{self.auth.region}.amazonaws.com"
        return self.entry.default_base_url


class ModelRules(_Body):
    mode: Literal["force", "map"] = "map"
    force: str | None = Field(default=None, min_length=1)
    map: dict[str, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    stripClientSuffix: bool = True

    @model_validator(mode="after")
    def _force_named(self):
        if self.mode == "force" and not self.force:
            raise ValueError("mode 'force' needs force (the model every request goes to)")
        return self


class Endpoints(_Body):
    mode: Literal["auto", "translate", "passthrough"] = "auto"


class ProxyConfig(_Body):
    """The normalised (v2) configuration a token seals."""

    version: Literal[2] = 2
    source: Source
    target: Target
    model: ModelRules = Field(default_factory=ModelRules)
    endpoints: Endpoints = Field(default_factory=Endpoints)

    @property
    def provider_label(self) -> str:
        return self.target.provider or self.target.resolved_protocol


class V1Body(_Body):
    version: Literal[1] = 1
    sourceProtocol: str
    targetProtocol: str
    targetBaseUrl: str
    auth: Auth
    modelMap: dict[str, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    forceModel: str | None = None

    def normalised(self) -> dict:
        return {
            "version": 2,
            "source": {"protocol": self.sourceProtocol},
            "target": {"protocol": self.targetProtocol, "baseUrl": self.targetBaseUrl,
                       "auth": self.auth.model_dump(exclude_none=True)},
            "model": ({"mode": "force", "force": self.forceModel} if self.forceModel
                      else {"mode": "map", "map": self.modelMap}),
            "endpoints": {"mode": "auto"},
        }


_V1_FIELDS = {"sourceProtocol": "source.protocol", "targetProtocol": "target.protocol",
              "targetBaseUrl": "target.baseUrl"}


def parse_generate_body(body: object) -> ProxyConfig:
    """Either documented body -> the v2 config, or ConfigProblem naming the field."""
    if not isinstance(body, dict):
        raise ConfigProblem("the body must be a JSON object")
    version = body.get("version", 2 if "target" in body or "source" in body else 1)
    if isinstance(version, bool):  # true == 1 in Python, but it is no version number
        raise ConfigProblem(f"version: must be 1 or 2, not {version!r}")
    try:
        if version == 1:
            v1 = V1Body.model_validate({**body, "version": 1})
            try:
                return ProxyConfig.model_validate(v1.normalised())
            except ValidationError as exc:  # a v1 field's value is wrong: name the v1 field
                problem = _first_problem(exc)
                for v2_name, v1_name in ((v, k) for k, v in _V1_FIELDS.items()):
                    problem = problem.replace(v2_name, v1_name)
                raise ConfigProblem(problem) from None
        if version == 2:
            return ProxyConfig.model_validate(body)
    except ValidationError as exc:
        raise ConfigProblem(_first_problem(exc)) from None
    raise ConfigProblem(f"version: must be 1 or 2, not {version!r}")


def open_config(plaintext: bytes) -> ProxyConfig:
    """A token's sealed config (already authenticated) -> ProxyConfig."""
    return ProxyConfig.model_validate_json(plaintext)


def seal_form(config: ProxyConfig) -> bytes:
    """The compact JSON a token seals: defaults and empty values left out."""
    return config.model_dump_json(exclude_defaults=True, exclude_none=True).encode()
