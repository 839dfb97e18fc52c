"""A local estimate of a request's input tokens, for count_tokens and for the
input usage Anthropic clients expect in `message_start` before an
OpenAI-compatible upstream has reported any.

About 4 characters per token for text and JSON (tool schemas, tool inputs),
a fixed cost per image and per message. README states its accuracy.
"""

from __future__ import annotations

import orjson

from transforms.ir import ChatRequest, ImagePart, TextPart, ThinkingPart, ToolCallPart, ToolResultPart

CHARS_PER_TOKEN = 4
TOKENS_PER_IMAGE = 1600  # Anthropic's figure for a ~1.15 megapixel image, the size it rescales to
TOKENS_PER_MESSAGE = 3
TOKENS_PER_TOOL = 10
BASE_TOKENS = 4


def estimate_input_tokens(request: ChatRequest) -> int:
    chars = sum(len(s) for s in request.system)
    tokens = BASE_TOKENS
    for message in request.messages:
        tokens += TOKENS_PER_MESSAGE
        for part in message.parts:
            chars, tokens = _part(part, chars, tokens)
    for tool in request.tools:
        tokens += TOKENS_PER_TOOL
        chars += len(tool.name) + len(tool.description or "") + len(orjson.dumps(tool.parameters or {}))
    return tokens + (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _part(part, chars: int, tokens: int) -> tuple[int, int]:
    if isinstance(part, TextPart):
        return chars + len(part.text), tokens
    if isinstance(part, ImagePart):
        return chars, tokens + TOKENS_PER_IMAGE
    if isinstance(part, ThinkingPart):
        return chars + len(part.text), tokens
    if isinstance(part, ToolCallPart):
        return chars + len(part.name) + len(orjson.dumps(part.arguments)), tokens
    if isinstance(part, ToolResultPart):
        for inner in part.content:
            chars, tokens = _part(inner, chars, tokens)
        return chars, tokens + TOKENS_PER_MESSAGE
    return chars, tokens
