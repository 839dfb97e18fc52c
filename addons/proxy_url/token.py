"""Proxy-URL tokens: a whole upstream configuration, keys included, sealed into
one URL path segment so the bridge keeps no state.

    token = base64url_nopad( version(1) || nonce(12) || AES-256-GCM(config JSON) || tag(16) )

The key is HKDF-SHA256 of a server secret. Several secrets may be listed, newest
first: new tokens are sealed with the first, and a token opens while the secret
that sealed it is still listed (rotation without breaking every URL at once).
The version byte is authenticated too (it is the GCM associated data), so it
cannot be changed without the tag failing.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_SALT = b"llm-bridge proxy-url v1"
_INFO = b"aes-256-gcm config token"
MIN_SECRET_CHARS = 32  # HKDF is fast: the secret itself must be too long to guess offline


class InvalidToken(Exception):
    """The token cannot be opened: tampered with, sealed under a secret no longer listed, or unknown version."""


def derive_key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(secret.encode("utf-8"))


def parse_secrets(value: str) -> tuple[str, ...]:
    """`BRIDGE_URL_SECRET` / `bridge_url_secret`: comma-separated, newest first."""
    return tuple(s.strip() for s in value.split(",") if s.strip())


@dataclass(frozen=True)
class TokenSealer:
    """Seals with the first secret, opens with any listed one. Keys are derived once."""

    secrets: Sequence[str] = field(repr=False)  # a logged sealer must not show them
    _ciphers: tuple[AESGCM, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.secrets:
            raise ValueError("no proxy-URL secret is set")
        short = [i for i, s in enumerate(self.secrets) if len(s) < MIN_SECRET_CHARS]
        if short:
            raise ValueError(f"proxy-URL secret #{short[0] + 1} is shorter than {MIN_SECRET_CHARS} characters")
        object.__setattr__(self, "_ciphers", tuple(AESGCM(derive_key(s)) for s in self.secrets))

    def seal(self, plaintext: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        header = bytes([VERSION])
        sealed = header + nonce + self._ciphers[0].encrypt(nonce, plaintext, header)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, token: str) -> bytes:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise InvalidToken("the token is not base64url") from None
        # the decoder skips stray characters and unused low bits: only the canonical spelling opens
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
            raise InvalidToken("the token is not canonical base64url")
        if len(raw) < 1 + NONCE_BYTES + TAG_BYTES:
            raise InvalidToken("the token is too short")
        if raw[0] != VERSION:
            raise InvalidToken(f"unknown token version {raw[0]}")
        header, nonce, ciphertext = raw[:1], raw[1:1 + NONCE_BYTES], raw[1 + NONCE_BYTES:]
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, ciphertext, header)
            except InvalidTag:
                continue
        raise InvalidToken("the token was altered or sealed with a secret this bridge no longer lists")
