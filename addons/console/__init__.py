"""The bridge's web console: one self-contained page (index.html), served at GET / and GET /console."""

from __future__ import annotations

from pathlib import Path

PAGE: bytes = (Path(__file__).parent / "index.html").read_bytes()


def page() -> bytes:
    return PAGE
