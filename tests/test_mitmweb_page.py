"""mitmweb's own page (its bundled web UI, in headless Chromium) on bridged exchanges.

A real `mitmweb -s addons/bridge.py` bridges two calls to the local simulator: a streamed OpenAI Chat
request to `claude-sim` (Anthropic upstream) and a whole Anthropic Messages request to `gpt-sim`
(OpenAI Chat upstream). The page is opened as a user does, with the password as `?token=` (mitmweb's
AuthRequestHandler then sets its signed auth cookie, which the page's fetches and websocket carry),
and these are read from the page's DOM, not from the JSON API:

- the flow list's "Comment" column with the bridge's route summary of both exchanges;
- the streamed flow's Response tab in the "LLM Chat" view (chosen by "auto"): the answer's text;
- the "LLM Exchange" view picked in the content view's "View:" menu: ③ and ④ on the Response tab,
  ① and ② on the Request tab (the choice is kept per message);
- the Request tab in "LLM Chat": the upstream request's transcript.

Each step writes a screenshot for the README into docs/ (overwritten each run).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.bridge_process import MitmwebProcess
from tests.conftest import OPENAI_KEY, bridge_toml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
VIEWPORT = {"width": 1400, "height": 900}
WAIT_MS = 20_000  # each wait for the page; the page normally answers within a second

HELLO = "Hello from the simulator!"
STREAMED_SUMMARY = "openai-chat → claude/claude-sonnet-4-5 (anthropic) · POST /v1/chat/completions · 200"
WHOLE_SUMMARY = "anthropic → oai/gpt-4o-mini (openai-chat) · POST /v1/messages · 200"


HI = [{"role": "user", "content": "hello"}]
GEMINI_HI = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
# (client path, body, the start of the flow's comment, streamed): with the two exchanges above, a streamed
# and a whole exchange of each client protocol, each to an upstream of another protocol
MORE_EXCHANGES = [
    ("/v1/chat/completions", {"model": "resp-sim", "messages": HI},
     "openai-chat → resp/gpt-5-mini (openai-responses) · POST /v1/chat/completions · 200", False),
    ("/v1/messages", {"model": "resp-sim", "max_tokens": 64, "stream": True, "messages": HI},
     "anthropic → resp/gpt-5-mini (openai-responses) · POST /v1/messages · 200", True),
    ("/v1/responses", {"model": "claude-sim", "stream": True, "input": "hello"},
     "openai-responses → claude/claude-sonnet-4-5 (anthropic) · POST /v1/responses · 200", True),
    ("/v1/responses", {"model": "gem-sim", "input": "hello"},
     "openai-responses → gem/gemini-3-pro-preview (gemini) · POST /v1/responses · 200", False),
    ("/v1beta/models/claude-sim:streamGenerateContent?alt=sse", GEMINI_HI,
     "gemini → claude/claude-sonnet-4-5 (anthropic) · POST /v1beta/models/claude-sim:streamGenerateContent · 200", True),
    ("/v1beta/models/gpt-sim:generateContent", GEMINI_HI,
     "gemini → oai/gpt-4o-mini (openai-chat) · POST /v1beta/models/gpt-sim:generateContent · 200", False),
]


@pytest.fixture(scope="module")
def mitmweb(simulator, tmp_path_factory):
    """mitmweb with the bridge, holding one streamed and one whole translated exchange."""
    folder = tmp_path_factory.mktemp("mitmweb-page")
    config = folder / "bridge.toml"
    config.write_text(bridge_toml(simulator.base_url))
    env = {**{k: v for k, v in os.environ.items() if k != "BRIDGE_URL_SECRET"}, "SIM_OPENAI_KEY": OPENAI_KEY}
    web = MitmwebProcess(f"--set=bridge_config={config}", log_path=folder / "mitmweb.log", env=env).wait_ready()
    try:
        streamed = httpx.post(f"{web.base_url}/v1/chat/completions", timeout=30, json={
            "model": "claude-sim", "stream": True, "messages": [{"role": "user", "content": "hello"}]})
        assert streamed.status_code == 200, streamed.text
        assert streamed.headers["content-type"].startswith("text/event-stream"), streamed.headers
        whole = httpx.post(f"{web.base_url}/v1/messages", timeout=30, headers={"anthropic-version": "2023-06-01"},
                           json={"model": "gpt-sim", "max_tokens": 64,
                                 "messages": [{"role": "user", "content": "hello"}]})
        assert whole.status_code == 200, whole.text
        assert whole.json()["content"][0]["text"].startswith(HELLO), whole.text
        for path, body, _summary, _streamed in MORE_EXCHANGES:  # each client protocol, streamed and whole
            answer = httpx.post(f"{web.base_url}{path}", timeout=30, json=body,
                                headers={"anthropic-version": "2023-06-01", "x-goog-api-key": "k"})
            assert answer.status_code == 200, answer.text
        yield web
    finally:
        web.stop()


@pytest.fixture(scope="module")
def browser(chromium):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, mitmweb):
    """A fresh page (and store: view choices start at "auto") on mitmweb's flow list."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    answer = page.goto(f"{mitmweb.web_url}/?token={MitmwebProcess.PASSWORD}")
    assert answer is not None and answer.status == 200, answer and answer.status
    page.get_by_role("row").filter(has_text=STREAMED_SUMMARY).wait_for()
    page.get_by_role("row").filter(has_text=WHOLE_SUMMARY).wait_for()
    yield page
    context.close()


def _screenshot(page, name: str) -> Path:
    DOCS.mkdir(exist_ok=True)
    path = DOCS / name
    page.evaluate("document.activeElement?.blur()")  # no focus ring on the tab just clicked
    page.screenshot(path=str(path), animations="disabled")  # the "connected" badge fades out
    assert path.stat().st_size < 1_000_000, f"{path}: {path.stat().st_size} bytes"
    return path


def _open_streamed_flow(page, tab: str):
    """Selects the streamed exchange in the list, opens `tab`; returns the detail pane's content view."""
    page.get_by_role("row").filter(has_text=STREAMED_SUMMARY).click()
    detail = page.locator(".flow-detail")
    detail.locator("nav").get_by_role("link", name=tab, exact=True).click()
    return detail.locator(".contentview")


def _pick_view(page, content_view, view: str) -> None:
    """Chooses a view in the content view's "View: …" menu (its items are the lowercased view names)."""
    content_view.locator(".controls").get_by_role("link", name="View:").click()
    page.get_by_role("link", name=view.lower(), exact=True).click()
    expect(content_view.locator(".controls h5")).to_have_text(view)
    expect(content_view.locator(".controls").get_by_role("link", name="View:")).to_contain_text(view.lower())


def _lines(content_view) -> list[str]:
    return content_view.locator("pre").inner_text().splitlines()


def test_flow_list_shows_the_route_summaries(page):
    expect(page.get_by_role("columnheader", name="Comment")).to_be_visible()
    streamed = page.get_by_role("row").filter(has_text=STREAMED_SUMMARY)
    expect(streamed).to_have_count(1)
    # the list shows the request as sent upstream: the OpenAI Chat call went to Anthropic's /v1/messages
    expect(streamed.locator("td.col-path")).to_have_text(re.compile(r"/v1/messages$"))
    expect(streamed.locator("td.col-method")).to_have_text("POST")
    expect(streamed.locator("td.col-status")).to_have_text("200")
    comment = streamed.locator("td.col-comment").inner_text()
    assert comment.startswith(STREAMED_SUMMARY) and "first byte" in comment, comment

    whole = page.get_by_role("row").filter(has_text=WHOLE_SUMMARY)
    expect(whole).to_have_count(1)
    expect(whole.locator("td.col-path")).to_have_text(re.compile(r"/v1/chat/completions$"))
    _screenshot(page, "mitmweb-flow-list.png")


def test_response_tab_shows_the_llm_chat_view(page):
    content_view = _open_streamed_flow(page, "Response")
    expect(content_view.locator(".controls h5")).to_have_text("LLM Chat")
    expect(content_view.locator(".controls")).to_contain_text("View: auto")
    expect(content_view.locator("pre")).to_contain_text("finish reason: stop")
    lines = _lines(content_view)
    assert lines[0] == "stream: 8 events", lines
    assert any(line.startswith("response: model claude-sim · id ") for line in lines), lines
    assert any(line.startswith(f"assistant: {HELLO}") for line in lines), lines
    assert lines[-1] == "finish reason: stop", lines
    _screenshot(page, "mitmweb-chat-view.png")


def test_the_view_menu_switches_to_llm_exchange(page):
    response_view = _open_streamed_flow(page, "Response")
    expect(response_view.locator(".controls h5")).to_have_text("LLM Chat")
    _pick_view(page, response_view, "LLM Exchange")
    pre = response_view.locator("pre")
    expect(pre).to_contain_text("④ client response")
    lines = _lines(response_view)
    assert lines[0] == "③ upstream response (as received: 200)", lines
    assert "④ client response (as sent: 200)" in lines, lines
    fourth = lines.index("④ client response (as sent: 200)")
    upstream, client = lines[:fourth], lines[fourth:]
    assert any(line.startswith("response: model claude-sonnet-4-5") for line in upstream), upstream
    assert "stop reason: end_turn" in upstream, upstream
    assert any(line.startswith(f"assistant: {HELLO}") for line in client), client
    assert client[-1] == "finish reason: stop", client
    _screenshot(page, "mitmweb-exchange-view.png")

    # the Request tab keeps its own choice ("auto" → LLM Chat) until the menu is used there too
    page.locator(".flow-detail nav").get_by_role("link", name="Request", exact=True).click()
    request_view = page.locator(".flow-detail .contentview")
    expect(request_view.locator(".controls h5")).to_have_text("LLM Chat")
    _pick_view(page, request_view, "LLM Exchange")
    expect(request_view.locator("pre")).to_contain_text("② upstream request")
    lines = _lines(request_view)
    assert lines[0] == "① client request (as the client sent it): POST /v1/chat/completions · openai-chat", lines
    assert "② upstream request (as sent to claude, anthropic, model claude-sonnet-4-5)" in lines, lines
    assert "user: hello" in lines, lines


def test_request_tab_shows_the_upstream_request(page):
    content_view = _open_streamed_flow(page, "Request")
    expect(page.locator(".flow-detail .first-line")).to_contain_text("POST")
    expect(page.locator(".flow-detail .first-line")).to_contain_text("/v1/messages")
    expect(content_view.locator(".controls h5")).to_have_text("LLM Chat")
    expect(content_view.locator("pre")).to_contain_text("user: hello")
    lines = _lines(content_view)
    assert lines[0].startswith("request: model claude-sonnet-4-5"), lines
    assert "stream" in lines[0], lines
    assert "user: hello" in lines, lines


@pytest.mark.parametrize(("summary", "streamed"), [(summary, streamed) for _, _, summary, streamed in MORE_EXCHANGES],
                         ids=[summary.split(" · ")[0] + (" stream" if streamed else " whole")
                              for _, _, summary, streamed in MORE_EXCHANGES])
def test_every_client_protocol_reads_in_the_page(page, summary, streamed):
    """The answer in the client's protocol (LLM Chat, chosen by itself), its events (SSE) when streamed, and
    the client's own request beside the upstream's (LLM Exchange)."""
    row = page.get_by_role("row").filter(has_text=summary)
    expect(row).to_have_count(1)
    row.click()
    detail = page.locator(".flow-detail")
    detail.locator("nav").get_by_role("link", name="Response", exact=True).click()
    response_view = detail.locator(".contentview")
    expect(response_view.locator(".controls h5")).to_have_text("LLM Chat")
    expect(response_view.locator("pre")).to_contain_text(HELLO)
    if streamed:
        _pick_view(page, response_view, "SSE")
        expect(response_view.locator("pre")).to_contain_text("# 1 · ")
    detail.locator("nav").get_by_role("link", name="Request", exact=True).click()
    request_view = page.locator(".flow-detail .contentview")
    _pick_view(page, request_view, "LLM Exchange")
    client_path = summary.split(" · POST ")[1].split(" · ")[0]
    expect(request_view.locator("pre")).to_contain_text(f"① client request (as the client sent it): POST {client_path}")
    expect(request_view.locator("pre")).to_contain_text("② upstream request")
