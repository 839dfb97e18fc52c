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
