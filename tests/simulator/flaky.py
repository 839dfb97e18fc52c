"""An upstream that fails on cue, for retry tests.

A provider whose base URL is `<simulator>/flaky/<name>` sends its requests here.
The test scripts what the next requests under that name get:

    flaky.script("p1", ["503", "429:ra=1", "hang=1.5"])

Outcomes, one per request, in order; after the script every request is served
normally (the path without the prefix goes to the plain simulator):
    "<status>"        an error answer in the protocol's envelope (429, 500, 503, 529 ...)
    "<status>:ra=<s>" the same with `Retry-After: <s>`
    "hang=<s>"        answer normally, but only after <s> seconds (a read timeout)
    "ok"              answer normally
Every arrival is recorded with its monotonic time, per name.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import orjson

from .http import Request, Response
from .simulator import Simulator

PREFIX = "/flaky/"


class FlakyFront:
    def __init__(self) -> None:
        self.delegate = None  # the simulator's own dispatch, set by the test
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.credentials: dict[str, list[str]] = defaultdict(list)  # the key each arrival carried

    def script(self, name: str, outcomes: list[str]) -> None:
        self._scripts[name] = deque(outcomes)
        self.arrivals[name] = []
        self.credentials[name] = []

    async def dispatch(self, request: Request):
        if not request.path.startswith(PREFIX):
            return None
        name, _, rest = request.path[len(PREFIX):].partition("/")
        self.arrivals[name].append(time.monotonic())
        self.credentials[name].append(request.headers.get("authorization") or request.headers.get("x-api-key") or "")
        script = self._scripts[name]
        outcome = script.popleft() if script else "ok"
        plain = replace(request, path="/" + rest)
        if outcome.startswith("hang="):
            await asyncio.sleep(float(outcome[5:]))
            return await self.delegate(plain)
        if outcome == "ok":
            return await self.delegate(plain)
        status, _, option = outcome.partition(":")
        headers = {"content-type": "application/json"}
        if option.startswith("ra="):
            headers["retry-after"] = option[3:]
        return Response(int(status), headers, _error_body(plain, int(status)))


def _error_body(request: Request, status: int) -> bytes:
    message = f"flaky upstream: scripted {status}"
    if request.path.startswith("/v1/messages"):
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}})


@contextmanager
def flaky_simulator(*args, **kwargs) -> Iterator[tuple[Simulator, "FlakyFront"]]:
    """A started simulator (`Simulator(*args, **kwargs)`) with a FlakyFront in front of it: (simulator, front)."""
    front = FlakyFront()
    sim = Simulator(*args, fronts=(front,), **kwargs)
    front.delegate = sim._dispatch
    sim.start_in_thread()
    try:
        yield sim, front
    finally:
        sim.stop()
