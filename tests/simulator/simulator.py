"""The `Simulator`: routes requests to the protocol front-ends and records what it received."""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from . import anthropic, gemini, listing, openai_chat, openai_responses, responses_compact
from .common import Context
from .http import HttpServer, Request, Response, StreamingResponse


class Simulator:
    """A local fake upstream speaking Anthropic Messages and OpenAI Chat Completions.

    Keys: the expected API key per protocol; None accepts any non-empty key.
    `strict_turns=False` lets Anthropic requests have consecutive same-role messages (today's
    API merges them) instead of answering 400 as older API versions did.
    `context.prompt_cache` is the prompt cache the front-ends share (`prompt_cache.py`): what each
    request read and wrote (`log`), the live entries, the minimum and the clock tests can advance.
    """

    def __init__(
        self,
        anthropic_key: str | None = None,
        openai_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        strict_turns: bool = True,
        fronts: tuple = (),
    ) -> None:
        self.host, self.port = host, port
        self.requests: list[Request] = []
        self._context = Context(anthropic_key, openai_key, strict_turns)
        # more upstreams on the same port (WorkOS, Factory, Trae): each answers its paths, else None
        self.fronts = list(fronts)
        self._server = HttpServer(self._dispatch)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def clear(self) -> None:
        self.requests.clear()

    # --- inside an existing event loop ---

    async def start(self) -> tuple[str, int]:
        self.host, self.port = await self._server.start(self.host, self.port)
        return self.host, self.port

    async def aclose(self) -> None:
        await self._server.aclose()

    async def serve_forever(self) -> None:
        await self._server.serve_forever()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    # --- on its own loop in a daemon thread ---

    def start_in_thread(self) -> tuple[str, int]:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="llm-simulator", daemon=True)
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        self.start_in_thread()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- routing ---

    @property
    def context(self) -> Context:
        return self._context

    async def _dispatch(self, request: Request) -> Response | StreamingResponse:
        self.requests.append(request)
        for front in self.fronts:
            answer = await front.dispatch(request)
            if answer is not None:
                return answer
        if request.method == "POST" and request.path == "/v1/messages":
            return anthropic.handle(request, self._context)
        if request.method == "POST" and request.path == "/v1/messages/count_tokens":
            return anthropic.count_tokens(request, self._context)
        if request.method == "POST" and request.path == "/v1/chat/completions":
            return openai_chat.handle(request, self._context)
        if request.method == "POST" and request.path == "/v1/responses":
            return openai_responses.handle(request, self._context)
        if request.method == "POST" and request.path == "/v1/responses/compact":
            return responses_compact.handle(request, self._context)
        if request.method == "GET" and request.path == "/v1/models":
            return listing.models(request, self._context)
        if request.method == "POST" and request.path == "/v1/embeddings":
            return listing.embeddings(request, self._context)
        if request.method == "POST" and gemini.route(request.path):
            return gemini.handle(request, self._context)
        request_id = f"req_sim_{self._context.next_number():06d}"
        if gemini.looks_gemini(request):
            return gemini.not_found_response(request)
        if _looks_anthropic(request):
            return anthropic.not_found_response(request_id)
        return openai_chat.not_found_response(request.method, request.path, request_id)


def _looks_anthropic(request: Request) -> bool:
    return (
        "x-api-key" in request.headers
        or "anthropic-version" in request.headers
        or request.path.startswith("/v1/messages")
    )
