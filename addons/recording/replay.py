"""`--set bridge_replay=DIR`: answer upstream calls from recorded `.flow` files.

The bridge translates each request as usual; this addon then matches the
translated upstream request against the recordings and reroutes it to a small
loopback server that plays the recorded upstream answer back chunk by chunk,
with the recorded timing. The answer therefore takes the normal streaming
translation path (mitmproxy's own server replay would bypass stream
callables and send the body in one piece).

Recorded providers and models are added to the configuration, so replay works
with no config and no key: this is how the README's first curl works offline.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from dataclasses import dataclass
from pathlib import Path

import orjson
from mitmproxy import ctx, exceptions, http, io

from addons.config import CACHE_TTL_S, AwsConfig, BridgeConfig, ModelConfig, ProviderConfig
from addons.answers import METADATA_KEY, answer_error
from addons.settings import BridgeSettings
from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS
from transforms.errors import BridgeError

log = logging.getLogger(__name__)

REPLAY_HEADER = "x-llm-bridge-replay"
REPLAY_BASE_URL = "http://replay.invalid"


@dataclass(slots=True)
class Recording:
    name: str
    path: str  # upstream URL path
    body: object  # upstream request body, parsed
    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: list[tuple[float, bytes]]
    client_body: object = None  # breaks ties between recordings with the same upstream request


def canonical(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body


def load_recordings(directory: Path) -> list[Recording]:
    recordings = []
    for file in sorted(directory.rglob("*.flow")):
        with file.open("rb") as fh:
            for flow in io.FlowReader(fh).stream():
                meta = flow.metadata.get(METADATA_KEY) if isinstance(flow, http.HTTPFlow) else None
                if not meta or "upstream_headers" not in meta:
                    continue
                if "upstream_chunks" in meta:
                    chunks = [(float(t), bytes(c)) for t, c in meta["upstream_chunks"]]
                else:
                    chunks = [(0.0, bytes(meta.get("upstream_body") or b""))]
                recordings.append(
                    Recording(
                        name=str(file.relative_to(directory)),
                        path=flow.request.path,
                        body=canonical(flow.request.content or b""),
                        status=int(meta.get("upstream_status", 200)),
                        headers=[(k.encode(), v.encode()) for k, v in meta["upstream_headers"]],
                        chunks=chunks,
                        client_body=canonical(meta["client_request"]["body"]),
                    )
                )
    return recordings


def recorded_config(directory: Path, base: BridgeConfig) -> BridgeConfig:
    """`base` plus a provider for every recorded provider and a model for every recorded client model."""
    providers = {p.name: p for p in base.providers}
    models = {m.id: m for m in base.models}
    for file in sorted(directory.rglob("*.flow")):
        with file.open("rb") as fh:
            for flow in io.FlowReader(fh).stream():
                meta = flow.metadata.get(METADATA_KEY) if isinstance(flow, http.HTTPFlow) else None
                if not meta:
                    continue
                name = meta["provider"]
                options = meta.get("upstream_options") or {}
                if name not in providers:
                    # keep the recorded base path (e.g. "/v1"), so replayed requests have the recorded path
                    # (streamed or not: Gemini's ?alt=sse, Bedrock's invoke-with-response-stream)
                    codec = UPSTREAM_CODECS[meta["upstream_protocol"]]
                    endpoints = [codec.url("", meta["upstream_model"], streamed) for streamed in (True, False)]
                    endpoint = next((e for e in endpoints if flow.request.path.endswith(e)), endpoints[1])
                    base_path = flow.request.path.removesuffix(endpoint).split("?")[0]
                    # a Bedrock provider must have AWS credentials; replayed calls are never signed or sent
                    aws = AwsConfig(access_key_id="replay", secret_access_key="replay") if codec.aws_signed else None
                    providers[name] = ProviderConfig(
                        name=name, protocol=meta["upstream_protocol"], base_url=REPLAY_BASE_URL + base_path,
                        quirks=options.get("quirks") or [], aws=aws, api_version=options.get("api_version"),
                        cache=options.get("prompt_cache", "auto"),
                        cache_ttl={s: name for name, s in CACHE_TTL_S.items()}.get(options.get("cache_ttl_s")),
                    )
                client_model = orjson.loads(meta["client_request"]["body"]).get("model")
                if isinstance(client_model, str) and client_model not in models and "/" not in client_model:
                    # the recorded route's limits too, so replayed requests translate as they did
                    models[client_model] = ModelConfig(
                        id=client_model, provider=name, upstream_model=meta["upstream_model"],
                        max_tokens=options.get("max_tokens"), max_output_tokens=options.get("max_output_tokens"),
                    )
    return BridgeConfig(server=base.server, providers=list(providers.values()), models=list(models.values()))


def first_difference(a: object, b: object, where: str = "body") -> str | None:
    if type(a) is not type(b):
        return f"{where}: {_short(a)} vs recorded {_short(b)}"
    if isinstance(a, dict):
        for key in sorted(a.keys() | b.keys()):
            if key not in a or key not in b:
                return f"{where}.{key}: {'missing here' if key not in a else 'not in the recording'}"
            found = first_difference(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return f"{where}: {len(a)} items vs {len(b)} recorded" if len(a) != len(b) else None
    return None if a == b else f"{where}: {_short(a)} vs recorded {_short(b)}"


def _short(value: object) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Replay:
    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self.recordings: list[Recording] = []
        self._server: asyncio.Server | None = None
        self._port = 0

    def load(self, loader) -> None:
        loader.add_option(
            "bridge_replay", str, "", "Answer upstream calls from the .flow recordings in this folder (offline, no keys)."
        )

    def configure(self, updated: set[str]) -> None:
        if not ({"bridge_replay", "bridge_config"} & updated) or not ctx.options.bridge_replay:
            return
        directory = Path(ctx.options.bridge_replay)
        if not directory.is_dir():
            raise exceptions.OptionsError(f"bridge_replay: {directory} is not a folder")
        self.recordings = load_recordings(directory)
        self.settings.use(recorded_config(directory, self.settings.config), source=f"{self.settings.source} + replay of {directory}")
        log.info(f"llm-bridge: replaying {len(self.recordings)} recorded exchanges from {directory}")

    async def running(self) -> None:
        if ctx.options.bridge_replay and self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self._port = self._server.sockets[0].getsockname()[1]

    def done(self) -> None:
        if self._server is not None:
            self._server.close()

    def request(self, flow: http.HTTPFlow) -> None:
        if not ctx.options.bridge_replay or flow.response is not None or METADATA_KEY not in flow.metadata:
            return
        body = canonical(flow.request.content or b"")
        matches = [i for i, r in enumerate(self.recordings) if r.path == flow.request.path and r.body == body]
        if matches:
            client_body = canonical(flow.metadata[METADATA_KEY]["client_request"]["body"])
            index = next((i for i in matches if self.recordings[i].client_body == client_body), matches[0])
            flow.request.url = f"http://127.0.0.1:{self._port}{flow.request.path}"
            flow.request.headers[REPLAY_HEADER] = str(index)
            return
        client = CLIENT_CODECS[flow.metadata[METADATA_KEY]["client_protocol"]]
        answer_error(flow, client, BridgeError("not_found", self._no_match_message(flow.request.path, body), status=404))

    def _no_match_message(self, path: str, body: object) -> str:
        if not self.recordings:
            return "Replay: the replay folder holds no recorded exchanges."
        text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        nearest = max(
            self.recordings,
            key=lambda r: (r.path == path)
            + difflib.SequenceMatcher(None, text, orjson.dumps(r.body, option=orjson.OPT_SORT_KEYS)).quick_ratio(),
        )
        difference = first_difference(body, nearest.body) if nearest.path == path else f"path {path} vs recorded {nearest.path}"
        return f"Replay: no recorded exchange matches this request. Nearest is {nearest.name}; first difference at {difference}."

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A minimal HTTP/1.1 server playing recordings back, one request per connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            await reader.readexactly(int(headers.get(b"content-length", b"0")))
            recording = self.recordings[int(headers[REPLAY_HEADER.encode()])]
            out = [b"HTTP/1.1 %d Replayed\r\n" % recording.status]
            out += [k + b": " + v + b"\r\n" for k, v in recording.headers if k.lower() not in (b"content-length", b"transfer-encoding", b"connection")]
            out.append(b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n")
            writer.write(b"".join(out))
            start = asyncio.get_running_loop().time()
            for at, chunk in recording.chunks:
                delay = start + at - asyncio.get_running_loop().time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if chunk:
                    writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, KeyError, ValueError, IndexError) as exc:
            log.warning(f"llm-bridge replay server: {exc!r}")
        finally:
            writer.close()


__all__ = ["Replay"]
