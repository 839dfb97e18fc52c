"""Other web pages may not spend the owner's keys: Origin, CORS and content types, through a real
`mitmdump -s addons/bridge.py`.

A request carrying `Origin` is served only when that origin is the bridge's own (the page came from
the bridge under a loopback name: Origin == http://<Host>) or listed in `[server] cors_origins`;
listed origins get their CORS preflights answered and `Access-Control-Allow-Origin` on their answers.
Bodies are accepted only as application/json. Raw-socket tests check each rule; headless Chromium
(the Debian package, found or installed by tests/debian_packages.py) checks that a hostile page's
no-cors fetches and form posts reach no upstream, and that a listed page's CORS fetch works and
reads the answer.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.bridge_process import BridgeProcess
from tests.conftest import OPENAI_KEY, bridge_toml
from tests.cross_site_page import NO_CORS_TARGETS, PageServer, attack_page, cors_page
from tests.envelope_checks import leak_problems, parse_envelope
from tests.hostile_corpus import chat_body, gemini_body, messages_body, responses_body
from tests.raw_http import send

URL_SECRET = "cross-site-test-url-secret-0123456789abcdef"
HELLO = "Hello from the simulator"
GEMINI = "/v1beta/models/gem-sim:generateContent"
GEMINI_STREAM = "/v1beta/models/gem-sim:streamGenerateContent?alt=sse"


@pytest.fixture(scope="module")
def sim(simulator):
    """The session's simulator: each test counts the requests it adds."""
    return simulator


@pytest.fixture(scope="module")
def listed_page():
    """The page server whose origin the bridge.toml lists in [server] cors_origins."""
    server = PageServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def foreign_page():
    """Another local origin, listed nowhere."""
    server = PageServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bridge(sim, listed_page, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cross-site")
    config = folder / "bridge.toml"
    config.write_text(bridge_toml(sim.base_url) + f'\n[server]\ncors_origins = ["{listed_page.origin}"]\n')
    env = {**{k: v for k, v in os.environ.items() if k != "BRIDGE_URL_SECRET"}, "SIM_OPENAI_KEY": OPENAI_KEY}
    proc = BridgeProcess(f"--set=bridge_config={config}", f"--set=bridge_url_secret={URL_SECRET}",
                         log_path=folder / "mitmdump.log", env=env).wait_ready()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def proxy_path(bridge, sim):
    """The path of a working proxy URL (minted without an Origin) to an OpenAI-compatible upstream."""
    body = {"version": 2, "source": {"protocol": "openai"},
            "target": {"provider": "groq", "baseUrl": f"{sim.base_url}/v1", "auth": {"type": "bearer", "token": OPENAI_KEY}},
            "model": {"mode": "force", "force": "gpt-4o-mini"}, "endpoints": {"mode": "auto"}}
    answer = send(bridge.port, "POST", "/api/generate-url", [("Host", f"127.0.0.1:{bridge.port}"),
                                                             ("Content-Type", "application/json")],
                  json.dumps(body).encode())
    assert answer.status == 200, answer
    url = answer.json()["proxyUrl"]
    path = re.sub(r"^http://[^/]+", "", url)
    assert path.startswith("/proxy/"), url
    return path


# --- helpers ---

def _hdrs(port: int, *, origin: str | None = None, host: str | None = None, content_type: str | None = "application/json",
          extra=()) -> list[tuple[str, str]]:
    headers = [("Host", (host or "127.0.0.1:{port}").replace("{port}", str(port)))]
    if origin is not None:
        headers.append(("Origin", origin.replace("{port}", str(port))))
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return headers + list(extra)


# endpoint name -> (method, path or None for the proxy URL, body, envelope protocol or "proxy")
ENDPOINTS = {
    "chat": ("POST", "/v1/chat/completions", chat_body(), "openai-chat"),
    "chat-no-v1": ("POST", "/chat/completions", chat_body(), "openai-chat"),
    "responses": ("POST", "/v1/responses", responses_body(), "openai-responses"),
    "responses-no-v1": ("POST", "/responses", responses_body(), "openai-responses"),
    "messages": ("POST", "/v1/messages", messages_body(), "anthropic"),
    "count-tokens": ("POST", "/v1/messages/count_tokens", messages_body(), "anthropic"),
    "gemini": ("POST", GEMINI, gemini_body(), "gemini"),
    "gemini-stream": ("POST", GEMINI_STREAM, gemini_body(), "gemini"),
    "models": ("GET", "/v1/models", None, "openai-chat"),
    "proxy-chat": ("POST", None, chat_body(model="gpt-4o"), "proxy"),
    "generate-url": ("POST", "/api/generate-url", {"version": 2, "source": {"protocol": "openai"},
                                                   "target": {"provider": "groq", "auth": {"type": "bearer", "token": "x"}}},
                     "proxy"),
}
CHAT_ENDPOINTS = [name for name, (_, _, _, protocol) in ENDPOINTS.items() if protocol not in ("proxy",) and name != "models"]

FOREIGN_ORIGINS = {
    "evil": "https://evil.example",
    "null": "null",
    "other-local-port": "http://127.0.0.1:5173",
    "suffix-trick": "http://127.0.0.1:{port}.evil.example",
    "https-same-host": "https://127.0.0.1:{port}",
    "subdomain-trick": "http://127.0.0.1.evil.example:{port}",
}


def _request(bridge, proxy_path, endpoint: str, headers):
    method, path, body, protocol = ENDPOINTS[endpoint]
    if path is None:
        path = proxy_path + "/v1/chat/completions"
    data = None if body is None else json.dumps(body).encode()
    return send(bridge.port, method, path, headers if data is not None else [h for h in headers if h[0] != "Content-Type"],
                data), protocol


def _proxy_envelope_problems(answer) -> list[str]:
    try:
        data = answer.json()
    except ValueError:
        return [f"not JSON: {answer.body[:300]!r}"]
    problems = []
    if not isinstance(data, dict) or not isinstance(data.get("error_code"), str) or not isinstance(data.get("message"), str):
        problems.append(f"not the proxy envelope (error_code, message): {data!r:.300}")
    return problems


def _refusal_problems(answer, protocol: str, status: int) -> list[str]:
    problems = [] if answer.status == status else [f"status {answer.status}, expected {status}"]
    problems += _proxy_envelope_problems(answer) if protocol == "proxy" else parse_envelope(answer, protocol).problems
    problems += leak_problems(answer)
    return problems


def _cors_headers(answer) -> list[str]:
    return [name for name in answer.header_names if name.startswith("access-control-")]


# --- foreign origins are refused everywhere, before anything goes upstream ---

@pytest.mark.parametrize("origin", list(FOREIGN_ORIGINS.values()), ids=list(FOREIGN_ORIGINS))
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_foreign_origin_refused(bridge, sim, proxy_path, endpoint, origin):
    before = len(sim.requests)
    answer, protocol = _request(bridge, proxy_path, endpoint, _hdrs(bridge.port, origin=origin))
    problems = _refusal_problems(answer, protocol, 403)
    if _cors_headers(answer):
        problems.append(f"CORS headers on a refusal: {answer.headers}")
    if sim.requests[before:]:
        problems.append(f"reached the upstream: {[r.path for r in sim.requests[before:]]}")
    assert not problems, f"{answer!r}\n" + "\n".join(problems)


@pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", "localhost.evil.example:{port}",
                                  "127.0.0.1.nip.io:{port}"])
@pytest.mark.parametrize("endpoint", CHAT_ENDPOINTS + ["generate-url"])
def test_dns_rebinding_refused(bridge, sim, proxy_path, endpoint, host):
    """A page on a hostile name that resolves to 127.0.0.1: its requests are same-origin to the browser."""
    before = len(sim.requests)
    origin = "http://" + host
    answer, protocol = _request(bridge, proxy_path, endpoint, _hdrs(bridge.port, origin=origin, host=host))
    problems = _refusal_problems(answer, protocol, 403)
    if sim.requests[before:]:
        problems.append(f"reached the upstream: {[r.path for r in sim.requests[before:]]}")
    assert not problems, f"{answer!r}\n" + "\n".join(problems)


# --- the bridge's own origin, and no Origin at all ---

@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}"])
@pytest.mark.parametrize("endpoint", CHAT_ENDPOINTS + ["models", "proxy-chat"])
def test_same_origin_allowed(bridge, sim, proxy_path, endpoint, host):
    before = len(sim.requests)
    answer, _ = _request(bridge, proxy_path, endpoint, _hdrs(bridge.port, origin="http://" + host, host=host))
    assert answer.status == 200, answer
    if endpoint != "models":
        assert len(sim.requests) == before + 1


@pytest.mark.parametrize("endpoint", CHAT_ENDPOINTS + ["models", "proxy-chat"])
def test_no_origin_allowed(bridge, sim, proxy_path, endpoint):
    answer, _ = _request(bridge, proxy_path, endpoint, _hdrs(bridge.port))
    assert answer.status == 200, answer
    assert not _cors_headers(answer), answer.headers


# --- listed origins: CORS ---

@pytest.mark.parametrize("endpoint", CHAT_ENDPOINTS + ["proxy-chat"])
def test_listed_origin_allowed_with_cors_headers(bridge, sim, proxy_path, listed_page, endpoint):
    before = len(sim.requests)
    answer, _ = _request(bridge, proxy_path, endpoint, _hdrs(bridge.port, origin=listed_page.origin))
    assert answer.status == 200, answer
    assert answer.header_values("access-control-allow-origin") == [listed_page.origin], answer.headers
    assert len(sim.requests) == before + 1


def test_listed_origin_error_answer_carries_cors_header(bridge, sim, listed_page):
    """The page must be able to read why a call failed, too."""
    before = len(sim.requests)
    answer = send(bridge.port, "POST", "/v1/chat/completions", _hdrs(bridge.port, origin=listed_page.origin),
                  json.dumps(chat_body(model="no-such-model")).encode())
    assert 400 <= answer.status < 500, answer
    assert not parse_envelope(answer, "openai-chat").problems
    assert answer.header("access-control-allow-origin") == listed_page.origin, answer.headers
    assert sim.requests[before:] == []


def test_listed_origin_still_needs_json(bridge, sim, listed_page):
    before = len(sim.requests)
    answer = send(bridge.port, "POST", "/v1/chat/completions",
                  _hdrs(bridge.port, origin=listed_page.origin, content_type="text/plain"), json.dumps(chat_body()).encode())
    assert answer.status == 415, answer
    assert not parse_envelope(answer, "openai-chat").problems
    assert sim.requests[before:] == []


PREFLIGHT_HEADERS = "content-type, authorization, x-api-key, anthropic-version, x-stainless-os"


@pytest.mark.parametrize("endpoint", CHAT_ENDPOINTS + ["proxy-chat"])
def test_preflight_from_listed_origin(bridge, sim, proxy_path, listed_page, endpoint):
    before = len(sim.requests)
    path = ENDPOINTS[endpoint][1] or proxy_path + "/v1/chat/completions"
    answer = send(bridge.port, "OPTIONS", path, _hdrs(bridge.port, origin=listed_page.origin, content_type=None, extra=[
        ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", PREFLIGHT_HEADERS)]))
    assert answer.status == 204, answer
    assert answer.header_values("access-control-allow-origin") == [listed_page.origin], answer.headers
    methods = {m.strip().upper() for m in (answer.header("access-control-allow-methods") or "").split(",")}
    assert "POST" in methods, answer.headers
    allowed = {h.strip().lower() for h in (answer.header("access-control-allow-headers") or "").split(",")}
    assert {h.strip() for h in PREFLIGHT_HEADERS.split(",")} <= allowed or "*" in allowed, answer.headers
    vary = {v.strip().lower() for value in answer.header_values("vary") for v in value.split(",")}
    assert "origin" in vary, answer.headers
    assert answer.body == b""
    assert sim.requests[before:] == []


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:5173"])
@pytest.mark.parametrize("endpoint", ["chat", "messages", "gemini", "proxy-chat", "generate-url"])
def test_preflight_from_unlisted_origin_refused(bridge, sim, proxy_path, endpoint, origin):
    before = len(sim.requests)
    path = ENDPOINTS[endpoint][1] or proxy_path + "/v1/chat/completions"
    answer = send(bridge.port, "OPTIONS", path, _hdrs(bridge.port, origin=origin, content_type=None, extra=[
        ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "content-type")]))
    assert answer.status == 403, answer
    assert not _cors_headers(answer), answer.headers
    assert sim.requests[before:] == []


# --- bodies only as application/json ---

BAD_TYPES = {
    "text-plain": "text/plain",
    "text-plain-charset": "text/plain;charset=UTF-8",
    "form-urlencoded": "application/x-www-form-urlencoded",
    "multipart": "multipart/form-data; boundary=zzz",
    "missing": None,
    "json-lookalike": "application/jsonx",
}


@pytest.mark.parametrize("content_type", list(BAD_TYPES.values()), ids=list(BAD_TYPES))
@pytest.mark.parametrize("endpoint", CHAT_ENDPOINTS + ["proxy-chat", "generate-url"])
def test_body_not_sent_as_json_refused(bridge, sim, proxy_path, endpoint, content_type):
    before = len(sim.requests)
    method, path, body, protocol = ENDPOINTS[endpoint]
    path = path or proxy_path + "/v1/chat/completions"
    answer = send(bridge.port, method, path, _hdrs(bridge.port, content_type=content_type), json.dumps(body).encode())
    problems = _refusal_problems(answer, protocol, 415)
    if sim.requests[before:]:
        problems.append(f"reached the upstream: {[r.path for r in sim.requests[before:]]}")
    assert not problems, f"{answer!r}\n" + "\n".join(problems)


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"])
@pytest.mark.parametrize("endpoint", ["chat", "messages", "responses", "gemini", "proxy-chat"])
def test_json_with_parameters_accepted(bridge, sim, proxy_path, endpoint, content_type):
    answer, _ = _request(bridge, proxy_path, endpoint, _hdrs(bridge.port, content_type=content_type))
    assert answer.status == 200, answer


# --- a real browser ---

def _bridge_answers(events, bridge) -> list[tuple[str, int]]:
    return [(url, status) for url, status in events if url.startswith(bridge.base_url)]


def test_browser_cross_site_page_reaches_no_upstream(chromium, bridge, sim, foreign_page):
    from playwright.sync_api import sync_playwright

    foreign_page.pages["/attack.html"] = attack_page(bridge.base_url)
    before = len(sim.requests)
    seen: list[tuple[str, int]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("response", lambda r: seen.append((r.url, r.status)))
            page.goto(foreign_page.url("/attack.html"))

            outcomes = page.evaluate("noCors()")
            assert len(outcomes) == len(NO_CORS_TARGETS), outcomes
            # no-cors: the page cannot read the answer; the bridge must simply not have acted on it

            cors = page.evaluate("corsJson()")
            assert "error" in cors, f"a foreign page read the bridge's answer: {cors}"  # the preflight is refused

            for form, target in (("plain-form", "/v1/chat/completions"), ("urlencoded-form", "/v1/messages")):
                with page.expect_response(lambda r, t=target: r.url == bridge.base_url + t and r.request.method == "POST",
                                          timeout=15_000) as info:
                    page.evaluate(f"document.getElementById('{form}').submit()")
                assert info.value.status == 403, f"{form}: {info.value.status} {info.value.text()[:300]}"
        finally:
            browser.close()

    answers = _bridge_answers(seen, bridge)
    # evidence that the requests did reach the bridge (and were refused there), not that the browser dropped them
    posts = [status for url, status in answers]
    assert len(posts) >= len(NO_CORS_TARGETS) + 2, seen
    assert all(status in (403, 415) for status in posts), answers
    assert sim.requests[before:] == [], [r.path for r in sim.requests[before:]]


def test_browser_listed_origin_reads_the_answer(chromium, bridge, sim, listed_page):
    from playwright.sync_api import sync_playwright

    listed_page.pages["/app.html"] = cors_page(bridge.base_url)
    before = len(sim.requests)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(listed_page.url("/app.html"))
            chat = page.evaluate("chat()")
            messages = page.evaluate("messages()")
            unknown = page.evaluate("unknownModel()")
        finally:
            browser.close()

    assert chat.get("status") == 200, chat
    assert chat["body"]["choices"][0]["message"]["content"].startswith(HELLO), chat
    assert messages.get("status") == 200, messages
    assert messages["body"]["content"][0]["text"].startswith(HELLO), messages
    assert len(sim.requests) == before + 2
    # an error is readable too, in the client's envelope
    assert 400 <= unknown.get("status", 0) < 500 and "message" in unknown["body"].get("error", {}), unknown
