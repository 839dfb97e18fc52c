"""Neutral `ChatRequest` -> the body of a Bedrock InvokeModel call to an Anthropic model.

That is the Anthropic Messages body with Bedrock's differences: no `model` and no `stream`
(the path says both), `anthropic_version` in the body, and only the fields Bedrock's schema
lists; it answers 400 "Extra inputs are not permitted" to the others.
"""

from __future__ import annotations

import re

import orjson

from transforms.anthropic.encode_request import encode_messages_request
from transforms.errors import invalid
from transforms.ir import ChatRequest, ImagePart, ToolResultPart
from transforms.upstream_options import UpstreamOptions

ANTHROPIC_VERSION = "bedrock-2023-05-31"

# us.anthropic.claude-sonnet-4-20250514-v1:0, or an ARN ending in one -> claude-sonnet-4-20250514
_CLAUDE_NAME = re.compile(r"(?:^|[./])(claude[^/:]*?)(?:-v\d+(?::\w+)*)?$")


def encode_invoke_request(
    request: ChatRequest, *, upstream_model: str, options: UpstreamOptions = UpstreamOptions()
) -> dict:
    _refuse_image_urls(request)
    # The Claude name inside the Bedrock id picks the model's default max_tokens; the id itself is in the path.
    body = encode_messages_request(request, upstream_model=claude_name(upstream_model), options=options)
    del body["model"]
    body.pop("stream", None)
    body.pop("metadata", None)  # an end-user id for Anthropic's abuse checks; not in Bedrock's schema
    output_config = body.pop("output_config", None)
    if output_config is not None:
        # Structured outputs are not in Bedrock's InvokeModel schema: the schema is asked for in words.
        schema = orjson.dumps(output_config["format"]["schema"]).decode()
        instruction = (
            "Respond only with a single JSON object that conforms to this JSON Schema, "
            f"with no text before or after it: {schema}"
        )
        body["system"] = f"{body['system']}\n\n{instruction}" if body.get("system") else instruction
    return {"anthropic_version": ANTHROPIC_VERSION, **body}


def claude_name(model_id: str) -> str:
    """The Anthropic model name in a Bedrock model id, inference profile or ARN (the id itself when none)."""
    found = _CLAUDE_NAME.search(model_id)
    return found[1] if found else model_id


def _refuse_image_urls(request: ChatRequest) -> None:
    """Bedrock takes images inline only, and the bridge does not fetch URLs on a client's behalf."""
    for message in request.messages:
        for part in message.parts:
            parts = part.content if isinstance(part, ToolResultPart) else (part,)
            for image in parts:
                if isinstance(image, ImagePart) and image.data is None:
                    raise invalid(
                        f"Amazon Bedrock accepts images only as inline base64 data, not by URL ({image.url}); "
                        "send the image as a data: URL instead.",
                        "messages",
                    )
