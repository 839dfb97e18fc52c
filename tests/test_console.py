"""The web console (addons/console/index.html) in headless Chromium, against a real bridge.

Chromium is the Debian package (`/usr/bin/chromium`), not playwright's download; as root
with apt-get the test installs it once, otherwise it skips. The screenshot goes to
docs/console.png with LLM_BRIDGE_WRITE_SCREENSHOT=1, else to pytest's tmp_path.
"""

from __future__ import annotations

import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.bridge_process import ROOT, BridgeProcess

URL_SECRET = "console-test-url-secret-7f3a9c2e51d4"
GROQ_TOKEN = "gsk_console_test_4b7e1d9a0c3f"
EXTRA_KEY = "gsk_console_test_extra_8d2f6a"
TOKEN_SEGMENT = r"[A-Za-z0-9_-]+"  # one base64url path segment


class FakeUpstream:
    """An OpenAI-compatible upstream on loopback answering GET .../models and noting the keys it got."""

    def __init__(self) -> None:
        self.authorizations: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.authorizations.append(self.headers.get("authorization", ""))
                found = self.path.split("?")[0].endswith("/models")
                body = json.dumps({"object": "list", "data": [{"id": "llama-3.3-70b-versatile", "object": "model", "owned_by": "fake"}]}
                                  if found else {"error": {"message": "not found", "type": "invalid_request_error"}}).encode()
                self.send_response(200 if found else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bridge(tmp_path: Path):
    config = tmp_path / "bridge.toml"
    config.write_text("# no providers: the console's proxy URLs carry their own\n")
    process = BridgeProcess(f"--set=bridge_config={config}", f"--set=bridge_url_secret={URL_SECRET}",
                            log_path=tmp_path / "bridge.log").wait_ready()
    yield process
    process.stop()


def _generate(page) -> None:
    """Click Generate and wait until the page shows the answer (a result or an error)."""
    page.click("#generate")  # the submit handler hides the previous result and error synchronously
    page.wait_for_selector("#result:not([hidden]), #error:not([hidden])", timeout=15_000)


def _env_line(name: str, value: str) -> str:
    return rf"^(export )?{name}=['\"]?{re.escape(value)}['\"]?$"


def test_console_generates_a_working_proxy_url(chromium: str, bridge: BridgeProcess, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    for path in ("/", "/console"):
        served = httpx.get(bridge.base_url + path, timeout=10)
        assert served.status_code == 200, served.text
        assert served.headers["content-type"].startswith("text/html")
        assert served.content == (ROOT / "addons" / "console" / "index.html").read_bytes()
    catalog = httpx.get(f"{bridge.base_url}/api/catalog", timeout=10).json()
    groq = next(p for p in catalog["providers"] if p["id"] == "groq")

    upstream = FakeUpstream()
    console_messages: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console_messages.append(m.text))
            page.on("pageerror", lambda e: console_messages.append(f"pageerror: {e}"))
            page.goto(bridge.base_url + "/")

            # the provider list is the catalog's
            page.wait_for_selector("#provider:enabled")
            options = page.eval_on_selector_all("#provider option", "os => os.map(o => o.value).filter(Boolean)")
            assert options == [p["id"] for p in catalog["providers"]]

            # picking groq fills in its preset
            page.select_option("#provider", "groq")
            assert page.input_value("#base-url") == groq["defaultBaseUrl"]
            assert page.input_value("#target-protocol") == groq["protocol"]
            assert page.input_value("#auth-type") == groq["authType"]
            assert page.is_visible("#auth-token") and not page.is_visible("#aws-access-key-id")
            support = page.inner_text("#endpoint-support")
            for group, mode in groq["endpointSupport"].items():
                assert f"{group}: {mode}" in support
            if groq.get("docsUrl"):
                assert page.get_attribute("#docs-link", "href") == groq["docsUrl"]

            page.select_option("#source-protocol", "openai")
            page.fill("#auth-token", GROQ_TOKEN)
            page.fill("#auth-keys", EXTRA_KEY)
            page.check("#model-mode-force")
            page.fill("#model-force", "llama-3.3-70b-versatile")
            assert page.is_checked("#strip-suffix")
            _generate(page)
            assert page.is_hidden("#error"), page.inner_text("#error")
            proxy_url = page.input_value("#proxy-url")
            assert re.fullmatch(rf"{re.escape(bridge.base_url)}/proxy/{TOKEN_SEGMENT}", proxy_url), proxy_url
            assert re.search(_env_line("OPENAI_BASE_URL", proxy_url + "/v1"), page.text_content("#env-block"), re.M)
            assert proxy_url in page.text_content("#curl-example")
            assert page.locator("#notes li").count() >= 1 and page.is_visible("#notes")

            # an Anthropic client: the base URL is the proxy URL itself
            page.select_option("#source-protocol", "anthropic")
            _generate(page)
            assert page.is_hidden("#error"), page.inner_text("#error")
            anthropic_url = page.input_value("#proxy-url")
            assert re.fullmatch(rf"{re.escape(bridge.base_url)}/proxy/{TOKEN_SEGMENT}", anthropic_url), anthropic_url
            assert re.search(_env_line("ANTHROPIC_BASE_URL", anthropic_url), page.text_content("#env-block"), re.M)
            assert page.locator("#notes li").count() >= 1
            screenshot = (ROOT / "docs" / "console.png" if os.environ.get("LLM_BRIDGE_WRITE_SCREENSHOT") == "1"
                          else tmp_path / "console.png")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)

            # the bridge's validation error, pointed at its field
            page.fill("#base-url", "ftp://x")
            _generate(page)
            assert page.is_hidden("#result")
            assert page.inner_text("#error-code") == "INVALID_JSON"
            assert "target.baseUrl" in page.inner_text("#error-message")
            assert page.inner_text("#error-field").startswith("target.baseUrl")
            assert page.get_attribute("#base-url", "aria-invalid") == "true"

            # a URL for an upstream on loopback, to use it below
            page.fill("#base-url", upstream.base_url)
            page.select_option("#source-protocol", "openai")
            _generate(page)
            assert page.is_hidden("#error"), page.inner_text("#error")
            use_url = page.input_value("#proxy-url")

            # the keys went nowhere but the bridge
            assert page.url == bridge.base_url + "/"
            assert page.evaluate("localStorage.length + sessionStorage.length") == 0
            assert not [m for m in console_messages if GROQ_TOKEN in m or EXTRA_KEY in m]
        finally:
            browser.close()

    try:
        answer = httpx.get(f"{use_url}/v1/models", timeout=30)
    finally:
        upstream.stop()
    assert answer.status_code != 404, answer.text
    error = answer.json().get("error_code") if "json" in answer.headers.get("content-type", "") else None
    assert error != "INVALID_TOKEN", answer.text
    assert answer.status_code == 200, answer.text
    assert [m["id"] for m in answer.json()["data"]] == ["llama-3.3-70b-versatile"]
    # the upstream got one of the keys typed into the page, never the client's placeholder
    assert upstream.authorizations and all(a in (f"Bearer {GROQ_TOKEN}", f"Bearer {EXTRA_KEY}")
                                           for a in upstream.authorizations), upstream.authorizations
