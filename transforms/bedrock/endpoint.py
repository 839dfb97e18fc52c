"""Where and how a Bedrock InvokeModel request is sent: the model and streaming are in the path."""

from __future__ import annotations

from transforms.client_strings import path_segment


def invoke_url(base_url: str, model: str = "", stream: bool = False, options=None) -> str:
    # As botocore renders the modelId label: one segment, everything but unreserved characters
    # escaped (":" -> %3A, and "/" -> %2F in ARNs); a name of dots only is escaped too, so it
    # cannot be a dot-segment. SigV4 signs this exact path.
    action = "invoke-with-response-stream" if stream else "invoke"
    return f"{base_url.rstrip('/')}/model/{path_segment(model)}/{action}"


def request_headers(api_key: str | None) -> dict[str, str]:
    # no key header: the proxy signs the finished request (addons/credentials/aws_sigv4.py)
    return {}
