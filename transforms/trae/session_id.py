"""A conversation's Trae session id, derived rather than stored.

Trae ties turns together by `session_id`/`conversation_id`. The bridge keeps no
state, so the id is a hash of the conversation's first message: every request of
one conversation repeats that message and so gets the same id.
"""

from __future__ import annotations

import hashlib
import uuid


def derive_session_id(role: str, text: str) -> str:
    digest = hashlib.sha256(f"{role}: {text}".encode()).digest()
    # shaped as a random (version 4) UUID, as the Trae IDE sends
    return str(uuid.UUID(bytes=digest[:16], version=4))
