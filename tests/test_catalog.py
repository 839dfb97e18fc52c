"""The provider catalog (addons/presets/catalog.py) and `preset = "<id>"` in bridge.toml
(addons/presets/__init__.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from addons.config import ProviderConfig
from addons.presets import apply_preset, catalog_defaults
from addons.presets.catalog import AUTH_TYPES, CATALOG, GROUPS, PROTOCOLS, WIRE_FAMILY, custom_entry, entry, public_catalog

REQUIRED = ("openai", "anthropic", "gemini", "groq", "deepseek", "openrouter", "mistral", "together", "fireworks", "xai",
            "nvidia", "ollama", "azure", "bedrock", "factory", "trae")
SUPPORT = {"translate", "passthrough", "unsupported"}
ENV_KEYS = tuple({e.env_key for e in CATALOG.values() if e.env_key})


@pytest.fixture
def clean_env(monkeypatch):
    """No provider key in the environment unless a test sets one."""
    for var in ENV_KEYS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


# --- GET /api/catalog ---


def test_public_catalog_has_every_required_provider():
    providers = {p["id"]: p for p in public_catalog()["providers"]}
    assert set(REQUIRED) <= set(providers)
    assert len(providers) == len(public_catalog()["providers"])  # ids are unique


@pytest.mark.parametrize("provider_id", REQUIRED)
def test_public_entry_fields(provider_id):
    shown = next(p for p in public_catalog()["providers"] if p["id"] == provider_id)
    assert set(shown) == {"id", "name", "protocol", "authType", "defaultBaseUrl", "endpointSupport", "docsUrl", "proxyUrl"}
    assert shown["name"]
    assert shown["protocol"] in PROTOCOLS
    assert shown["authType"] in AUTH_TYPES
    assert shown["defaultBaseUrl"].startswith(("https://", "http://localhost"))
    assert not shown["defaultBaseUrl"].endswith("/")
    assert shown["docsUrl"].startswith("https://")
    assert tuple(shown["endpointSupport"]) == GROUPS == ("chat", "models", "count_tokens", "embeddings")
    assert set(shown["endpointSupport"].values()) <= SUPPORT
    assert shown["endpointSupport"]["chat"] == "translate"
    assert shown["proxyUrl"] is (provider_id not in ("factory", "trae"))


@pytest.mark.parametrize(("provider_id", "protocol", "auth", "base_url"), [
    ("openai", "openai-chat", "bearer", "https://api.openai.com/v1"),
    ("anthropic", "anthropic", "x-api-key", "https://api.anthropic.com"),
    ("gemini", "gemini", "x-api-key", "https://generativelanguage.googleapis.com"),
    ("groq", "openai-chat", "bearer", "https://api.groq.com/openai/v1"),
    ("deepseek", "openai-chat", "bearer", "https://api.deepseek.com/v1"),
    ("ollama", "openai-chat", "none", "http://localhost:11434/v1"),
    ("azure", "azure", "azure", "https://YOUR-RESOURCE.openai.azure.com"),
    ("bedrock", "bedrock", "aws", "https://bedrock-runtime.us-east-1.amazonaws.com"),
    ("factory", "anthropic", "bearer", "https://api.factory.ai"),
    ("trae", "trae", "bearer", "https://trae-api-sg.mchost.guru"),
])
def test_known_rows(provider_id, protocol, auth, base_url):
    row = entry(provider_id)
    assert (row.protocol, row.auth_type, row.default_base_url) == (protocol, auth, base_url)


def test_native_endpoints():
    assert CATALOG["openai"].endpoint_support == {"chat": "translate", "models": "passthrough",
                                                  "count_tokens": "translate", "embeddings": "passthrough"}
    assert CATALOG["anthropic"].endpoint_support["count_tokens"] == "passthrough"
    assert CATALOG["anthropic"].endpoint_support["embeddings"] == "unsupported"
    assert CATALOG["gemini"].endpoint_support["embeddings"] == "passthrough"
    assert CATALOG["groq"].endpoint_support["embeddings"] == "unsupported"
    assert CATALOG["bedrock"].endpoint_support == {"chat": "translate", "models": "translate",
                                                   "count_tokens": "translate", "embeddings": "unsupported"}


def test_catalog_lists():
    shown = public_catalog()
    assert shown["authTypes"] == ["bearer", "x-api-key", "azure", "aws", "none"]
    assert shown["protocols"] == ["openai-chat", "anthropic", "openai-responses", "gemini", "azure", "bedrock"]
    assert shown["endpointGroups"] == ["chat", "models", "count_tokens", "embeddings"]


def test_public_entries_are_copies():
    shown = CATALOG["groq"].public()
    shown["endpointSupport"]["embeddings"] = "passthrough"
    assert CATALOG["groq"].endpoint_support["embeddings"] == "unsupported"


def test_every_protocol_has_a_wire_family():
    assert set(PROTOCOLS) <= set(WIRE_FAMILY)
    assert entry("nope") is None


@pytest.mark.parametrize(("protocol", "auth", "models", "count_tokens", "embeddings"), [
    ("openai-chat", "bearer", "passthrough", "translate", "unsupported"),
    ("openai-responses", "bearer", "passthrough", "translate", "unsupported"),
    ("anthropic", "x-api-key", "passthrough", "passthrough", "unsupported"),
    ("gemini", "x-api-key", "passthrough", "translate", "passthrough"),
    ("azure", "azure", "translate", "translate", "passthrough"),
    ("bedrock", "aws", "translate", "translate", "unsupported"),
])
def test_custom_entry(protocol, auth, models, count_tokens, embeddings):
    custom = custom_entry(protocol, "https://llm.example.test")
    assert (custom.id, custom.protocol, custom.auth_type, custom.default_base_url) == \
        ("custom", protocol, auth, "https://llm.example.test")
    assert custom.endpoint_support == {"chat": "translate", "models": models, "count_tokens": count_tokens,
                                       "embeddings": embeddings}


# --- preset = "<id>" in bridge.toml ---


def test_groq_preset_fills_protocol_base_url_quirks_and_the_env_key(clean_env):
    clean_env.setenv("GROQ_API_KEY", "gsk-from-env")
    provider = ProviderConfig(name="groq", preset="groq")
    assert provider.protocol == "openai-chat"
    assert provider.base_url == "https://api.groq.com/openai/v1"
    assert provider.quirks == ["clean-tool-schemas"]
    assert provider.auth_type == "bearer"
    assert provider.api_key == "gsk-from-env"
    assert provider.keys == ["gsk-from-env"]


def test_preset_without_the_env_key_has_no_key(clean_env):
    provider = ProviderConfig(name="groq", preset="groq")
    assert provider.api_key is None and provider.keys == []


def test_preset_empty_env_key_is_not_used(clean_env):
    clean_env.setenv("GROQ_API_KEY", "")
    assert ProviderConfig(name="groq", preset="groq").api_key is None


def test_what_the_user_wrote_wins(clean_env):
    clean_env.setenv("GROQ_API_KEY", "gsk-from-env")
    provider = ProviderConfig(name="g", preset="groq", base_url="https://groq.proxy.test/v1/", api_key="gsk-written",
                              quirks=[], auth_type="x-api-key", protocol="openai-responses")
    assert provider.base_url == "https://groq.proxy.test/v1"
    assert provider.api_key == "gsk-written"
    assert provider.quirks == []
    assert provider.auth_type == "x-api-key"
    assert provider.protocol == "openai-responses"


@pytest.mark.parametrize("written", [{"api_keys": ["k1", "k2"]}, {"client_key": True}])
def test_any_written_credential_keeps_the_env_key_out(clean_env, written):
    clean_env.setenv("GROQ_API_KEY", "gsk-from-env")
    provider = ProviderConfig(name="g", preset="groq", **written)
    assert provider.api_key is None
    assert "gsk-from-env" not in provider.keys


def test_written_env_reference_is_resolved(clean_env):
    clean_env.setenv("MY_GROQ", "gsk-mine")
    clean_env.setenv("GROQ_API_KEY", "gsk-from-env")
    assert ProviderConfig(name="g", preset="groq", api_key="env:MY_GROQ").api_key == "gsk-mine"


@pytest.mark.parametrize("provider_id", [p for p in REQUIRED if p not in ("factory", "trae", "bedrock")])
def test_every_catalog_preset_makes_a_valid_provider(clean_env, provider_id):
    row = CATALOG[provider_id]
    if row.env_key:
        clean_env.setenv(row.env_key, f"key-for-{provider_id}")
    provider = ProviderConfig(name=provider_id, preset=provider_id)
    assert provider.protocol == row.protocol
    assert provider.base_url == row.default_base_url
    assert provider.quirks == list(row.quirks)
    assert provider.api_key == (f"key-for-{provider_id}" if row.env_key else None)
    assert provider.auth_type == (row.auth_type if row.auth_type in ("bearer", "x-api-key", "azure") else None)


def test_bedrock_preset_needs_aws_credentials(clean_env):
    with pytest.raises(ValidationError, match="bedrock provider needs aws"):
        ProviderConfig(name="b", preset="bedrock")
    provider = ProviderConfig(name="b", preset="bedrock",
                              aws={"access_key_id": "AKIA1", "secret_access_key": "s", "region": "eu-west-1"})
    assert provider.protocol == "bedrock" and provider.aws.region == "eu-west-1"
    assert provider.base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert provider.auth_type is None


def test_unknown_preset_names_the_known_ones(clean_env):
    with pytest.raises(ValidationError) as caught:
        ProviderConfig(name="x", preset="acme")
    message = str(caught.value)
    assert "unknown preset 'acme' (known: " in message
    for known in REQUIRED:
        assert known in message
    with pytest.raises(ValueError, match=r"unknown preset 'acme' \(known: anthropic, azure, bedrock, deepseek,"):
        apply_preset({"preset": "acme"}, environ={})


def test_apply_preset_reads_the_given_environment_and_leaves_the_input_alone():
    data = {"name": "g", "preset": "groq"}
    filled = apply_preset(data, environ={"GROQ_API_KEY": "x"})
    assert filled["api_key"] == "env:GROQ_API_KEY"  # resolved by ProviderConfig, like any written env: key
    assert filled["protocol"] == "openai-chat" and filled["quirks"] == ["clean-tool-schemas"]
    assert data == {"name": "g", "preset": "groq"}
    assert "api_key" not in apply_preset(data, environ={})


def test_catalog_defaults_for_a_keyless_provider():
    filled = catalog_defaults(CATALOG["ollama"], {"name": "o"}, {"OLLAMA_API_KEY": "ignored"})
    assert filled == {"name": "o", "protocol": "openai-chat", "base_url": "http://localhost:11434/v1", "quirks": []}
