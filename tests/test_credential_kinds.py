"""One credential object per provider behind one small interface (issue 12, point 1): what each kind
presents, how a pool rotates and rests its keys, the client's own key, a refresh token, SigV4."""

from __future__ import annotations

import time

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from addons.config import AwsConfig, ProviderConfig
from addons.credentials.credential import PooledKeys, RefreshedToken, credential_for
from addons.credentials.key_pool import KeyPool
from addons.credentials.token_file import StoreEntry, TokenSet
from addons.credentials.workos import WorkOSRefresher
from tests.simulator.workos import WorkOSSimulator
from tests.test_credentials import Upstream, credential
from transforms.errors import BridgeError


def provider(**fields) -> ProviderConfig:
    return ProviderConfig(**{"name": "p", "protocol": "anthropic", "base_url": "https://up.test", **fields})


def pick(p: ProviderConfig, protocol: str | None = None, *, refreshed=None, client_headers=None, tokens=False,
         key_pool=None):
    pools = {p.name: KeyPool(p.name, p.keys, p.key_cooldown_seconds)}
    return credential_for(p, protocol or p.protocol, refreshed=refreshed or {}, pools=pools,
                          client_headers=client_headers or {}, bridge_has_tokens=tokens, key_pool=key_pool)


@pytest.mark.parametrize(("fields", "protocol", "presented"), [
    ({"api_key": "k1"}, "anthropic", {"x-api-key": "k1"}),
    ({"api_key": "k1"}, "openai-chat", {"authorization": "Bearer k1"}),
    ({"api_key": "k1"}, "gemini", {"x-goog-api-key": "k1"}),
    ({"api_key": "k1", "auth_type": "bearer"}, "anthropic", {"authorization": "Bearer k1"}),
    ({"api_key": "k1", "auth_type": "azure"}, "openai-chat", {"api-key": "k1"}),
    ({"api_key": "k1", "auth_type": "none"}, "openai-chat", {}),
])
async def test_a_key_is_presented_as_its_protocol_or_auth_type_says(fields, protocol, presented):
    cred = pick(provider(**fields), protocol)
    key = await cred.first_key()
    headers = cred.headers(key)
    assert {k: v for k, v in headers.items() if k in ("x-api-key", "authorization", "x-goog-api-key", "api-key")} == presented
    # what the flow may show: the presentation without the secret
    assert "k1" not in str(cred.headers(None))


async def test_a_pool_rotates_and_rests_a_key_answered_429():
    cred = pick(provider(api_keys=["a", "b", "c"], key_cooldown_seconds=60))
    assert isinstance(cred, PooledKeys)
    first = await cred.first_key()
    cred.report(first, 429)  # as the relay does with every answer
    after = cred.next_key(first)
    assert after != first
    seen = {await cred.first_key() for _ in range(6)}
    assert first not in seen and seen == {"a", "b", "c"} - {first}


async def test_a_pool_whose_keys_all_rest_refuses_before_anything_is_sent():
    cred = pick(provider(api_keys=["a", "b"], key_cooldown_seconds=60))
    for key in ("a", "b"):
        cred.report(key, 401)
    with pytest.raises(BridgeError) as refused:
        await cred.first_key()
    assert refused.value.kind == "rate_limit" and refused.value.retry_after
    assert cred.next_key("a") == "a"  # a retry already under way keeps its key rather than failing


@pytest.mark.parametrize(("headers", "tokens", "key"), [
    ({"x-api-key": "client-k"}, False, "client-k"),
    ({"authorization": "Bearer client-k"}, False, "client-k"),
    ({"authorization": "Bearer bridge-token"}, True, None),  # the bridge's own token is never passed upstream
    ({"authorization": "Bearer bridge-token", "x-api-key": "client-k"}, True, "client-k"),
    ({"x-goog-api-key": "client-k"}, False, "client-k"),
])
async def test_the_clients_own_key(headers, tokens, key):
    cred = pick(provider(client_key=True), client_headers=headers, tokens=tokens)
    assert await cred.first_key() == key


async def test_a_proxy_urls_keys_replace_the_providers_credentials(tmp_path):
    pool = KeyPool("url", ["url-key"], 60)
    cred = pick(provider(api_key="configured"), refreshed={"p": object()}, key_pool=pool)
    assert isinstance(cred, PooledKeys) and await cred.first_key() == "url-key"


async def test_a_refresh_token_credential_refreshes_after_a_401(tmp_path):
    workos = WorkOSSimulator(refresh_tokens=["rt0"])
    async with Upstream(workos) as base, httpx.AsyncClient() as client:
        entry = StoreEntry(tmp_path / "s.json", "p")
        entry.write(TokenSet("at-revoked", "rt0", time.time() + 8 * 3600))
        source = credential(entry, WorkOSRefresher(base + "/user_management/authenticate"), client)
        factory = provider(preset="factory", base_url="https://factory.test", auth={"type": "workos", "refresh_token": "rt0"})
        cred = pick(factory, "anthropic", refreshed={"p": source})
        assert isinstance(cred, RefreshedToken) and cred.refreshes
        assert await cred.first_key() == "at-revoked"
        # Factory's presentation (its preset's): the token as a bearer, a placeholder x-api-key
        assert cred.headers("at-revoked") == {"authorization": "Bearer at-revoked", "x-api-key": "placeholder"}
        fresh = await cred.after_rejection("at-revoked")
        assert fresh != "at-revoked" and workos.is_valid_access_token(fresh)


async def test_an_aws_provider_signs_every_attempt_as_botocore_does():
    aws = AwsConfig(access_key_id="AKIDEXAMPLE", secret_access_key="secret", region="us-east-1")
    cred = pick(provider(protocol="bedrock", base_url="https://bedrock-runtime.us-east-1.amazonaws.com", aws=aws))
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke"
    body = b'{"messages": []}'
    sent = [(b"host", b"bedrock-runtime.us-east-1.amazonaws.com"), (b"content-type", b"application/json")]
    signed = cred.sign("POST", url, sent, body)
    assert signed["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    # botocore, given the same request at the same time, computes the same signature
    request = AWSRequest("POST", url, data=body, headers={"host": "bedrock-runtime.us-east-1.amazonaws.com",
                                                          "content-type": "application/json",
                                                          "x-amz-date": signed["x-amz-date"]})
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "bedrock", "us-east-1").add_auth(request)
    assert request.headers["Authorization"].split("Signature=")[1] == signed["authorization"].split("Signature=")[1]
