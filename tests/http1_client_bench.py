"""Benchmark: CPU per request of the relay's HTTP/1.1 client, aiohttp, and a bare asyncio exchange.

    uv run python -m tests.http1_client_bench [--requests 3000] [--rounds 3]

Not a test. A raw keep-alive HTTP/1.1 server runs in its own process (pinned to the last CPU when
there are two or more); this process, pinned to CPU 0, sends the same requests through each client,
16 at a time, and measures its own CPU time (`time.process_time`) per request, which does not depend
on how fast the server or the VM happens to be. Two answers: a small JSON body (Content-Length) and a
50-event SSE stream (chunked, one chunk per event, written at once). Rounds are interleaved and the
median reported, because this VM's speed drifts.

aiohttp runs with the relay's settings (`_default_session` in addons/upstream/relay.py) and is called
as the relay calls it: headers as str pairs, `yarl.URL(encoded=True)`, the call inside
`asyncio.wait_for` (the relay's first-byte bound), the body through `content.iter_any()`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import orjson

CONCURRENCY = 16
REQUEST_BODY = orjson.dumps({"model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": True,
                             "messages": [{"role": "user", "content": "Say hello " * 40}]})
REQUEST_HEADERS = [
    (b"content-type", b"application/json"), (b"accept", b"application/json"),
    (b"anthropic-version", b"2023-06-01"), (b"x-api-key", b"sk-ant-bench-0123456789abcdef"),
    (b"user-agent", b"llm-bridge/0.1"), (b"anthropic-beta", b"prompt-caching-2024-07-31"),
]
JSON_BODY = orjson.dumps({"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
                          "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "Hello!"}],
                          "stop_reason": "end_turn", "usage": {"input_tokens": 12, "output_tokens": 6}})
ANSWER_HEADERS = (b"date: Mon, 01 Jan 2026 00:00:00 GMT\r\nrequest-id: req_011CQ1bench\r\n"
                  b"anthropic-ratelimit-requests-remaining: 3999\r\nanthropic-ratelimit-tokens-remaining: 399000\r\n"
                  b"via: 1.1 google\r\nserver: cloudflare\r\ncf-ray: 8f0bench-SJC\r\n")
JSON_ANSWER = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + ANSWER_HEADERS
               + b"content-length: %d\r\n\r\n" % len(JSON_BODY) + JSON_BODY)
SSE_EVENTS = [b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
              b'"delta":{"type":"text_delta","text":"token %d "}}\n\n' % i for i in range(50)]
SSE_ANSWER = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n" + ANSWER_HEADERS
              + b"transfer-encoding: chunked\r\n\r\n"
              + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in SSE_EVENTS) + b"0\r\n\r\n")
SSE_BODY = b"".join(SSE_EVENTS)


# --- the server (its own process) ----------------------------------------------------------------------

class _Server(asyncio.Protocol):
    """Keep-alive HTTP/1.1: each request (head + Content-Length body) gets the answer its path names."""

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end + 2].lower()  # with the last header's CRLF
            start = head.find(b"content-length:")
            length = int(head[start + 15:head.find(b"\r\n", start)]) if start >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(SSE_ANSWER if head.startswith(b"post /sse") else JSON_ANSWER)


def serve() -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {os.cpu_count() - 1})

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Server, "127.0.0.1", 0, backlog=512)
        print(server.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin

    asyncio.run(main())


# --- the three clients -----------------------------------------------------------------------------------

async def bare_asyncio(port: int, path: str, count: int, expected: bytes) -> None:
    """One persistent stream connection per worker: write the request, read the head, then the body
    (Content-Length, or the chunks one by one). The floor of an asyncio client."""
    request = (b"POST %s HTTP/1.1\r\nhost: 127.0.0.1:%d\r\n" % (path.encode(), port)
               + b"".join(k + b": " + v + b"\r\n" for k, v in REQUEST_HEADERS)
               + b"content-length: %d\r\n\r\n" % len(REQUEST_BODY) + REQUEST_BODY)
    remaining = [count]

    async def worker():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining[0] > 0:
            remaining[0] -= 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            start = head.find(b"content-length: ")
            if start >= 0:
                body = await reader.readexactly(int(head[start + 16:head.find(b"\r\n", start)]))
            else:
                parts = []
                while True:
                    size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
                    data = await reader.readexactly(size + 2)
                    if not size:
                        break
                    parts.append(data[:-2])
                body = b"".join(parts)
            assert len(body) == len(expected)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def http1_client(pool):
    async def run(port: int, path: str, count: int, expected: bytes) -> None:
        url = f"http://127.0.0.1:{port}{path}"
        remaining = [count]

        async def worker():
            while remaining[0] > 0:
                remaining[0] -= 1
                response = await pool.request("POST", url, REQUEST_HEADERS, REQUEST_BODY,
                                              connect_timeout=10.0, first_byte_timeout=600.0)
                size = 0
                async for chunk in response.chunks(300.0):
                    size += len(chunk)
                response.release()
                assert size == len(expected)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return run


def aiohttp_client(session, *, wait_for: bool):
    import yarl

    from addons.upstream.relay import UpstreamTimeouts

    timeout = UpstreamTimeouts().for_aiohttp

    async def run(port: int, path: str, count: int, expected: bytes) -> None:
        url = f"http://127.0.0.1:{port}{path}"
        remaining = [count]

        async def worker():
            while remaining[0] > 0:
                remaining[0] -= 1
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in REQUEST_HEADERS]
                call = session.request("POST", yarl.URL(url, encoded=True), headers=headers, data=REQUEST_BODY,
                                       allow_redirects=False, timeout=timeout)
                response = await (asyncio.wait_for(call, 600.0) if wait_for else call)
                size = 0
                async for chunk in response.content.iter_any():
                    size += len(chunk)
                response.release()
                assert size == len(expected)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return run


# --- the measurement ------------------------------------------------------------------------------------------

async def measure(run, port: int, path: str, count: int, expected: bytes) -> tuple[float, float]:
    """(CPU µs per request in this process, requests/s)."""
    await run(port, path, 200, expected)  # warm: connections open, code paths hot
    cpu, wall = time.process_time(), time.perf_counter()
    await run(port, path, count, expected)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / count * 1e6, count / wall


async def bench(port: int, requests: int, rounds: int) -> dict:
    import aiohttp  # noqa: F401 - imported here: the server process does not need it

    from addons.upstream.http1_client import Http1Pool
    from addons.upstream.relay import _default_session

    pool, session, plain_session = Http1Pool(), _default_session(), _default_session()
    clients = {
        "bare asyncio exchange (streams)": bare_asyncio,
        "Http1Pool (addons/upstream/http1_client.py)": http1_client(pool),
        "aiohttp, as the relay calls it (wait_for)": aiohttp_client(session, wait_for=True),
        "aiohttp, the call alone": aiohttp_client(plain_session, wait_for=False),
    }
    answers = {"small JSON (content-length)": ("/json", JSON_BODY), "50-event SSE (chunked)": ("/sse", SSE_BODY)}
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for round_ in range(rounds):
        for answer, (path, expected) in answers.items():
            for client, run in clients.items():
                results.setdefault((answer, client), []).append(await measure(run, port, path, requests, expected))
        print(f"round {round_ + 1}/{rounds} done", file=sys.stderr)
    pool.close()
    await session.close()
    await plain_session.close()
    return results


def report(results: dict, requests: int, rounds: int) -> str:
    lines = [f"{requests} requests per client and round, {CONCURRENCY} concurrent, {rounds} rounds (medians); "
             f"CPU of the client process only", "",
             "| answer | client | CPU per request | vs bare asyncio | req/s |", "|---|---|---|---|---|"]
    for (answer, client), samples in results.items():
        cpu = statistics.median(s[0] for s in samples)
        rate = statistics.median(s[1] for s in samples)
        bare = statistics.median(s[0] for s in results[(answer, "bare asyncio exchange (streams)")])
        lines.append(f"| {answer} | {client} | {cpu:.0f} µs | {cpu / bare:.2f}x | {rate:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    server = subprocess.Popen([sys.executable, "-m", "tests.http1_client_bench", "--serve"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        port = int(server.stdout.readline())
        if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
            os.sched_setaffinity(0, {0})
        results = asyncio.run(bench(port, args.requests, args.rounds))
        print(report(results, args.requests, args.rounds))
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
