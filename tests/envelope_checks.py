"""What an error answer from the bridge must look like, per client protocol, and what it must never hold.

Envelopes (transforms/*/errors.py, transforms/gemini/encode_response.py):
  OpenAI Chat and Responses: {"error": {"message", "type", "param", "code"}}
  Anthropic:                 {"type": "error", "error": {"type", "message"}}
  Gemini:                    {"error": {"code", "message", "status"}}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from tests.hostile_corpus import CANARY, LEAK_PATTERNS
from tests.raw_http import RawResponse

OPENAI_ENVELOPES = ("openai-chat", "openai-responses")
# repr() of a string with control characters, or bytes: '\r', '\x00', '\ud800'
REPR_ESCAPE = re.compile(r"\\(?:[rnt0]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Parsed:
    problems: list[str] = field(default_factory=list)
    message: str = ""
    param: str | None = None
    data: object = None


def parse_envelope(response: RawResponse, protocol: str) -> Parsed:
    """The error answer parsed in `protocol`'s envelope; `problems` lists every way it is not one."""
    out = Parsed()
    content_type = (response.header("content-type") or "").lower()
    if not content_type.startswith("application/json"):
        out.problems.append(f"content-type is {content_type!r}, not application/json")
    try:
        data = json.loads(response.body)
    except ValueError:
        out.problems.append(f"the body is not JSON: {response.body[:300]!r}")
        return out
    out.data = data
    if not isinstance(data, dict):
        out.problems.append(f"the body is not a JSON object: {data!r:.300}")
        return out
    error = data.get("error")
    if not isinstance(error, dict):
        out.problems.append(f"no `error` object in {protocol} envelope: {data!r:.300}")
        return out
    message = error.get("message")
    if not isinstance(message, str) or not message.strip():
        out.problems.append(f"error.message is not a non-empty string: {error!r:.300}")
        message = ""
    out.message = message
    if protocol in OPENAI_ENVELOPES:
        missing = [k for k in ("message", "type", "param", "code") if k not in error]
        if missing:
            out.problems.append(f"OpenAI envelope lacks {missing}: {error!r:.300}")
        if not isinstance(error.get("type"), str):
            out.problems.append(f"OpenAI error.type is not a string: {error!r:.300}")
        param = error.get("param")
        out.param = param if isinstance(param, str) else None
    elif protocol == "anthropic":
        if data.get("type") != "error":
            out.problems.append(f"Anthropic envelope: type is {data.get('type')!r}, not 'error'")
        if not isinstance(error.get("type"), str):
            out.problems.append(f"Anthropic error.type is not a string: {error!r:.300}")
    elif protocol == "gemini":
        if error.get("code") != response.status:
            out.problems.append(f"Gemini error.code {error.get('code')!r} is not the HTTP status {response.status}")
        if not isinstance(error.get("status"), str):
            out.problems.append(f"Gemini error.status is not a string: {error!r:.300}")
    else:
        raise ValueError(protocol)
    return out


def leak_problems(response: RawResponse, sent_body: bytes = b"") -> list[str]:
    """Python reprs, exception names, tracebacks, the client's raw bytes, forged headers."""
    problems = []
    text = response.body.decode("utf-8", "replace")
    for pattern in LEAK_PATTERNS:
        found = re.search(pattern, text)
        if found:
            problems.append(f"the answer leaks {found.group(0)!r} (pattern {pattern!r}): {text[:400]}")
    if CANARY in text:
        problems.append(f"the answer echoes the client's body (the canary): {text[:400]}")
    for raw in (b"\xff\xfe", b"\x1f\x8b\x08"):
        if raw in sent_body and raw in response.body:
            problems.append(f"the answer holds raw request bytes {raw!r}")
    if "x-injected" in response.header_names:
        problems.append(f"a forged response header: {response.raw_head!r}")
    for name, value in response.headers:
        if CONTROL.search(name + value.replace("\t", " ")):
            problems.append(f"a control character in response header {name!r}: {value!r}")
    return problems


def message_problems(message: str) -> list[str]:
    problems = []
    found = REPR_ESCAPE.search(message)
    if found:
        problems.append(f"the message holds a repr escape {found.group(0)!r}: {message[:300]!r}")
    found = CONTROL.search(message)
    if found:
        problems.append(f"the message holds control character {found.group(0)!r}: {message[:300]!r}")
    return problems


def _dotted(text: str) -> str:
    """`messages[3].content`, `messages.[3].content` and `messages.3.content` all read `messages.3.content`."""
    return re.sub(r"\.?\[(\d+)\]", r".\1", text)


def names_field(parsed: Parsed, fields) -> bool:
    """One of `fields` is named in OpenAI's `param` or in the message (index notation aside)."""
    haystacks = (_dotted(parsed.param or ""), _dotted(parsed.message))
    return any(_dotted(f) in h for f in fields for h in haystacks)
