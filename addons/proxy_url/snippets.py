"""What a person pastes to use a proxy URL: the environment block for their
client's SDK, a curl call that works as is, and notes on what the URL does."""

from __future__ import annotations

import shlex

import orjson

from addons.proxy_url.config import ProxyConfig

PLACEHOLDER_KEY = "proxy-placeholder"  # the URL carries the real key; SDKs still want one set


def snippets(config: ProxyConfig, proxy_url: str) -> dict:
    source = config.source.protocol
    # a wildcard key (`claude-*`) is no model name: the example names an exact one, else a typical one
    exact = next((name for name in config.model.map if "*" not in name), None)
    model = config.model.force or exact or _example_model(source)
    if source == "anthropic":
        env = [f"export ANTHROPIC_BASE_URL={proxy_url}", f"export ANTHROPIC_API_KEY={PLACEHOLDER_KEY}"]
        body = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": "Hello"}]}
        curl = _curl(f"{proxy_url}/v1/messages", body, ["x-api-key: " + PLACEHOLDER_KEY, "anthropic-version: 2023-06-01"])
    elif source == "gemini":
        env = [f"export GOOGLE_GEMINI_BASE_URL={proxy_url}", f"export GEMINI_API_KEY={PLACEHOLDER_KEY}"]
        body = {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}
        curl = _curl(f"{proxy_url}/v1beta/models/{model}:generateContent", body, ["x-goog-api-key: " + PLACEHOLDER_KEY])
    else:
        env = [f"export OPENAI_BASE_URL={proxy_url}/v1", f"export OPENAI_API_KEY={PLACEHOLDER_KEY}"]
        if source == "openai-responses":
            body = {"model": model, "input": "Hello"}
            curl = _curl(f"{proxy_url}/v1/responses", body, ["authorization: Bearer " + PLACEHOLDER_KEY])
        else:
            body = {"model": model, "messages": [{"role": "user", "content": "Hello"}]}
            curl = _curl(f"{proxy_url}/v1/chat/completions", body, ["authorization: Bearer " + PLACEHOLDER_KEY])
    return {"proxyUrl": proxy_url, "envBlock": "\n".join(env), "curlExample": curl, "notes": _notes(config)}


def _example_model(source: str) -> str:
    return {"anthropic": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash"}.get(source, "gpt-4.1")


def _curl(url: str, body: dict, headers: list[str]) -> str:
    parts = [f"curl {shlex.quote(url)}"]
    parts += [f"  -H {shlex.quote(h)}" for h in [*headers, "content-type: application/json"]]
    parts.append(f"  -d {shlex.quote(orjson.dumps(body).decode())}")
    return " \\\n".join(parts)


def _notes(config: ProxyConfig) -> list[str]:
    target = config.target
    notes = [
        "The URL carries your upstream credentials, encrypted: treat it like the key itself. "
        "Anyone holding it can spend on your account until you revoke the key or the bridge drops its secret.",
        "Any API key works in the client (the bridge ignores it); the placeholder is there because SDKs insist on one.",
        f"Requests go to {target.resolved_base_url} ({config.provider_label}, {target.resolved_protocol}).",
    ]
    if config.model.mode == "force":
        notes.append(f"Every request uses the model '{config.model.force}', whatever the client names.")
    elif config.model.map:
        notes.append("Model names are mapped: " + ", ".join(f"{k} -> {v}" for k, v in config.model.map.items()) + ".")
    if config.model.stripClientSuffix:
        notes.append("Client suffixes such as [1m] are stripped from model names.")
    support = target.entry.endpoint_support
    notes.append("Endpoint groups: " + ", ".join(f"{group} {how}" for group, how in support.items())
                 + f" (mode {config.endpoints.mode}).")
    if config.source.protocol == "anthropic":
        notes.append("Claude Code: put the ANTHROPIC_BASE_URL line in your shell, or in ~/.claude/settings.json under \"env\".")
    return notes
