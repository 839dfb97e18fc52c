"""Client strings the bridge puts into a header, a URL path or a query, checked and made safe.

A model name travels further than the body it came in: into the upstream URL
(Gemini, Azure and Bedrock name the model in the path), into log lines and
into the `x-llm-bridge-upstream-model` answer header. A CR or LF there could
forge a header; a `/` or `..` could reach another endpoint. So a client's
model name with control characters, or one longer than any real model name,
is the client's 400 before anything goes upstream, and a value placed in a
URL path is always percent-encoded as one segment.
"""

from __future__ import annotations

from urllib.parse import quote

from transforms.errors import invalid

MAX_NAME_LENGTH = 256  # as long as a client model name the routes' patterns are matched against


def model_name_problem(value: object) -> str | None:
    """What is wrong with a client's model name, in words a person can act on, or None.

    The text completes a sentence that starts with the field's name:
    "model must not contain control characters (found U+000D at position 11)".
    """
    if value is None:
        return "is required (a non-empty string)"
    if not isinstance(value, str):
        return f"must be a string (got {json_kind(value)})"
    if not value:
        return "must be a non-empty string"
    if len(value) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters long (got {len(value)})"
    for position, char in enumerate(value):
        if char < " " or char == "\x7f":
            return f"must not contain control characters (found U+{ord(char):04X} at position {position})"
    return None


def check_model_name(value: object, param: str = "model") -> None:
    """A 400 naming `param` unless `value` is a non-empty string of at most 256 characters
    without control characters (U+0000-U+001F, U+007F)."""
    problem = model_name_problem(value)
    if problem is not None:
        raise invalid(f"{param} {problem}.", param)


def path_segment(value: str) -> str:
    """`value` percent-encoded as exactly one URL path segment.

    Everything but the unreserved characters is encoded (`/`, `?`, `#`, `%`,
    spaces, CR/LF ...), and a segment made only of dots has them encoded too:
    `.` and `..` are dot-segments that URL normalization would resolve.
    """
    encoded = quote(value, safe="")
    if encoded and encoded.strip(".") == "":
        return "%2E" * len(encoded)
    return encoded


def json_kind(value: object) -> str:
    """A JSON value's kind, as a person names it ("a string", "an array", "true")."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a value of another kind"


def quoted(text: str, limit: int = 80) -> str:
    """A client string (an id, a name) for an error message: in quotes, control characters
    shown as escapes, cut after `limit` characters."""
    shown = text if len(text) <= limit else text[:limit] + "..."
    if not shown.isprintable():
        shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in shown)
    return f"'{shown}'"
