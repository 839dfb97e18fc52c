"""Gemini usageMetadata -> neutral `Usage`. It is cumulative: each chunk repeats the totals so far."""

from __future__ import annotations

from transforms.ir import Usage


def decode_usage(meta: dict) -> Usage:
    prompt = meta.get("promptTokenCount") or 0
    cached = meta.get("cachedContentTokenCount") or 0
    thoughts = meta.get("thoughtsTokenCount") or 0
    output = (meta.get("candidatesTokenCount") or 0) + thoughts  # thinking is billed as output
    return Usage(max(prompt - cached, 0), output, cached, 0, thoughts or None)
