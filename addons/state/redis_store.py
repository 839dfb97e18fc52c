"""Shared state in Redis (`[state] redis_url`): every worker on every host sees the same cool-downs, round
robin and refresh tokens.

Hot path: a key pool reads its cool-downs from a mirror in this process, kept current by Redis pub/sub
(a rest is published once and heard by every worker within a millisecond or so; the hash behind it is read
again whenever the listener (re)connects). A call with a conversation name (session affinity: every chat
call) therefore waits for no network at all; only a call without one (token counts, compaction summaries,
native proxy-URL calls) waits for one `INCR`, the shared turn.

Refresh tokens: one refresh across hosts under a Redis lock (`SET NX PX`, a random token, released only by
its holder; a 5 s lease its holder renews while it refreshes, so a holder that dies frees it within 5 s),
holding the file store's flock too (the processes of one host queue there first). Taking the
lock draws a fencing generation (`INCR`); the rotated tokens are stored with it by a script that refuses a
generation older than the stored one, so a holder whose lock expired mid-refresh never overwrites a newer
token. The rotated token goes to Redis, then to this host's file store, before the new access token is used;
a host reading a newer token from Redis copies it to its file, so each host keeps the newest it has seen.

Responses output items (for `item_reference`s): each written in the background when an answer is sent, read
with one `MGET` only by a request naming an item its worker does not hold.

Redis away: every command is bounded (`TIMEOUT_S` where a request waits, `TOKEN_TIMEOUT_S` in a refresh) and
wrapped; a failure logs once, and for `RETRY_S` no request tries Redis again (none pays a timeout meanwhile;
a refresh, rare, always asks); state is then per process (cool-downs, turn) and
per host (refreshes, under the file store's flock). When Redis answers again, one line says so, the rests
taken meanwhile go to Redis (the later end wins), the mirror is read again, and a token rotated meanwhile is
pushed to Redis at the next refresh (the newer one wins).

A holder killed between the provider's answer and the save (the provider has rotated the refresh token; the
new one existed only in the dead process): nothing stored changes, so the next holder, within the lease,
presents the stored token again. Providers that rotate refresh tokens accept the replaced one again for a
grace period for exactly this (a lost answer; WorkOS documents a "replay grace period"), and the bridge
replays within 5 s of the death. A provider without one answers `invalid_grant`: a new login, said so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator
from urllib.parse import urlsplit

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from addons.credentials.token_file import TokenFile, TokenSet, fingerprint
from addons.state.local import FileTokenStore, LocalPoolState
from addons.state.store import Fence
from transforms.errors import BridgeError

log = logging.getLogger(__name__)

TIMEOUT_S = 0.15  # the longest a request waits for Redis before it goes on without it
TOKEN_TIMEOUT_S = 1.0  # a refresh's commands (rare): a false "away" there could cost a second refresh
BACKGROUND_TIMEOUT_S = 1.0  # the listener's (no request waits for it); also the socket's connect and read bounds
RETRY_S = 1.0  # while Redis is away, tried again at most this often
PING_S = 2.0  # the listener's liveness check (a silent, half-open connection is noticed within this)
LOCK_LEASE_MS = 5_000  # a refresh lock's lease, renewed by its holder: a holder killed mid-refresh frees it within this
LOCK_RENEW_S = 1.5  # how often the holder renews it (a third of the lease, less a margin for a slow answer)
LOCK_WAIT_S = 60.0
LOCK_POLL_S = 0.02
PREFIX = "llm-bridge:"
COOLING = PREFIX + "cooling"  # hash "<scope>|<key fingerprint>" -> epoch until; and the channel of rests
ITEM = PREFIX + "item:"  # + a Responses output item's id -> the item (addons/output_items.py)

_FENCED_WRITE = """
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
if tonumber(ARGV[1]) < gen then return 0 end
redis.call('HSET', KEYS[1], 'tokens', ARGV[2], 'gen', ARGV[1], 'seed', ARGV[3])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_REST = """
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= old then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[1], ARGV[1] .. ' ' .. ARGV[2])
return 1
"""


class Unavailable(Exception):
    """Redis did not answer in time (or at all): the caller goes on with its own state."""


class RedisState:
    kind = "redis"

    def __init__(self, url: str, timeout: float = TIMEOUT_S) -> None:
        self.url = url
        self.where = _where(url)
        self.timeout = timeout
        self.client = aioredis.Redis.from_url(url, socket_timeout=BACKGROUND_TIMEOUT_S,
                                              socket_connect_timeout=BACKGROUND_TIMEOUT_S, retry=Retry(NoBackoff(), 0))
        self.fenced_write = self.client.register_script(_FENCED_WRITE)
        self.release = self.client.register_script(_RELEASE)
        self.renew = self.client.register_script(_RENEW)
        self._rest_script = self.client.register_script(_REST)
        self.mirror: dict[str, float] = {}  # "<scope>|<key fingerprint>" -> resting until (monotonic)
        self._unsent: dict[str, float] = {}  # rests Redis did not take (away): field -> epoch, sent when it is back
        self._down = False
        self._retry_at = 0.0
        self._listener: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.items = RedisItemStore(self)

    def pool(self, scope: str) -> "RedisPoolState":
        return RedisPoolState(self, scope)

    def tokens(self, name: str, file: TokenFile) -> "RedisTokenStore":
        return RedisTokenStore(self, name, file)

    def start(self) -> None:
        if self._listener is not None and not self._listener.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._listener = loop.create_task(self._listen())

    async def close(self) -> None:
        for task in [self._listener, *self._tasks]:
            if task is not None:
                task.cancel()
        for task in [self._listener, *self._tasks]:
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.aclose(), 1.0)

    async def call(self, command, *args, bound: float | None = None, always: bool = False, **kwargs):
        """One Redis command, bounded by `bound` (default `timeout`); `Unavailable` instead of any failure.
        While Redis is away it is not tried more often than every `RETRY_S`, unless `always`."""
        self.start()
        if self._down and not always and time.monotonic() < self._retry_at:
            raise Unavailable()
        try:
            result = await asyncio.wait_for(command(*args, **kwargs), bound or self.timeout)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._went_down(exc)
            raise Unavailable() from None
        self._came_back()
        return result

    def rest(self, field: str, until: float, seconds: float) -> None:
        """A key rests: in the mirror at once, for every other worker as soon as Redis carries it."""
        if until > self.mirror.get(field, 0.0):
            self.mirror[field] = until
        epoch = time.time() + seconds
        self.background(lambda: self._publish(field, epoch))

    def background(self, work) -> None:
        """Runs `work()` (a coroutine function) without anyone waiting for it; stopped by `close`."""
        try:
            task = asyncio.get_running_loop().create_task(work())
        except RuntimeError:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, field: str, epoch: float) -> None:
        try:  # (a longer rest already there stays: the script keeps the later end)
            await self.call(self._rest_script, keys=[COOLING], args=[field, repr(epoch)])
        except Unavailable:
            if epoch > self._unsent.get(field, 0.0):
                self._unsent[field] = epoch

    async def _send_unsent(self) -> None:
        """Rests taken while Redis was away, to Redis now that it answers (those not over yet)."""
        for field, epoch in list(self._unsent.items()):
            if epoch > time.time():
                await asyncio.wait_for(self._rest_script(keys=[COOLING], args=[field, repr(epoch)]), BACKGROUND_TIMEOUT_S)
            if self._unsent.get(field) == epoch:  # (kept until sent: Redis may go away again midway)
                del self._unsent[field]

    def _heard(self, field: str, epoch: float) -> None:
        until = time.monotonic() + (epoch - time.time())
        if until > self.mirror.get(field, 0.0):
            self.mirror[field] = until

    async def _listen(self) -> None:
        """Rests published by other workers, into the mirror; the whole hash again at every (re)connection."""
        while True:
            pubsub = self.client.pubsub()
            try:
                await asyncio.wait_for(pubsub.subscribe(COOLING), BACKGROUND_TIMEOUT_S)
                await self._send_unsent()
                await self._resync()
                self._came_back()
                pinged = time.monotonic()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        field, _, epoch = message["data"].decode().rpartition(" ")
                        self._heard(field, float(epoch))
                    if time.monotonic() - pinged > PING_S:
                        await asyncio.wait_for(pubsub.ping(), BACKGROUND_TIMEOUT_S)
                        pinged = time.monotonic()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, asyncio.TimeoutError, ValueError) as exc:
                self._went_down(exc)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), BACKGROUND_TIMEOUT_S)
            await asyncio.sleep(RETRY_S)

    async def _resync(self) -> None:
        entries = await asyncio.wait_for(self.client.hgetall(COOLING), BACKGROUND_TIMEOUT_S)
        now = time.time()
        expired = []
        for field, epoch in entries.items():
            if float(epoch) > now:
                self._heard(field.decode(), float(epoch))
            else:
                expired.append(field)
        if expired:
            await asyncio.wait_for(self.client.hdel(COOLING, *expired), BACKGROUND_TIMEOUT_S)

    def _went_down(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_S
        if not self._down:
            self._down = True
            log.warning(f"llm-bridge: shared state: Redis at {self.where} is unreachable ({_reason(exc)}); key "
                        "cool-downs and the round robin are kept per process, token refreshes per host (the file "
                        "store's lock), until it is back. Requests go on.")

    def _came_back(self) -> None:
        if self._down:
            self._down = False
            log.warning(f"llm-bridge: shared state: Redis at {self.where} is back; state is shared again")


class RedisItemStore:
    """Responses output items, one key each (`llm-bridge:item:<id>`, the item's JSON, expiring with it)."""

    def __init__(self, state: RedisState) -> None:
        self._state = state

    def put(self, items: list[dict], keep_s: float) -> None:
        async def write() -> None:
            async def pipelined():
                async with self._state.client.pipeline(transaction=False) as pipe:
                    for item in items:
                        pipe.set(ITEM + item["id"], orjson.dumps(item), px=int(keep_s * 1000))
                    return await pipe.execute()
            with contextlib.suppress(Unavailable):  # (the item stays in this process's store)
                await self._state.call(pipelined, bound=BACKGROUND_TIMEOUT_S)
        self._state.background(write)

    async def get(self, ids: list[str]) -> dict[str, dict]:
        try:
            values = await self._state.call(self._state.client.mget, [ITEM + item_id for item_id in ids])
        except Unavailable:
            return {}
        found = {}
        for item_id, value in zip(ids, values):
            if value is not None:
                with contextlib.suppress(orjson.JSONDecodeError):
                    found[item_id] = orjson.loads(value)
        return found


class RedisPoolState:
    """A key pool's state: cool-downs from the shared mirror, the turn from one shared counter."""

    def __init__(self, state: RedisState, scope: str) -> None:
        self._state = state
        self._scope = scope
        self._local = LocalPoolState()  # the turn while Redis is away
        self._fields: dict[str, str] = {}

    def _field(self, key: str) -> str:
        field = self._fields.get(key)
        if field is None:  # keys themselves never go to Redis, only their fingerprints
            field = self._fields[key] = f"{self._scope}|{fingerprint(key)}"
        return field

    def until(self, key: str) -> float:
        return self._state.mirror.get(self._field(key), 0.0)

    def rest(self, key: str, until: float, seconds: float) -> None:
        self._state.rest(self._field(key), until, seconds)

    def next_turn(self) -> int:
        return self._local.next_turn()

    async def shared_turn(self) -> int:
        try:
            return int(await self._state.call(self._state.client.incr, f"{PREFIX}turn:{self._scope}")) - 1
        except Unavailable:
            return self._local.next_turn()


class RedisTokenStore:
    """A refresh-token credential's tokens in Redis (hash: tokens, gen, seed), and in this host's file store."""

    def __init__(self, state: RedisState, name: str, file: TokenFile) -> None:
        self._state = state
        self.file = file
        self._files = FileTokenStore(file)
        self._key = f"{PREFIX}tokens:{name}"
        self._lock = f"{PREFIX}lock:{name}"
        self._fence = f"{PREFIX}fence:{name}"

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[Fence]:
        async with self._files.exclusive():  # this host's processes first; then one holder across hosts
            token, held, fence = secrets.token_hex(16), False, None
            deadline = time.monotonic() + LOCK_WAIT_S
            while True:
                try:
                    held = bool(await self._call(self._state.client.set, self._lock, token, nx=True, px=LOCK_LEASE_MS))
                except Unavailable:
                    break  # Redis away: the file store's lock alone (one refresh per host)
                if held:
                    with contextlib.suppress(Unavailable):
                        fence = int(await self._call(self._state.client.incr, self._fence))
                    break
                if time.monotonic() > deadline:
                    raise BridgeError("overloaded", "Another worker has been refreshing this provider's access token "
                                      f"for {LOCK_WAIT_S:.0f} s; retry shortly.", status=503)
                await asyncio.sleep(LOCK_POLL_S)
            renewal = asyncio.get_running_loop().create_task(self._renew(token)) if held else None
            try:
                yield fence
            finally:
                if renewal is not None:
                    renewal.cancel()
                    with contextlib.suppress(BaseException):
                        await renewal
                if held:
                    with contextlib.suppress(Unavailable):
                        await self._call(self._state.release, keys=[self._lock], args=[token])

    async def _renew(self, token: str) -> None:
        """The lease, renewed while this process refreshes: a short lease, so that a holder that dies (SIGKILL,
        a lost host) stops blocking the others within `LOCK_LEASE_MS`, whatever its refresh's own bounds."""
        while True:
            await asyncio.sleep(LOCK_RENEW_S)
            try:
                if not await self._call(self._state.renew, keys=[self._lock], args=[token, LOCK_LEASE_MS]):
                    return  # lost (it expired while Redis was away): the fence keeps a newer token safe
            except Unavailable:
                pass

    async def read(self, fence: Fence) -> TokenSet | None:
        local = self.file.read()
        try:
            remote, seed = await self._remote()
        except Unavailable:
            return local
        own_seed = _seed(self.file)
        if remote is None or _newer(local, own_seed, remote, seed):
            if local is not None and fence is not None:  # a token rotated while Redis was away, a new login
                with contextlib.suppress(Unavailable):
                    await self._put(local, fence)
            return local
        if local is None or (local.access_token, local.refresh_token) != (remote.access_token, remote.refresh_token):
            self.file.write(remote)  # this host keeps the newest token too, should Redis go away
        return remote

    async def write(self, tokens: TokenSet, fence: Fence) -> TokenSet:
        if fence is not None:
            try:
                stored = await self._put(tokens, fence)
            except Unavailable:
                stored = True  # this host's file keeps it; pushed to Redis at the next refresh
            if not stored:  # fenced out: a later lock holder stored a newer token
                with contextlib.suppress(Unavailable):
                    newer, _ = await self._remote()
                    if newer is not None:
                        self.file.write(newer)
                        return newer
        self.file.write(tokens)  # durable before the new access token is used anywhere
        return tokens

    async def _remote(self) -> tuple[TokenSet | None, str | None]:
        entry = await self._call(self._state.client.hgetall, self._key)
        if not entry or b"tokens" not in entry:
            return None, None
        tokens = TokenSet(**orjson.loads(entry[b"tokens"]))
        return tokens, (entry.get(b"seed") or b"").decode() or None

    async def _put(self, tokens: TokenSet, fence: int) -> bool:
        data = orjson.dumps(dataclasses.asdict(tokens))
        return bool(await self._call(self._state.fenced_write, keys=[self._key], args=[fence, data, _seed(self.file) or ""]))

    async def _call(self, command, *args, **kwargs):
        # a refresh is rare and a second one across hosts costly: Redis is asked even when it was just away
        return await self._state.call(command, *args, bound=TOKEN_TIMEOUT_S, always=True, **kwargs)


def _seed(file: TokenFile) -> str | None:
    seed = getattr(file, "seed", None)  # the bridge's own store remembers which configured token seeded it
    try:
        return seed() if callable(seed) else None
    except (OSError, ValueError):
        return None


def _newer(local: TokenSet | None, own_seed: str | None, remote: TokenSet, remote_seed: str | None) -> bool:
    """Whether this host's file holds newer tokens than Redis: rotated while Redis was away, or a new login.
    A file only seeded from the same configured token as Redis's holds an old one."""
    if local is None:
        return False
    if local.access_token is None and own_seed is not None and own_seed == remote_seed:
        return False
    return (local.updated_at or 0.0) > (remote.updated_at or 0.0)


def _where(url: str) -> str:
    """The server, for log lines (never a password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or parts.path}:{parts.port or 6379}" if parts.hostname else (parts.path or url)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(exc, ConnectionRefusedError) or "refused" in str(exc) or "Error 111 " in str(exc):
        return "connection refused"
    return str(exc).split("\n")[0][:120] or type(exc).__name__
