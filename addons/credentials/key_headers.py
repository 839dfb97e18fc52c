"""How a provider's key (or signature) is presented upstream, per auth type.

    bearer     Authorization: Bearer <key>
    x-api-key  the protocol's key header: x-api-key (Anthropic, others), x-goog-api-key (Gemini)
    azure      api-key: <key>
    none       nothing
    (unset)    the protocol's own convention (the codec's `headers`)
AWS providers carry no key: each attempt is signed with SigV4 (`signer`).
"""

from __future__ import annotations

from typing import Callable

from addons.config import ProviderConfig
from transforms.codecs import UpstreamCodec

KEY_HEADER = {"gemini": "x-goog-api-key"}

CredentialHeaders = Callable[[str | None], dict[str, str]]


def credential_headers(provider: ProviderConfig, upstream: UpstreamCodec) -> CredentialHeaders:
    auth_type = provider.auth_type
    if auth_type is None:
        return upstream.headers
    base = upstream.headers(None)  # version headers and the like, no key
    if auth_type == "none":
        return lambda _key: dict(base)
    name = {"bearer": "authorization", "azure": "api-key"}.get(auth_type) or KEY_HEADER.get(upstream.name, "x-api-key")
    prefix = "Bearer " if auth_type == "bearer" else ""
    return lambda key: {**base, name: prefix + key} if key else dict(base)


def signer(provider: ProviderConfig) -> Callable[[str, str, list[tuple[bytes, bytes]], bytes], dict[str, str]] | None:
    aws = provider.aws
    if aws is None:
        return None

    from addons.credentials.aws_sigv4 import sign as sigv4_sign  # noqa: PLC0415 - botocore loads only for AWS providers

    def sign(method: str, url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> dict[str, str]:
        given = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        signed = sigv4_sign(method, url, given, body, access_key_id=aws.access_key_id,
                            secret_access_key=aws.secret_access_key, session_token=aws.session_token, region=aws.region)
        return {k: v for k, v in signed.items() if k.lower() not in given}

    return sign
