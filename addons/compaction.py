"""Responses compaction when the model's upstream has none of its own: the summary call and the sealed item.

`POST /v1/responses/compact` and a `compaction_trigger` item to a model served by an Anthropic,
OpenAI-compatible, Gemini (or any non-Responses) upstream: the bridge asks that model for a summary of the
conversation (transforms/openai_responses/compaction.py builds the request), once and whole, through the one
upstream interface (`UpstreamCalls.fetch`, the configured bounds and retries), and answers with a compaction
item whose `encrypted_content` is the summary sealed here. A later request that carries the item gets the
summary back as a user message; the bridge keeps nothing between the two (the item is self-contained).

The seal: `llmb1.` + base64url(nonce(12) || AES-256-GCM(summary JSON) || tag(16)), the prefix authenticated
as associated data. The key is HKDF-SHA256 of the proxy-URL secret (`bridge_url_secret` /
`BRIDGE_URL_SECRET`) with a salt and info of its own, so it is never the key that seals proxy URLs (a
proxy-URL token, which holds provider keys, never opens as a compaction item, nor the reverse). Every
listed secret opens (rotation), the first seals. Without a secret, a random key made for this process
seals: its items open only until the bridge restarts, which the log says once.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from mitmproxy import http

from addons.answers import json_response
from addons.credentials.credential import Credential
from addons.guards.header_values import header_fields
from addons.model_router import Destination
from addons.upstream.calls import UpstreamCalls
from transforms.call_plan import CallPlan
from transforms.ir import ChatRequest
from transforms.openai_responses import compaction as pure

log = logging.getLogger(__name__)

NONCE_BYTES = 12
TAG_BYTES = 16
_SALT = b"llm-bridge responses compaction v1"
_INFO = b"aes-256-gcm compaction item"
_ASSOCIATED = pure.PREFIX.encode()


def _cipher(secret: str | bytes) -> AESGCM:
    material = secret.encode("utf-8") if isinstance(secret, str) else secret
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(material))


class CompactionSeal:
    """Seals a summary into a compaction item's encrypted_content, and opens one (None: not openable here)."""

    def __init__(self, secrets: Callable[[], Sequence[str]] = tuple) -> None:
        self._secrets = secrets  # the proxy-URL secrets as configured now, newest first
        self._keyed: tuple[tuple[str, ...], tuple[AESGCM, ...]] = ((), ())
        self._process: AESGCM | None = None  # without a secret: a key of this process only

    def _ciphers(self) -> tuple[AESGCM, ...]:
        secrets = tuple(self._secrets() or ())
        if secrets != self._keyed[0]:
            self._keyed = (secrets, tuple(_cipher(s) for s in secrets))
        ciphers = self._keyed[1]
        if self._process is not None:
            ciphers += (self._process,)  # (items sealed before a secret was set still open in this process)
        return ciphers

    def seal(self, plaintext: bytes) -> str:
        ciphers = self._ciphers()
        if not self._keyed[1]:
            if self._process is None:
                self._process = _cipher(os.urandom(32))
                log.warning("llm-bridge: no proxy-URL secret is set, so compaction items are sealed with a key of "
                            "this process: they cannot be read after a restart. Set BRIDGE_URL_SECRET (or --set "
                            "bridge_url_secret=...) to keep them readable.")
            ciphers = (self._process,)
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + ciphers[0].encrypt(nonce, plaintext, _ASSOCIATED)
        return pure.PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, content: str) -> bytes | None:
        if not content.startswith(pure.PREFIX):
            return None
        token = content[len(pure.PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token or len(raw) < NONCE_BYTES + TAG_BYTES:
            return None  # only the canonical spelling opens
        nonce, ciphertext = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        for cipher in self._ciphers():
            try:
                return cipher.decrypt(nonce, ciphertext, _ASSOCIATED)
            except InvalidTag:
                continue
        return None


class Compaction:
    def __init__(self, upstream: UpstreamCalls, secrets: Callable[[], Sequence[str]] = tuple) -> None:
        self._upstream = upstream
        self.seal = CompactionSeal(secrets)

    def open_summary(self, encrypted_content: str) -> str | None:
        """A bridge compaction item's summary, or None when this bridge cannot open it."""
        plaintext = self.seal.open(encrypted_content)
        return None if plaintext is None else pure.summary_of(plaintext)

    async def answer(self, flow: http.HTTPFlow, compaction: pure.CompactionInput, request: ChatRequest,
                     plan: CallPlan, credential: Credential, destination: Destination) -> dict:
        """Ask the model for the summary (`plan`, built from `pure.summary_request`) and answer the client with
        the compaction item, in the shape its request asked for. Returns the item. Raises BridgeError."""
        provider = destination.provider.name
        started = time.monotonic()
        status, body = await self._upstream.fetch(plan, credential, provider=provider)
        summary, usage = pure.read_summary(plan.translation.upstream, status, body, provider=provider)
        created = int(time.time())
        item = pure.compaction_item(f"cmp_{uuid.uuid4().hex}",
                                    self.seal.seal(pure.summary_plaintext(summary, request.model, created)))
        rid = f"resp_{uuid.uuid4().hex}"
        headers = {"x-llm-bridge-provider": provider, "x-llm-bridge-upstream-model": destination.upstream_model}
        if compaction.task == "compact":
            answer = pure.compacted_response(compaction.given, item, rid=rid, created=created, usage=usage)
            flow.response = json_response(200, orjson.dumps(answer), headers)
        elif request.stream:
            events = pure.triggered_events(request, item, rid=rid, created=created, usage=usage)
            flow.response = http.Response.make(200, events, header_fields(
                {"content-type": "text/event-stream", "cache-control": "no-cache", **headers}))
        else:
            answer = pure.triggered_response(request, item, rid=rid, created=created, usage=usage)
            flow.response = json_response(200, orjson.dumps(answer), headers)
        log.info(f"llm-bridge: compacted the conversation ({compaction.task}) with provider '{provider}' "
                 f"({destination.upstream_model}): a summary of {len(summary)} characters, in "
                 f"{time.monotonic() - started:.1f} s")
        return item
