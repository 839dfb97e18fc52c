"""A local estimate of a request's input tokens, for count_tokens and for the
input usage Anthropic clients expect in `message_start` before an
OpenAI-compatible upstream has reported any.

Calibrated against 20 real Anthropic request/usage pairs (README): prose runs
about 4.5 characters per token; any request with tools carries a hidden
tool-use prompt of several hundred tokens; a structured-output schema is
counted like a tool; an image costs about width x height / 750 tokens (at most
1600, the size Anthropic rescales to), read from a base64 PNG, GIF or JPEG
header, and 1600 when its size is unknown (URLs).
"""

from __future__ import annotations

import base64
import binascii
import struct

import orjson

from transforms.ir import ChatRequest, ImagePart, TextPart, ThinkingPart, ToolCallPart, ToolResultPart

CHARS_PER_TOKEN = 4.5
TOKENS_PER_MESSAGE = 3
TOKENS_PER_TOOL = 10
TOOL_USE_OVERHEAD = 400  # the system prompt Anthropic adds when tools are present
OUTPUT_SCHEMA_OVERHEAD = 200  # the same for a structured-output schema
MAX_IMAGE_TOKENS = 1600
PIXELS_PER_TOKEN = 750
BASE_TOKENS = 4


def estimate_input_tokens(request: ChatRequest) -> int:
    chars = sum(len(s) for s in request.system)
    tokens = BASE_TOKENS
    for message in request.messages:
        tokens += TOKENS_PER_MESSAGE
        for part in message.parts:
            chars, tokens = _part(part, chars, tokens)
    if request.tools:
        tokens += TOOL_USE_OVERHEAD + TOKENS_PER_TOOL * len(request.tools)
        for tool in request.tools:
            chars += len(tool.name) + len(tool.description or "") + len(orjson.dumps(tool.parameters or {}))
    fmt = request.response_format
    if fmt is not None and fmt.schema is not None:
        tokens += OUTPUT_SCHEMA_OVERHEAD
        chars += len(orjson.dumps(fmt.schema))
    return tokens + int(chars / CHARS_PER_TOKEN + 0.999)


def _part(part, chars: int, tokens: int) -> tuple[int, int]:
    if isinstance(part, TextPart):
        return chars + len(part.text), tokens
    if isinstance(part, ImagePart):
        return chars, tokens + image_tokens(part)
    if isinstance(part, ThinkingPart):
        return chars + len(part.text), tokens
    if isinstance(part, ToolCallPart):
        return chars + len(part.name) + len(orjson.dumps(part.arguments)), tokens
    if isinstance(part, ToolResultPart):
        for inner in part.content:
            chars, tokens = _part(inner, chars, tokens)
        return chars, tokens + TOKENS_PER_MESSAGE
    return chars, tokens


def image_tokens(image: ImagePart) -> int:
    size = image_size(image.data) if image.data else None
    if size is None:
        return MAX_IMAGE_TOKENS
    width, height = size
    return max(1, min(MAX_IMAGE_TOKENS, width * height // PIXELS_PER_TOKEN))


def image_size(data: str) -> tuple[int, int] | None:
    """(width, height) from the header of a base64 PNG, GIF or JPEG; None when unknown."""
    try:
        head = base64.b64decode(data[: 64 * 1024 // 3 * 4], validate=False)
    except (binascii.Error, ValueError):
        return None
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(head)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None
