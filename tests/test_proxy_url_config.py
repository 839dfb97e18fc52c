"""`POST /api/generate-url` bodies (addons/proxy_url/config.py) and the snippets
shown with a generated URL (addons/proxy_url/snippets.py)."""

from __future__ import annotations

import json
import shlex
import subprocess

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addons.proxy_url.config import ConfigProblem, ProxyConfig, open_config, parse_generate_body, seal_form
from addons.proxy_url.snippets import PLACEHOLDER_KEY, snippets

BEARER = {"type": "bearer", "token": "sk-test-bearer-1"}
AWS = {"type": "aws", "accessKeyId": "AKIATESTKEYID", "secretAccessKey": "aws-secret-test-xyz", "region": "eu-west-1"}
AZURE = {"type": "azure", "apiKey": "azure-key-test-1"}
V1 = {"sourceProtocol": "openai", "targetProtocol": "anthropic", "targetBaseUrl": "https://api.anthropic.com/",
      "auth": {"type": "x-api-key", "key": "sk-ant-test-1"}}
V2_TARGET = {"protocol": "openai-chat", "baseUrl": "https://llm.example.test/v1", "auth": BEARER}
V2 = {"source": {"protocol": "anthropic"}, "target": V2_TARGET}


def problem(body) -> str:
    with pytest.raises(ConfigProblem) as caught:
        parse_generate_body(body)
    return str(caught.value)


def with_target(**changes) -> dict:
    return {**V2, "target": {**V2_TARGET, **changes}}


AZURE_RESOURCE = "https://me.openai.azure.com"


def provider_target(provider: str, auth: dict) -> dict:
    """Azure's catalog entry has only a placeholder URL, so its targets name a resource."""
    resource = {"baseUrl": AZURE_RESOURCE} if provider == "azure" else {}
    return {**V2, "target": {"provider": provider, "auth": auth, **resource}}


# --- v1 ---


def test_v1_is_normalised_to_v2():
    config = parse_generate_body(V1)
    assert config.version == 2
    assert config.source.protocol == "openai-chat"  # the alias "openai"
    assert config.target.protocol == "anthropic"
    assert config.target.baseUrl == "https://api.anthropic.com"  # trailing slash dropped
    assert config.target.auth.type == "x-api-key" and config.target.auth.all_keys == ["sk-ant-test-1"]
    assert (config.model.mode, config.model.force, config.model.map) == ("map", None, {})
    assert config.model.stripClientSuffix is True
    assert config.endpoints.mode == "auto"


def test_v1_equals_the_same_v2_body():
    v1 = {**V1, "modelMap": {"gpt-4o": "claude-sonnet-4-5"}}
    v2 = {"version": 2, "source": {"protocol": "openai-chat"},
          "target": {"protocol": "anthropic", "baseUrl": "https://api.anthropic.com", "auth": V1["auth"]},
          "model": {"mode": "map", "map": {"gpt-4o": "claude-sonnet-4-5"}}, "endpoints": {"mode": "auto"}}
    assert parse_generate_body(v1) == parse_generate_body(v2)


def test_v1_force_model_becomes_force_mode():
    config = parse_generate_body({**V1, "forceModel": "claude-opus-4-1", "modelMap": {"a": "b"}})
    assert (config.model.mode, config.model.force) == ("force", "claude-opus-4-1")


def test_v1_explicit_version_and_multikey():
    config = parse_generate_body({**V1, "version": 1, "targetProtocol": "openai",
                                  "targetBaseUrl": "https://api.openai.com/v1",
                                  "auth": {"type": "multiKey", "keys": ["k1", "k2"]}})
    assert config.target.protocol == "openai-chat"
    assert config.target.auth.type == "multiKey"
    assert config.target.auth.all_keys == ["k1", "k2"]


def test_v1_bedrock_with_aws():
    config = parse_generate_body({**V1, "targetProtocol": "bedrock",
                                  "targetBaseUrl": "https://bedrock-runtime.eu-west-1.amazonaws.com", "auth": AWS})
    assert config.target.resolved_protocol == "bedrock" and config.target.auth.region == "eu-west-1"


@pytest.mark.parametrize("field", ["sourceProtocol", "targetProtocol", "targetBaseUrl", "auth"])
def test_v1_missing_field_is_named(field):
    assert problem({k: v for k, v in V1.items() if k != field}) == f"{field}: Field required"


def test_v1_bad_values_name_the_v1_field():
    assert problem({**V1, "targetBaseUrl": "ftp://x"}) == "targetBaseUrl: must start with http:// or https://"
    assert problem({**V1, "sourceProtocol": "cobol"}).startswith("sourceProtocol: unknown protocol 'cobol'")
    assert problem({**V1, "targetProtocol": "cobol"}).startswith("targetProtocol: unknown protocol 'cobol'")
    assert problem({**V1, "extra": 1}) == "extra: unknown key"
    assert problem({**V1, "targetProtocol": "bedrock"}) == "target: bedrock needs auth.type 'aws'"


def test_v1_source_cannot_be_azure_or_bedrock():
    for name in ("azure", "bedrock", "trae"):
        assert problem({**V1, "sourceProtocol": name}).startswith(f"sourceProtocol: unknown protocol '{name}'")


# --- v2 ---


def test_v2_with_a_catalog_provider_fills_protocol_and_base_url():
    config = parse_generate_body(provider_target("groq", BEARER))
    assert config.target.provider == "groq"
    assert config.target.resolved_protocol == "openai-chat"
    assert config.target.resolved_base_url == "https://api.groq.com/openai/v1"
    assert config.provider_label == "groq"
    assert config.target.entry.quirks == ("clean-tool-schemas",)


def test_v2_custom_target_is_labelled_by_protocol():
    config = parse_generate_body(V2)
    assert config.provider_label == "openai-chat"
    assert config.target.entry.id == "custom"
    assert config.target.resolved_base_url == "https://llm.example.test/v1"


def test_v2_written_values_win_over_the_catalog():
    config = parse_generate_body(provider_target("openai", BEARER)
                                 | {"target": {"provider": "openai", "baseUrl": "https://eu.openai.test/v1", "auth": BEARER}})
    assert config.target.resolved_base_url == "https://eu.openai.test/v1"


@pytest.mark.parametrize(("alias", "name"), [("chat", "openai-chat"), ("openai", "openai-chat"),
                                             ("responses", "openai-responses"), ("gemini", "gemini"),
                                             ("anthropic", "anthropic")])
def test_protocol_aliases(alias, name):
    assert parse_generate_body({**V2, "source": {"protocol": alias}}).source.protocol == name


@pytest.mark.parametrize(("body", "expected"), [
    (with_target(baseUrl="ftp://x"), "target.baseUrl: must start with http:// or https://"),
    (with_target(baseUrl="https://x.test/v1?key=1"), "target.baseUrl: must not carry a query string or fragment"),
    (with_target(baseUrl="https://x.test/v1#frag"), "target.baseUrl: must not carry a query string or fragment"),
    (with_target(protocol="grpc"), "target.protocol: unknown protocol 'grpc' (known: openai-chat, anthropic, "
                                   "openai-responses, gemini, azure, bedrock)"),
    ({**V2, "source": {"protocol": "grpc"}}, "source.protocol: unknown protocol 'grpc' (known: openai-chat, "
                                             "openai-responses, anthropic, gemini)"),
    (with_target(protocol="bedrock"), "target: bedrock needs auth.type 'aws'"),
    (provider_target("bedrock", BEARER), "target: bedrock needs auth.type 'aws'"),
    (provider_target("openai", AWS), "target: auth.type 'aws' signs Bedrock requests only, not openai-chat"),
    (with_target(protocol="anthropic", auth=AWS), "target: auth.type 'aws' signs Bedrock requests only, not anthropic"),
    (provider_target("azure", BEARER), "target: azure needs auth.type 'azure' (apiKey, apiVersion)"),
    (with_target(protocol="azure"), "target: azure needs auth.type 'azure' (apiKey, apiVersion)"),
    ({**V2, "model": {"mode": "force"}}, "model: mode 'force' needs force (the model every request goes to)"),
    ({**V2, "model": {"mode": "pin"}}, "model.mode: Input should be 'force' or 'map'"),
    ({**V2, "endpoints": {"mode": "magic"}}, "endpoints.mode: Input should be 'auto', 'translate' or 'passthrough'"),
    ({**V2, "extra": 1}, "extra: unknown key"),
    (with_target(colour="red"), "target.colour: unknown key"),
    ({**V2, "model": {"mode": "map", "forced": "x"}}, "model.forced: unknown key"),
    ({**V2, "source": {"protocol": "anthropic", "sdk": "x"}}, "source.sdk: unknown key"),
    (with_target(auth={**BEARER, "scope": "x"}), "target.auth.bearer.scope: unknown key"),
    (with_target(auth={"type": "bearer"}), "target.auth.bearer: needs token (or key), or keys"),
    (with_target(auth={"type": "oauth", "token": "x"}), "target.auth: Input tag 'oauth' found using 'type' does not "
                                                        "match any of the expected tags: 'bearer', 'x-api-key', "
                                                        "'multiKey', 'azure', 'aws', 'none'"),
    ({"source": {"protocol": "anthropic"}, "target": {"auth": BEARER}},
     "target: give provider (a catalog id), or protocol and baseUrl"),
    ({"source": {"protocol": "anthropic"}, "target": {"protocol": "openai-chat", "auth": BEARER}},
     "target: give provider (a catalog id), or protocol and baseUrl"),
    ({"source": {"protocol": "anthropic"}}, "target: Field required"),  # a v2 body, though it lacks target
    ({"target": V2_TARGET}, "source: Field required"),
    ({**V2, "version": 3}, "version: must be 1 or 2, not 3"),
    ({**V2, "version": "2"}, "version: must be 1 or 2, not '2'"),
    ({**V2, "version": True}, "version: must be 1 or 2, not True"),
    ({**V1, "version": True}, "version: must be 1 or 2, not True"),
])
def test_each_problem_names_its_field(body, expected):
    assert problem(body) == expected


def test_unknown_provider_names_the_known_ones():
    message = problem(provider_target("acme", BEARER))
    assert message.startswith("target.provider: unknown provider 'acme' (known: openai, anthropic, gemini, groq,")
    for known in ("deepseek", "bedrock", "azure", "ollama"):
        assert known in message


@pytest.mark.parametrize("provider", ["factory", "trae"])
def test_refresh_token_providers_are_refused(provider):
    message = problem(provider_target(provider, BEARER))
    assert message.startswith(f"target.provider: '{provider}' rotates refresh tokens")
    assert f'preset = "{provider}"' in message


@pytest.mark.parametrize("body", [None, [], [V2], "v2", 2, 1.5, True])
def test_non_object_body(body):
    assert problem(body) == "the body must be a JSON object"


def test_version_3_in_a_v1_shaped_body():
    assert problem({**V1, "version": 3}) == "version: must be 1 or 2, not 3"


@pytest.mark.parametrize(("auth", "where"), [
    ({"type": "bearer", "token": "env:HOME"}, "target.auth.bearer.token"),
    ({"type": "bearer", "key": "env:HOME"}, "target.auth.bearer.key"),
    ({"type": "bearer", "keys": ["sk-1", "env:HOME"]}, "target.auth.bearer.keys"),
    ({"type": "x-api-key", "token": "env:HOME"}, "target.auth.x-api-key.token"),
    ({"type": "x-api-key", "key": "env:HOME"}, "target.auth.x-api-key.key"),
    ({"type": "x-api-key", "keys": ["env:HOME"]}, "target.auth.x-api-key.keys"),
    ({"type": "multiKey", "keys": ["env:HOME"]}, "target.auth.multiKey.keys"),
    ({"type": "multiKey", "token": "env:HOME"}, "target.auth.multiKey.token"),
    ({"type": "azure", "apiKey": "env:HOME"}, "target.auth.azure.apiKey"),
    ({"type": "azure", "apiKey": "k", "keys": ["k2", "env:HOME"]}, "target.auth.azure.keys"),
])
def test_env_references_are_refused_in_every_key_field(auth, where):
    protocol = "azure" if auth["type"] == "azure" else "openai-chat"
    message = problem(with_target(protocol=protocol, auth=auth))
    assert message == f"{where}: env: references are not allowed in proxy URLs; give the key itself"


@pytest.mark.parametrize("field", ["accessKeyId", "secretAccessKey", "sessionToken"])
def test_env_references_are_refused_in_aws_credentials(field):
    message = problem(provider_target("bedrock", {**AWS, field: "env:AWS_SECRET_ACCESS_KEY"}))
    assert message == f"target.auth.aws.{field}: env: references are not allowed in proxy URLs; give the key itself"


def test_v1_env_reference_is_refused():
    assert problem({**V1, "auth": {"type": "x-api-key", "key": "env:HOME"}}).startswith("auth.x-api-key.key: env:")


def test_aws_region_and_azure_version_are_checked():
    assert problem(provider_target("bedrock", {**AWS, "region": "mars"})).startswith("target.auth.aws.region:")
    assert problem(provider_target("azure", {**AZURE, "apiVersion": "latest"})).startswith("target.auth.azure.apiVersion:")
    config = parse_generate_body(provider_target("azure", {**AZURE, "apiVersion": "2025-01-01-preview"}))
    assert config.target.auth.apiVersion == "2025-01-01-preview"


def test_azure_needs_a_resource_and_bedrock_defaults_to_its_region():
    placeholder = {**V2, "target": {"provider": "azure", "auth": AZURE}}
    assert problem(placeholder).startswith("target: give baseUrl: your Azure resource's endpoint")
    config = parse_generate_body(provider_target("bedrock", {**AWS, "region": "eu-west-1"}))
    assert config.target.resolved_base_url == "https://bedrock-runtime.eu-west-1.amazonaws.com"


def test_a_user_or_password_in_the_base_url_is_refused():
    assert problem(with_target(baseUrl="https://user:pw@ollama.example/v1")).startswith("target.baseUrl: must not carry a user")


def test_empty_keys_are_refused():
    assert problem(with_target(auth={"type": "bearer", "keys": [""]})).startswith("target.auth.bearer.keys[0]:")
    assert problem(provider_target("azure", {"type": "azure", "apiKey": ""})).startswith("target.auth.azure.apiKey:")
    assert problem({**V2, "model": {"map": {"a": ""}}}).startswith("model.map.a:")


def test_all_keys_puts_the_single_key_first_without_repeating_it():
    config = parse_generate_body(with_target(auth={"type": "bearer", "token": "k1", "keys": ["k2", "k1", "k3"]}))
    assert config.target.auth.all_keys == ["k1", "k2", "k3"]
    azure = parse_generate_body(provider_target("azure", {**AZURE, "keys": [AZURE["apiKey"], "k2"]}))
    assert azure.target.auth.all_keys == ["azure-key-test-1", "k2"]


# --- what a token seals ---

ROUND_TRIP_BODIES = [
    V1,
    {**V1, "forceModel": "claude-opus-4-1"},
    V2,
    provider_target("groq", {"type": "multiKey", "keys": ["a", "b"]}),
    provider_target("azure", {**AZURE, "apiVersion": "2025-01-01-preview", "keys": ["k2"]}),
    provider_target("bedrock", {**AWS, "sessionToken": "sess"}),
    provider_target("ollama", {"type": "none"}),
    {"source": {"protocol": "gemini", "provider": "me"}, "target": {**V2_TARGET, "protocol": "gemini"},
     "model": {"mode": "map", "map": {"claude-*": "gemini-*", "x": "y"}, "stripClientSuffix": False},
     "endpoints": {"mode": "passthrough"}},
    {**V2, "model": {"mode": "force", "force": "gpt-4.1"}, "endpoints": {"mode": "translate"}},
]


@pytest.mark.parametrize("body", ROUND_TRIP_BODIES)
def test_open_config_of_seal_form_round_trips(body):
    config = parse_generate_body(body)
    assert open_config(seal_form(config)) == config


def test_seal_form_leaves_defaults_out():
    sealed = orjson.loads(seal_form(parse_generate_body(V2)))
    assert sealed == {"source": {"protocol": "anthropic"},
                      "target": {"protocol": "openai-chat", "baseUrl": "https://llm.example.test/v1",
                                 "auth": {"type": "bearer", "token": "sk-test-bearer-1"}}}
    azure = orjson.loads(seal_form(parse_generate_body(provider_target("azure", AZURE))))
    assert azure["target"] == {"provider": "azure", "baseUrl": AZURE_RESOURCE,
                               "auth": {"type": "azure", "apiKey": "azure-key-test-1"}}


def test_seal_form_keeps_what_differs_from_the_defaults():
    body = {**V2, "model": {"mode": "force", "force": "m", "stripClientSuffix": False}, "endpoints": {"mode": "translate"}}
    sealed = orjson.loads(seal_form(parse_generate_body(body)))
    assert sealed["model"] == {"mode": "force", "force": "m", "stripClientSuffix": False}
    assert sealed["endpoints"] == {"mode": "translate"}


def test_open_config_validates():
    with pytest.raises(ValueError):
        open_config(b'{"source":{"protocol":"anthropic"}}')
    with pytest.raises(ValueError):
        open_config(b'{"source":{"protocol":"anthropic"},"target":{"provider":"factory","auth":{"type":"none"}}}')


_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_names, _names, max_size=5), st.booleans(), st.sampled_from(["auto", "translate", "passthrough"]),
       st.lists(_names.filter(lambda k: not k.startswith("env:")), min_size=1, max_size=3))
def test_round_trip_for_any_map_and_keys(model_map, strip, mode, keys):
    body = {**V2, "target": {**V2_TARGET, "auth": {"type": "bearer", "keys": keys}},
            "model": {"map": model_map, "stripClientSuffix": strip}, "endpoints": {"mode": mode}}
    config = parse_generate_body(body)
    assert open_config(seal_form(config)) == config
    assert config.model.map == model_map and config.target.auth.keys == keys


# --- snippets ---

PROXY_URL = "https://bridge.example.test:8443/proxy/AbC-_123xyz"
SECRET_KEYS = ("sk-test-bearer-1", "sk-second-key-9", "azure-key-test-1", "AKIATESTKEYID", "aws-secret-test-xyz",
               "aws-session-test")


def _bash_words(command: str) -> list[str]:
    """The words bash itself passes to `curl`: the snippet is valid shell, as pasted."""
    script = "curl() { printf '%s\\0' \"$@\"; }\n" + command
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True, timeout=10).stdout
    return out.decode().split("\0")[:-1]


def _curl(config: ProxyConfig) -> tuple[str, dict[str, str], dict]:
    command = snippets(config, PROXY_URL)["curlExample"]
    words = shlex.split(command.replace("\\\n", ""))
    assert words[0] == "curl"
    assert _bash_words(command) == words[1:]
    url, headers, body = words[1], {}, None
    rest = words[2:]
    while rest:
        flag, value, *rest = rest
        if flag == "-H":
            name, _, content = value.partition(": ")
            headers[name] = content
        else:
            assert flag == "-d"
            body = json.loads(value)
    return url, headers, body


def _config(source: str, **model) -> ProxyConfig:
    body = {"source": {"protocol": source}, "target": {**V2_TARGET, "auth": {**BEARER, "keys": ["sk-second-key-9"]}}}
    if model:
        body["model"] = model
    return parse_generate_body(body)


@pytest.mark.parametrize(("source", "env"), [
    ("openai-chat", [f"export OPENAI_BASE_URL={PROXY_URL}/v1", f"export OPENAI_API_KEY={PLACEHOLDER_KEY}"]),
    ("openai-responses", [f"export OPENAI_BASE_URL={PROXY_URL}/v1", f"export OPENAI_API_KEY={PLACEHOLDER_KEY}"]),
    ("anthropic", [f"export ANTHROPIC_BASE_URL={PROXY_URL}", f"export ANTHROPIC_API_KEY={PLACEHOLDER_KEY}"]),
    ("gemini", [f"export GOOGLE_GEMINI_BASE_URL={PROXY_URL}", f"export GEMINI_API_KEY={PLACEHOLDER_KEY}"]),
])
def test_env_block_per_source(source, env):
    shown = snippets(_config(source), PROXY_URL)
    assert shown["proxyUrl"] == PROXY_URL
    assert shown["envBlock"].split("\n") == env


def test_curl_openai_chat():
    url, headers, body = _curl(_config("openai-chat"))
    assert url == f"{PROXY_URL}/v1/chat/completions"
    assert headers == {"authorization": f"Bearer {PLACEHOLDER_KEY}", "content-type": "application/json"}
    assert body == {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hello"}]}


def test_curl_openai_responses():
    url, headers, body = _curl(_config("openai-responses"))
    assert url == f"{PROXY_URL}/v1/responses"
    assert headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"
    assert body == {"model": "gpt-4.1", "input": "Hello"}


def test_curl_anthropic():
    url, headers, body = _curl(_config("anthropic"))
    assert url == f"{PROXY_URL}/v1/messages"
    assert headers == {"x-api-key": PLACEHOLDER_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    assert body == {"model": "claude-sonnet-4-6", "max_tokens": 256, "messages": [{"role": "user", "content": "Hello"}]}


def test_curl_gemini():
    url, headers, body = _curl(_config("gemini"))
    assert url == f"{PROXY_URL}/v1beta/models/gemini-2.5-flash:generateContent"
    assert headers == {"x-goog-api-key": PLACEHOLDER_KEY, "content-type": "application/json"}
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


def test_curl_names_the_forced_model_and_survives_shell_quoting():
    url, _headers, body = _curl(_config("anthropic", mode="force", force="it's-a \"model\" $HOME `id`"))
    assert body["model"] == "it's-a \"model\" $HOME `id`"


def test_curl_names_an_exact_mapped_model_not_a_wildcard():
    _url, _headers, body = _curl(_config("anthropic", map={"claude-*": "gpt-4.1-*", "opus": "gpt-5"}))
    assert body["model"] == "opus"
    _url, _headers, body = _curl(_config("openai-chat", map={"gpt-*": "llama-*"}))
    assert body["model"] == "gpt-4.1"


def test_notes_mention_force_map_and_strip():
    forced = snippets(_config("anthropic", mode="force", force="gpt-4.1"), PROXY_URL)["notes"]
    assert "Every request uses the model 'gpt-4.1', whatever the client names." in forced
    assert not any(n.startswith("Model names are mapped") for n in forced)
    assert "Client suffixes such as [1m] are stripped from model names." in forced

    mapped = snippets(_config("openai-chat", map={"gpt-4o": "llama-3", "o3": "qwq"}, stripClientSuffix=False),
                      PROXY_URL)["notes"]
    assert "Model names are mapped: gpt-4o -> llama-3, o3 -> qwq." in mapped
    assert not any("Every request uses" in n for n in mapped)
    assert not any("[1m]" in n for n in mapped)


def test_notes_name_the_upstream_and_the_endpoint_groups():
    notes = snippets(parse_generate_body({**provider_target("groq", BEARER), "source": {"protocol": "openai"},
                                          "endpoints": {"mode": "translate"}}), PROXY_URL)["notes"]
    assert "Requests go to https://api.groq.com/openai/v1 (groq, openai-chat)." in notes
    assert ("Endpoint groups: chat translate, models passthrough, count_tokens translate, embeddings unsupported "
            "(mode translate).") in notes
    claude = snippets(_config("anthropic"), PROXY_URL)["notes"]
    assert any("~/.claude/settings.json" in n for n in claude)
    assert not any("~/.claude/settings.json" in n for n in notes)


@pytest.mark.parametrize("source", ["openai-chat", "openai-responses", "anthropic", "gemini"])
@pytest.mark.parametrize("target", [
    {**V2_TARGET, "auth": {"type": "bearer", "token": "sk-test-bearer-1", "keys": ["sk-second-key-9"]}},
    {"provider": "azure", "baseUrl": "https://me.openai.azure.com", "auth": {**AZURE, "keys": ["sk-second-key-9"]}},
    {"provider": "bedrock", "auth": {**AWS, "sessionToken": "aws-session-test"}},
])
def test_no_key_appears_in_the_snippets(source, target):
    config = parse_generate_body({"source": {"protocol": source}, "target": target,
                                  "model": {"map": {"a": "b"}}})
    shown = orjson.dumps(snippets(config, PROXY_URL)).decode()
    for key in SECRET_KEYS:
        assert key not in shown
    assert PLACEHOLDER_KEY in shown
