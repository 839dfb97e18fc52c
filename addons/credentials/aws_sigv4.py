"""AWS Signature Version 4 for upstreams that take it instead of an API key (Amazon Bedrock).

botocore's own signer does the work, so a request is signed exactly as boto3's
bedrock-runtime client signs it. Note the signing name: Bedrock's runtime endpoint
(`bedrock-runtime.{region}.amazonaws.com`) signs as service `bedrock`.
"""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# set by the signer; stale copies (a retried request) are replaced, not sent twice
SIGNATURE_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")


def sign(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    region: str,
    service: str = "bedrock",
) -> dict[str, str]:
    """The headers to send: `headers`, all of which are signed, plus `host`, `x-amz-date`,
    `authorization` and, with temporary credentials, `x-amz-security-token`.

    `url` is the URL as sent, path already percent-encoded (see transforms/bedrock/endpoint.py).
    Headers changed after signing invalidate the signature; add unsigned ones (user-agent) freely.
    """
    unsigned = {name: value for name, value in headers.items() if name.lower() not in SIGNATURE_HEADERS}
    request = AWSRequest(method=method, url=url, headers=unsigned, data=body)
    signer = SigV4Auth(Credentials(access_key_id, secret_access_key, session_token), service, region)
    signer.add_auth(request)
    signed = {**unsigned, "x-amz-date": request.headers["X-Amz-Date"], "authorization": request.headers["Authorization"]}
    if session_token:
        signed["x-amz-security-token"] = session_token
    if not any(name.lower() == "host" for name in unsigned):
        # botocore signs the host it derives from the URL but leaves sending it to the HTTP client;
        # named here so the proxy sends exactly the signed value
        signed["host"] = signer.headers_to_sign(request)["host"]
    return signed
