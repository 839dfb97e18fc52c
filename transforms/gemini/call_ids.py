"""Gemini thought signatures ride in the tool-call id through other client protocols.

Gemini 3 rejects a follow-up turn unless each step's first functionCall part
carries the `thoughtSignature` it was issued. OpenAI and Anthropic clients
have no field for it, but they hand tool-call ids back unchanged, so the id
becomes `<call id>__gsig_<signature as base64url>`: stateless, and still a
valid tool id (letters, digits, `_`, `-`). The cost: such ids are long.
"""

from __future__ import annotations

import base64
import binascii

MARK = "__gsig_"


def pack(call_id: str, signature: str | None) -> str:
    if not signature:
        return call_id
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raw = signature.encode()
    return f"{call_id}{MARK}{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"


def unpack(call_id: str) -> tuple[str, str | None]:
    """(the call id as Gemini issued it, the thought signature or None)."""
    base, mark, packed = call_id.partition(MARK)
    if not mark:
        return call_id, None
    raw = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
    return base, base64.b64encode(raw).decode()


_WRAPPED = b"llm-bridge:"


def to_gemini_signature(signature: str) -> str:
    """Gemini clients (the google-genai SDK) read thoughtSignature as base64 bytes: another upstream's
    signature that is not base64 (e.g. Responses' `rs_...:...`) is wrapped so it survives the round trip."""
    try:
        base64.b64decode(signature, validate=True)
        return signature
    except (binascii.Error, ValueError):
        return base64.b64encode(_WRAPPED + signature.encode()).decode()


def from_gemini_signature(signature: str | None) -> str | None:
    if not signature:
        return signature
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return signature
    return raw[len(_WRAPPED):].decode() if raw.startswith(_WRAPPED) else signature
