"""Neutral stream events -> OpenAI Responses SSE (the client side).

    response.created · response.in_progress ·
    per output item: output_item.added ·
      reasoning: reasoning_summary_part.added · reasoning_summary_text.delta ... · .done · part.done
      message:   content_part.added · output_text.delta ... · output_text.done · content_part.done
      call:      function_call_arguments.delta ... · function_call_arguments.done
    · output_item.done · response.completed (or response.incomplete)

Every event carries `sequence_number`; item events carry the item's
`output_index` and `item_id`, so the official SDK's `responses.stream()`
accumulates the answer without error. One item is open at a time.
"""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError
from transforms.ir import (
    ChatRequest, ResponseFinished, ResponseStarted, StreamEvent, StreamFailed, TextDelta, ThinkingDelta, ToolCallDelta,
    ToolCallStarted,
)
from transforms.openai_chat.errors import error_object
from transforms.openai_responses.encode_response import (
    function_call_item, message_item, reasoning_item, response_id, response_object,
)
from transforms.openai_responses.usage import encode_usage


class ResponsesStreamEncoder:
    __slots__ = ("_request", "_created", "_sequence", "_id", "_output", "_open", "_text", "_signature", "_calls", "_done")

    def __init__(self, request: ChatRequest, *, created: int = 0) -> None:
        self._request = request
        self._created = created
        self._sequence = 0
        self._id = "resp_bridge"
        self._output: list[dict] = []  # finished items
        self._open: dict | None = None  # the open item: {"type", "id", ...}
        self._text: list[str] = []  # text of the open item
        self._signature: str | None = None
        self._calls: dict[int, dict] = {}  # neutral tool ordinal -> open call state
        self._done = False

    def encode(self, event: StreamEvent) -> bytes:
        cls = type(event)
        if cls is TextDelta:
            if not event.text:
                return b""
            out = self._ensure("message")
            self._text.append(event.text)
            return out + self._emit("response.output_text.delta", item_id=self._open["id"], output_index=self._index,
                                    content_index=0, delta=event.text, logprobs=[])
        if cls is ToolCallDelta:
            call = self._calls.get(event.index)
            if call is None or not event.arguments:
                return b""
            call["arguments"].append(event.arguments)
            return self._emit("response.function_call_arguments.delta", item_id=call["id"], output_index=call["output_index"],
                              delta=event.arguments)
        if cls is ThinkingDelta:
            out = b""
            if event.text:
                out += self._ensure("reasoning")
                self._text.append(event.text)
                out += self._emit("response.reasoning_summary_text.delta", item_id=self._open["id"],
                                  output_index=self._index, summary_index=0, delta=event.text)
            if event.signature:
                out += self._ensure("reasoning")
                self._signature = event.signature
            return out
        if cls is ToolCallStarted:
            out = self._close()
            item_id = f"fc_{event.id}"
            self._open = {"type": "function_call", "id": item_id, "call_id": event.id, "name": event.name}
            self._calls[event.index] = {"id": item_id, "output_index": self._index, "arguments": []}
            self._open["call"] = self._calls[event.index]
            added = {"id": item_id, "type": "function_call", "status": "in_progress", "call_id": event.id, "name": event.name, "arguments": ""}
            return out + self._emit("response.output_item.added", output_index=self._index, item=added)
        if cls is ResponseStarted:
            self._id = response_id(event.id)
            skeleton = response_object(self._id, self._request, self._created, "in_progress", [], None)
            return self._emit("response.created", response=skeleton) + self._emit("response.in_progress", response=skeleton)
        if cls is ResponseFinished:
            if self._done:
                return b""
            self._done = True
            out = self._close()
            incomplete = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(event.finish_reason or "")
            final = response_object(self._id, self._request, self._created, "incomplete" if incomplete else "completed",
                                    self._output, encode_usage(event.usage), incomplete)
            return out + self._emit("response.incomplete" if incomplete else "response.completed", response=final)
        if cls is StreamFailed:
            self._done = True
            return self._failed(event.error)
        raise TypeError(f"unknown stream event {event!r}")

    @property
    def output_items(self) -> list[dict]:
        """The finished output items (as response.completed lists them)."""
        return self._output

    def close(self) -> bytes:
        return b""

    @property
    def _index(self) -> int:
        return len(self._output)  # the open item is the next output

    def _emit(self, kind: str, **fields) -> bytes:
        data = orjson.dumps({"type": kind, **fields, "sequence_number": self._sequence})
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"

    def _ensure(self, kind: str) -> bytes:
        if self._open is not None and self._open["type"] == kind:
            return b""
        out = self._close()
        n = self._index
        if kind == "message":
            self._open = {"type": "message", "id": f"msg_{self._id}_{n}"}
            added = {"id": self._open["id"], "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            out += self._emit("response.output_item.added", output_index=n, item=added)
            out += self._emit("response.content_part.added", item_id=self._open["id"], output_index=n, content_index=0,
                              part={"type": "output_text", "text": "", "annotations": []})
        else:
            self._open = {"type": "reasoning", "id": f"rs_{self._id}_{n}", "summary_started": False}
            out += self._emit("response.output_item.added", output_index=n,
                              item={"id": self._open["id"], "type": "reasoning", "summary": []})
        if kind == "reasoning":
            out += self._emit("response.reasoning_summary_part.added", item_id=self._open["id"], output_index=n,
                              summary_index=0, part={"type": "summary_text", "text": ""})
        return out

    def _close(self) -> bytes:
        item = self._open
        if item is None:
            return b""
        self._open = None
        n = self._index
        text, self._text = "".join(self._text), []
        out = b""
        if item["type"] == "message":
            out += self._emit("response.output_text.done", item_id=item["id"], output_index=n, content_index=0, text=text, logprobs=[])
            out += self._emit("response.content_part.done", item_id=item["id"], output_index=n, content_index=0,
                              part={"type": "output_text", "text": text, "annotations": []})
            done = message_item(item["id"], text)
        elif item["type"] == "reasoning":
            out += self._emit("response.reasoning_summary_text.done", item_id=item["id"], output_index=n, summary_index=0, text=text)
            out += self._emit("response.reasoning_summary_part.done", item_id=item["id"], output_index=n, summary_index=0,
                              part={"type": "summary_text", "text": text})
            done = reasoning_item(item["id"], text, self._signature)
            self._signature = None
        else:
            arguments = "".join(item["call"]["arguments"])
            out += self._emit("response.function_call_arguments.done", item_id=item["id"], output_index=n, arguments=arguments)
            done = function_call_item(item["id"], item["call_id"], item["name"], arguments)
        self._output.append(done)
        return out + self._emit("response.output_item.done", output_index=n, item=done)

    def _failed(self, error: BridgeError) -> bytes:
        body = error_object(error)
        failed = response_object(self._id, self._request, self._created, "failed", self._output, None)
        failed["error"] = {"code": body["code"] or body["type"], "message": body["message"]}
        return self._emit("error", code=body["code"] or body["type"], message=body["message"], param=body["param"]) + \
            self._emit("response.failed", response=failed)
