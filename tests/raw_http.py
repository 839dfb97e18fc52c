"""A raw HTTP/1.1 client over a socket, for requests no SDK (nor http.client) would send.

The hostile-input and cross-site tests need byte-exact control of the request line, the headers
(Host, Origin, a Content-Length that lies) and the body, and they need to see the answer exactly
as the bridge wrote it: every header line, in order, so a forged header would show.
"""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]  # names lower-cased, in the order received
    body: bytes
    raw_head: bytes = b""
    elapsed: float = 0.0
    closed: bool = False  # the server closed the connection after this answer

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    @property
    def header_names(self) -> set[str]:
        return {k for k, _ in self.headers}

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {self.headers!r} body={self.body[:600]!r}>"


class ConnectionClosed(Exception):
    pass


def build_request(method: str, path: str, headers: list[tuple[str, str]], body: bytes | None = None, *,
                  content_length: int | None = None) -> bytes:
    """The request's bytes. Content-Length is added for a body unless `headers` has one (or
    Transfer-Encoding); `content_length` declares a length other than the body's."""
    names = {k.lower() for k, _ in headers}
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers]
    if "content-length" not in names and "transfer-encoding" not in names:
        if content_length is not None:
            lines.append(f"Content-Length: {content_length}")
        elif body is not None:
            lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class RawConnection:
    """One keep-alive connection: send requests, read answers one at a time."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 20) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.eof = False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise ConnectionClosed(f"connection closed before {marker!r}; received {self.buffer[:300]!r}")
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not self._fill():
                raise ConnectionClosed(f"connection closed after {len(self.buffer)} of {n} body bytes")
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def readable(self, timeout: float) -> bool:
        if self.buffer:
            return True
        ready, _, _ = select.select([self.sock], [], [], timeout)
        return bool(ready)

    def read_response(self, method: str = "POST") -> RawResponse:
        started = time.monotonic()
        head = self._read_until(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        version, _, rest = lines[0].decode("latin-1").partition(" ")
        status_text, _, reason = rest.partition(" ")
        headers = []
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        response = RawResponse(int(status_text), reason, headers, b"", raw_head=head)
        length = response.header("content-length")
        chunked = "chunked" in (response.header("transfer-encoding") or "").lower()
        if method == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200:
            body = b""
        elif chunked:
            parts = []
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    self._read_until(b"\r\n")  # no trailers expected
                    break
                parts.append(self._read_exact(size))
                self._read_exact(2)
            body = b"".join(parts)
        elif length is not None:
            body = self._read_exact(int(length))
        else:  # until the server closes
            while self._fill():
                pass
            body, self.buffer = self.buffer, b""
        response.body = body
        response.elapsed = time.monotonic() - started
        connection = (response.header("connection") or "").lower()
        response.closed = "close" in connection
        return response


def send(port: int, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None = None, *,
         content_length: int | None = None, timeout: float = 20) -> RawResponse:
    """One request on a fresh connection. With `content_length` above len(body) only the body given
    is sent: the answer must come without the rest (a server that waits for it times out)."""
    with RawConnection(port, timeout=timeout) as connection:
        started = time.monotonic()
        try:
            connection.send(build_request(method, path, headers, body, content_length=content_length))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything; the answer is still read
        try:
            response = connection.read_response(method)
        except socket.timeout:
            raise TimeoutError(f"no answer to {method} {path} within {timeout} s") from None
        response.elapsed = time.monotonic() - started
        return response


def send_streaming_body(port: int, method: str, path: str, headers: list[tuple[str, str]], chunks, *,
                        timeout: float = 30) -> tuple[RawResponse, int]:
    """Sends the head, then the body chunk by chunk while watching for an early answer (a server
    that refuses a body answers before reading it). Returns (answer, body bytes sent)."""
    sent = 0
    with RawConnection(port, timeout=timeout) as connection:
        started = time.monotonic()
        connection.send(build_request(method, path, headers, None))
        for chunk in chunks:
            if connection.readable(0):
                break
            try:
                connection.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        try:
            response = connection.read_response(method)
        except socket.timeout:
            raise TimeoutError(f"no answer to {method} {path} within {timeout} s ({sent} body bytes sent)") from None
        response.elapsed = time.monotonic() - started
        return response, sent
