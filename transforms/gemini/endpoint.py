"""Where and how a Gemini request is sent: the model and streaming are in the URL; streams use SSE."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote

from transforms.client_strings import path_segment


def generate_url(base_url: str, model: str = "", stream: bool = False, options=None) -> str:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base_url.rstrip('/')}/v1beta/models/{path_segment(model)}:{method}"


def models_url(base_url: str) -> str:
    return base_url + "/v1beta/models"


def request_headers(api_key: str | None) -> dict[str, str]:
    return {"x-goog-api-key": api_key} if api_key else {}


# Gemini clients name the model and the method in the path; the model may be `<provider>/<model>`, its `/`
# written as is or as %2F (google-genai sends either)
CLIENT_PATH = re.compile(r"^/(?:v1beta|v1)/models/(?P<model>[^:]+):(?P<method>generateContent|streamGenerateContent)$")


def client_url_fields(path: str) -> dict | None:
    """The request fields a Gemini client puts in the URL (model, stream, framing), or None for other paths."""
    bare, _, query = path.partition("?")
    found = CLIENT_PATH.match(bare)
    if found is None:
        return None
    return {"model": unquote(found["model"]), "stream": found["method"] == "streamGenerateContent",
            "alt_sse": "sse" in parse_qs(query).get("alt", [])}
