"""The protocol names, listed once.

A client protocol is one a client may speak to the bridge; an upstream protocol
is one the bridge may speak to a provider. The codec registry
(`transforms/codecs.py`), the configuration's validation, the proxy-URL
generator and the provider catalog all take their names from here.
"""

from __future__ import annotations

from typing import Literal, get_args

ClientProtocol = Literal["openai-chat", "openai-responses", "anthropic", "gemini"]
UpstreamProtocol = Literal["openai-chat", "anthropic", "openai-responses", "gemini", "trae", "azure", "bedrock"]

CLIENT_PROTOCOLS: tuple[str, ...] = get_args(ClientProtocol)
UPSTREAM_PROTOCOLS: tuple[str, ...] = get_args(UpstreamProtocol)
