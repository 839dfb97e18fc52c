"""Endpoint groups behind a proxy URL (addons/proxy_url/endpoint_groups.py): which
group a call belongs to, and whether it is translated, passed through or refused."""

from __future__ import annotations

import itertools

import pytest
from mitmproxy.http import Headers

from addons.presets.catalog import CATALOG, GROUPS, WIRE_FAMILY, custom_entry
from addons.proxy_url.endpoint_groups import Endpoint, Unsupported, classify, decide

NO_HEADERS = Headers()
ANTHROPIC_HEADERS = Headers([(b"anthropic-version", b"2023-06-01")])


# --- classify ---


@pytest.mark.parametrize(("method", "path", "headers", "expected"), [
    ("POST", "/v1/chat/completions", NO_HEADERS, Endpoint("chat", "openai-chat")),
    ("POST", "/chat/completions", NO_HEADERS, Endpoint("chat", "openai-chat")),
    ("POST", "/v1/responses", NO_HEADERS, Endpoint("chat", "openai-responses")),
    ("POST", "/responses", NO_HEADERS, Endpoint("chat", "openai-responses")),
    ("POST", "/v1/embeddings", NO_HEADERS, Endpoint("embeddings", "openai")),
    ("POST", "/embeddings", NO_HEADERS, Endpoint("embeddings", "openai")),
    ("GET", "/v1/models", NO_HEADERS, Endpoint("models", "openai")),
    ("GET", "/models", NO_HEADERS, Endpoint("models", "openai")),
    ("POST", "/v1/messages", ANTHROPIC_HEADERS, Endpoint("chat", "anthropic")),
    ("POST", "/v1/messages", NO_HEADERS, Endpoint("chat", "anthropic")),
    ("POST", "/v1/messages/count_tokens", ANTHROPIC_HEADERS, Endpoint("count_tokens", "anthropic")),
    ("GET", "/v1/models", ANTHROPIC_HEADERS, Endpoint("models", "anthropic")),
    ("GET", "/v1/models", Headers([(b"Anthropic-Version", b"2023-06-01")]), Endpoint("models", "anthropic")),
    ("GET", "/v1/models", Headers([(b"x-api-key", b"k")]), Endpoint("models", "anthropic")),
    ("GET", "/v1/models", {"anthropic-version": "2023-06-01"}, Endpoint("models", "anthropic")),
    ("POST", "/v1beta/models/gemini-2.5-flash:generateContent", NO_HEADERS, Endpoint("chat", "gemini")),
    ("POST", "/v1/models/gemini-2.5-flash:generateContent", NO_HEADERS, Endpoint("chat", "gemini")),
    ("POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent", NO_HEADERS, Endpoint("chat", "gemini")),
    ("POST", "/v1beta/models/text-embedding-004:embedContent", NO_HEADERS,
     Endpoint("embeddings", "gemini", "text-embedding-004")),
    ("POST", "/v1beta/models/text-embedding-004:batchEmbedContents", NO_HEADERS,
     Endpoint("embeddings", "gemini", "text-embedding-004")),
    ("POST", "/v1/models/text-embedding-004:embedContent", NO_HEADERS,
     Endpoint("embeddings", "gemini", "text-embedding-004")),
    ("POST", "/v1beta/models/gemini-2.5-flash:countTokens", NO_HEADERS,
     Endpoint("count_tokens", "gemini", "gemini-2.5-flash")),
    ("GET", "/v1beta/models", NO_HEADERS, Endpoint("models", "gemini")),
    ("GET", "/v1beta/models", Headers([(b"x-goog-api-key", b"k")]), Endpoint("models", "gemini")),
])
def test_classify(method, path, headers, expected):
    assert classify(method, path, headers) == expected


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/chat/completions"),  # the right path, the wrong method
    ("GET", "/v1/messages"),
    ("POST", "/v1/models"),
    ("GET", "/v1/embeddings"),
    ("POST", "/v1/completions"),  # legacy completions are not served
    ("POST", "/v1/audio/speech"),
    ("POST", "/v1/images/generations"),
    ("GET", "/v1beta/models/gemini-2.5-flash"),
    ("POST", "/v1beta/models/gemini-2.5-flash:predict"),
    ("POST", "/v1beta/tunedModels/x:generateContent"),
    ("POST", "/v1/messages/batches"),
    ("POST", "/"),
    ("POST", ""),
    ("POST", "/v1/chat/completions/"),
])
def test_unknown_paths_are_unsupported_with_a_helpful_message(method, path):
    with pytest.raises(Unsupported) as caught:
        classify(method, path, NO_HEADERS)
    error = caught.value
    assert error.group is None
    assert error.message == str(error)
    assert error.message.startswith(f"There is no endpoint at {method} {path} behind a proxy URL.")
    for served in ("/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens",
                   "/v1/embeddings", "generateContent", "streamGenerateContent", "embedContent", "countTokens",
                   "GET /v1/models"):
        assert served in error.message


def test_a_gemini_chat_path_carries_no_model_field():
    # the chat route reads the model from the path itself; only non-chat Gemini endpoints carry it
    assert classify("POST", "/v1beta/models/gemini-2.5-flash:generateContent", NO_HEADERS).gemini_model is None


# --- decide: examples ---

MODES = ("auto", "translate", "passthrough")


def run(group: str, client: str, provider: str, mode: str) -> str:
    entry = CATALOG[provider]
    return decide(Endpoint(group, client), entry, entry.protocol, mode, provider)


def refused(group: str, client: str, provider: str, mode: str) -> str:
    with pytest.raises(Unsupported) as caught:
        run(group, client, provider, mode)
    assert caught.value.group == group
    assert group in caught.value.message and f"'{provider}'" in caught.value.message
    return caught.value.message


# group, client protocol, provider, {mode: expected} ("!" = Unsupported)
EXAMPLES = [
    # chat: compatible (same protocol) and not
    ("chat", "openai-chat", "openai", {"auto": "passthrough", "translate": "passthrough", "passthrough": "passthrough"}),
    ("chat", "anthropic", "anthropic", {"auto": "passthrough", "translate": "passthrough", "passthrough": "passthrough"}),
    ("chat", "anthropic", "groq", {"auto": "translate", "translate": "translate", "passthrough": "!"}),
    ("chat", "openai-responses", "openai", {"auto": "translate", "translate": "translate", "passthrough": "!"}),
    ("chat", "gemini", "bedrock", {"auto": "translate", "translate": "translate", "passthrough": "!"}),
    ("chat", "anthropic", "bedrock", {"auto": "translate", "translate": "translate", "passthrough": "!"}),
    # models: native where the provider lists them in the client's format, else listed by the bridge
    ("models", "openai", "openai", {"auto": "passthrough", "translate": "translate", "passthrough": "passthrough"}),
    ("models", "anthropic", "anthropic", {"auto": "passthrough", "translate": "translate", "passthrough": "passthrough"}),
    ("models", "gemini", "gemini", {"auto": "passthrough", "translate": "translate", "passthrough": "passthrough"}),
    ("models", "anthropic", "openai", {"auto": "translate", "translate": "translate", "passthrough": "!"}),
    ("models", "openai", "bedrock", {"auto": "translate", "translate": "translate", "passthrough": "!"}),
    # count_tokens: native at Anthropic, estimated elsewhere
    ("count_tokens", "anthropic", "anthropic", {"auto": "passthrough", "translate": "translate", "passthrough": "passthrough"}),
    ("count_tokens", "anthropic", "deepseek", {"auto": "translate", "translate": "translate", "passthrough": "!"}),
    ("count_tokens", "gemini", "gemini", {"auto": "translate", "translate": "translate", "passthrough": "!"}),
    ("count_tokens", "anthropic", "bedrock", {"auto": "translate", "translate": "translate", "passthrough": "!"}),
    # embeddings: native only, never translated
    ("embeddings", "openai", "openai", {"auto": "passthrough", "translate": "!", "passthrough": "passthrough"}),
    ("embeddings", "openai", "azure", {"auto": "passthrough", "translate": "!", "passthrough": "passthrough"}),
    ("embeddings", "gemini", "gemini", {"auto": "passthrough", "translate": "!", "passthrough": "passthrough"}),
    ("embeddings", "gemini", "openai", {"auto": "!", "translate": "!", "passthrough": "!"}),
    ("embeddings", "openai", "groq", {"auto": "!", "translate": "!", "passthrough": "!"}),
    ("embeddings", "openai", "anthropic", {"auto": "!", "translate": "!", "passthrough": "!"}),
]


@pytest.mark.parametrize(("group", "client", "provider", "expected"), EXAMPLES,
                         ids=[f"{g}-{c}-{p}" for g, c, p, _ in EXAMPLES])
def test_decide_examples(group, client, provider, expected):
    for mode in MODES:
        if expected[mode] == "!":
            refused(group, client, provider, mode)
        else:
            assert run(group, client, provider, mode) == expected[mode], mode


def test_chat_passthrough_message_says_what_to_do():
    message = refused("chat", "anthropic", "groq", "passthrough")
    assert message == ("chat passthrough needs a client speaking openai-chat, the protocol of provider 'groq'; this "
                       "client speaks anthropic. Generate the URL with endpoints.mode 'auto' or 'translate' to have it "
                       "translated.")


def test_unsupported_messages():
    assert refused("embeddings", "openai", "groq", "auto") == \
        "embeddings is not available: provider 'groq' has no embeddings endpoint."
    assert refused("embeddings", "gemini", "openai", "auto") == \
        "embeddings requires native passthrough: the client speaks gemini, provider 'openai' speaks openai-chat."
    assert "never translated" in refused("embeddings", "openai", "openai", "translate")
    assert "'auto' or 'passthrough'" in refused("embeddings", "openai", "openai", "translate")
    assert refused("models", "anthropic", "openai", "passthrough") == (
        "models cannot pass through natively (the client speaks anthropic, provider 'openai' speaks openai-chat); "
        "generate the URL with endpoints.mode 'auto' or 'translate'.")
    # same wire format, but the provider has no native endpoint for it
    assert "'auto' or 'translate'" in refused("count_tokens", "gemini", "gemini", "passthrough")


def test_custom_targets_follow_their_protocol():
    for protocol, family in (("openai-chat", "openai"), ("openai-responses", "openai"), ("anthropic", "anthropic"),
                             ("gemini", "gemini")):
        entry = custom_entry(protocol, "https://llm.example.test")
        assert decide(Endpoint("models", family), entry, protocol, "auto", "custom") == "passthrough"
    entry = custom_entry("openai-chat", "https://llm.example.test/v1")
    with pytest.raises(Unsupported, match="'custom' has no embeddings endpoint"):
        decide(Endpoint("embeddings", "openai"), entry, "openai-chat", "auto", "custom")


# --- decide: the whole table against the module's documented rule ---

CLIENTS = {"chat": ("openai-chat", "openai-responses", "anthropic", "gemini"),
           "models": ("openai", "anthropic", "gemini"),
           "count_tokens": ("anthropic", "gemini"),
           "embeddings": ("openai", "gemini")}


def documented_rule(group: str, client: str, upstream: str, support: str, mode: str) -> str | None:
    """The module docstring, written out: None means UNSUPPORTED_ENDPOINT."""
    if group == "chat":
        if mode == "passthrough":
            return "passthrough" if client == upstream else None
        return "passthrough" if client == upstream else "translate"
    wire_match = client == WIRE_FAMILY[upstream]
    if mode in ("auto", "passthrough") and wire_match and support == "passthrough":
        return "passthrough"
    if mode in ("translate", "auto") and group in ("models", "count_tokens") and support != "unsupported":
        return "translate"
    return None


def test_decide_over_the_whole_table():
    seen = {"passthrough": 0, "translate": 0, None: 0}
    for (provider, entry), group, mode in itertools.product(CATALOG.items(), GROUPS, MODES):
        for client in CLIENTS[group]:
            expected = documented_rule(group, client, entry.protocol, entry.endpoint_support[group], mode)
            seen[expected] += 1
            where = f"{group} {client}->{provider} ({mode})"
            if expected is None:
                with pytest.raises(Unsupported) as caught:
                    decide(Endpoint(group, client), entry, entry.protocol, mode, provider)
                assert caught.value.group == group, where
                assert group in caught.value.message, where
                assert f"'{provider}'" in caught.value.message, where
            else:
                assert decide(Endpoint(group, client), entry, entry.protocol, mode, provider) == expected, where
    assert all(seen.values()), seen


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_has_a_compatible_and_an_incompatible_provider(group):
    """Each group, in each mode, for a provider that can serve it natively and one that cannot."""
    client = {"chat": "openai-chat", "models": "openai", "count_tokens": "anthropic", "embeddings": "openai"}[group]
    compatible = [p for p, e in CATALOG.items()
                  if WIRE_FAMILY[e.protocol] == client.split("-")[0] and e.endpoint_support[group] == "passthrough"
                  or (group == "chat" and e.protocol == client)]
    incompatible = [p for p, e in CATALOG.items() if WIRE_FAMILY[e.protocol] != client.split("-")[0]]
    assert compatible and incompatible
    for mode in MODES:
        expected_native = {"auto": "passthrough", "passthrough": "passthrough",
                           "translate": "passthrough" if group == "chat" else "translate"}[mode]
        if group == "embeddings" and mode == "translate":
            refused(group, client, compatible[0], mode)
        else:
            assert run(group, client, compatible[0], mode) == expected_native
        if group == "embeddings" or mode == "passthrough":
            refused(group, client, incompatible[0], mode)
        else:
            assert run(group, client, incompatible[0], mode) == "translate"


def test_azure_embeddings_pass_through_for_openai_clients():
    # Azure OpenAI's embeddings take OpenAI's body (under its deployment URL): the catalog says passthrough
    assert CATALOG["azure"].endpoint_support["embeddings"] == "passthrough"
    assert run("embeddings", "openai", "azure", "auto") == "passthrough"
    refused("embeddings", "gemini", "azure", "auto")
