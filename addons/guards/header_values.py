"""Values the bridge writes into HTTP headers, made safe to write.

A header value that carried CR or LF would end the header early: the client
would receive a forged header, or a body that starts too soon, and the next
answer on its keep-alive connection would be out of step. Client strings are
refused before they get here (a model name with control characters is a 400);
this is the last line, for everything the bridge itself writes.
"""

from __future__ import annotations

from urllib.parse import quote

# printable ASCII but for '%', which quote() must encode so the value can be decoded unambiguously
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def header_value(value: str) -> str:
    """`value` as is when it is printable ASCII, else percent-encoded (UTF-8)."""
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe=_SAFE)


def header_fields(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Raw header fields from a name -> value dict, every value made safe."""
    return [(name.encode("ascii"), header_value(value).encode("ascii")) for name, value in headers.items()]
