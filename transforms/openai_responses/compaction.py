"""Responses compaction for upstreams that have none of their own (pure: no keys, no I/O).

A Responses client compacts a long conversation in one of two ways:

- `POST /v1/responses/compact` answers `{"object": "response.compaction", "output": [the input's user
  messages..., one compaction item]}`;
- a `compaction_trigger` item ending the input of `POST /v1/responses` answers a response whose output is
  one compaction item (streamed: created, in_progress, output_item.added, compaction.compacting,
  output_item.done, completed).

The client keeps the compaction item (`{"type": "compaction", "id", "encrypted_content"}`) and sends it in
later input in place of what it summarises. When the model is served by a Responses upstream, all of this
is the upstream's own (passthrough). For any other upstream the bridge asks the model itself for a summary
(`summary_request`: the conversation, then the bridge's instruction), and the compaction item it returns
holds that summary sealed by the bridge (`addons/compaction.py`: the `PREFIX`, then AES-GCM). In later input
each such item becomes a user message carrying the summary (`read_compaction`): a user message keeps its
place in the conversation on every upstream (a system or developer note would be moved into the one system
prompt, ahead of everything), and it is how Codex itself hands a summary over when it compacts locally.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

import orjson

from transforms.errors import BridgeError, invalid
from transforms.ir import ChatRequest, ChatResponse, Message, TextPart, ToolChoice, Usage
from transforms.openai_responses.encode_response import response_object
from transforms.openai_responses.usage import encode_usage

if TYPE_CHECKING:
    from transforms.codecs import UpstreamCodec

PREFIX = "llmb1."  # the bridge's compaction items: version 1 of its sealed summary
COMPACT_PATHS = frozenset({"/v1/responses/compact", "/responses/compact"})
# compaction endpoint fields a summary has no use for (the encoders would refuse them as unknown)
COMPACT_ONLY = frozenset({"image", "prompt_cache_options"})

SUMMARY_INSTRUCTION = (
    "Compact the conversation above: write a summary that lets the work continue without it. Include the "
    "user's goals and constraints, the decisions made and why, the files, code and commands involved (with "
    "paths and names), what was found or changed, the current state, open questions, and the next steps. "
    "Be complete but concise. Write only the summary, addressed to whoever continues the work."
)
SUMMARY_INTRO = "Summary of the conversation so far (the earlier messages were compacted into it):\n\n"

Task = Literal["compact", "trigger"]


@dataclass(frozen=True, slots=True)
class CompactionInput:
    """A Responses request as compaction sees it."""

    task: Task | None  # "compact" (POST /responses/compact), "trigger" (a compaction_trigger ends input), None
    given: dict  # the body as the client sent it (a compacted answer lists its user messages from it)
    body: dict  # the body with each of the bridge's compaction items opened into a summary message


def read_compaction(path: str, body: dict, open_summary: Callable[[str], str | None]) -> CompactionInput:
    """What the request asks of compaction, and its body with the bridge's compaction items opened.
    `open_summary`: a bridge item's encrypted_content -> its summary, or None when it cannot be opened
    (tampered with, or sealed under a secret this bridge does not hold): a 400 naming the item."""
    items = body.get("input")
    task: Task | None = "compact" if path in COMPACT_PATHS else None
    if not isinstance(items, list):
        return CompactionInput(task, body, body)
    rebuilt: list = []
    opened = False
    for i, item in enumerate(items):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "compaction_trigger":
            if i != len(items) - 1:
                raise invalid(f"Invalid 'input[{i}]': a compaction_trigger item must be the final input item.",
                              f"input[{i}]")
            task = task or "trigger"
        if kind == "compaction" and _is_bridge_item(item):
            summary = open_summary(item["encrypted_content"])
            if summary is None:
                raise invalid(
                    f"Invalid 'input[{i}].encrypted_content': this llm-bridge compaction item cannot be opened: it was "
                    "altered, or sealed under a secret this bridge does not hold (without a proxy-URL secret, each "
                    "bridge process seals with a key of its own). Send the conversation again without it.",
                    f"input[{i}].encrypted_content")
            rebuilt.append(summary_message(summary))
            opened = True
        else:
            rebuilt.append(item)
    return CompactionInput(task, body, {**body, "input": rebuilt} if opened else body)


def summary_message(summary: str) -> dict:
    """The user message a bridge compaction item becomes in later input."""
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": SUMMARY_INTRO + summary}]}


def _is_bridge_item(item: dict) -> bool:
    content = item.get("encrypted_content")
    return isinstance(content, str) and content.startswith(PREFIX)


def unreadable(body: dict) -> None:
    """A 400 naming the first compaction item left in input (OpenAI's own, or any not the bridge's): only a
    Responses upstream can read it, and one of another protocol is about to be asked."""
    items = body.get("input")
    for i, item in enumerate(items if isinstance(items, list) else ()):
        if isinstance(item, dict) and item.get("type") == "compaction":
            raise invalid(
                f"Invalid 'input[{i}]': this compaction item was not made by this bridge (OpenAI's own, or another "
                "server's), so only the server that made it can read it; this model is served by an upstream of "
                "another protocol. Send the conversation again without it.", f"input[{i}]")


def summary_request(request: ChatRequest) -> ChatRequest:
    """The conversation as the client sent it, then the bridge's instruction to summarise it: one whole
    (non-streamed) answer in text. The client's tools stay defined (Anthropic refuses tool_use blocks
    without them) but may not be called."""
    messages = [*request.messages, Message("user", [TextPart(SUMMARY_INSTRUCTION)])]
    return dataclasses.replace(
        request, messages=messages, stream=False, response_format=None,
        tool_choice=ToolChoice("none") if request.tools else None,
        unsupported=[(name, why) for name, why in request.unsupported if name not in COMPACT_ONLY],
    )


def read_summary(upstream: UpstreamCodec, status: int, body: bytes, *, provider: str) -> tuple[str, Usage]:
    """The upstream's answer to `summary_request`: its text and usage, or the upstream's error (BridgeError)."""
    if status >= 400:
        raise upstream.decode_error(status, body, provider=provider, retry_after=None)
    try:
        if upstream.decode_body is not None:
            answer: ChatResponse = upstream.decode_body(body, provider=provider)
        else:
            data = orjson.loads(body)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            answer = upstream.decode_response(data)
    except (ValueError, KeyError, TypeError):
        raise BridgeError("api_error", f"Provider '{provider}' answered the compaction's summary request with a body "
                                       f"that is not a {upstream.name} response.", status=502) from None
    text = "".join(part.text for part in answer.parts if type(part) is TextPart).strip()
    if not text:
        raise BridgeError("api_error", f"Provider '{provider}' answered the compaction's summary request with no text "
                                       f"(finish reason: {answer.finish_reason}); nothing was compacted.", status=502)
    return text, answer.usage


# --- the sealed summary (its plaintext; addons/compaction.py seals it) ------


def summary_plaintext(summary: str, model: str, created: int) -> bytes:
    return orjson.dumps({"summary": summary, "model": model, "created": created})


def summary_of(plaintext: bytes) -> str | None:
    try:
        data = orjson.loads(plaintext)
    except orjson.JSONDecodeError:
        return None
    summary = data.get("summary") if isinstance(data, dict) else None
    return summary if isinstance(summary, str) else None


# --- the answers ------------------------------------------------------------


def compaction_item(item_id: str, encrypted_content: str) -> dict:
    return {"id": item_id, "type": "compaction", "encrypted_content": encrypted_content}


def user_messages(body: dict, rid: str) -> list[dict]:
    """Every user message of the client's input, as a compacted answer lists them (its own compaction items,
    summarised anew, are not)."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    kept = []
    for n, item in enumerate(items if isinstance(items, list) else ()):
        if not (isinstance(item, dict) and item.get("type", "message") == "message" and item.get("role") == "user"):
            continue
        content = item.get("content")
        if isinstance(content, str):
            content = [{"type": "input_text", "text": content}]
        kept.append({"id": item.get("id") if isinstance(item.get("id"), str) else f"msg_{rid}_{n}",
                     "type": "message", "role": "user", "status": "completed", "content": content})
    return kept


def compacted_response(given: dict, item: dict, *, rid: str, created: int, usage: Usage) -> dict:
    """The answer to POST /responses/compact."""
    return {"id": rid, "object": "response.compaction", "created_at": created,
            "output": [*user_messages(given, rid), item], "usage": encode_usage(usage)}


def triggered_response(request: ChatRequest, item: dict, *, rid: str, created: int, usage: Usage) -> dict:
    """The answer to a compaction_trigger: a response whose output is the compaction item."""
    return response_object(rid, request, created, "completed", [item], encode_usage(usage))


def triggered_events(request: ChatRequest, item: dict, *, rid: str, created: int, usage: Usage) -> bytes:
    """The same answer streamed, as OpenAI streams it."""
    started = response_object(rid, request, created, "in_progress", [], None)
    events = [
        ("response.created", {"response": started}),
        ("response.in_progress", {"response": started}),
        ("response.output_item.added", {"output_index": 0, "item": item}),
        ("response.compaction.compacting", {"output_index": 0, "item_id": item["id"]}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.completed", {"response": triggered_response(request, item, rid=rid, created=created, usage=usage)}),
    ]
    return b"".join(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **fields,
                                                                              "sequence_number": n}) + b"\n\n"
                    for n, (kind, fields) in enumerate(events))


def compact_url(responses_url: str) -> str:
    """A Responses upstream's own compaction endpoint, next to its /responses."""
    url, query_mark, query = responses_url.partition("?")
    return url.rstrip("/") + "/compact" + query_mark + query
