"""Web pages from another local origin, for the cross-site tests in headless Chromium.

`PageServer` serves HTML on http://127.0.0.1:<its port> — an origin other than the bridge's.
`attack_page` is what a hostile site would serve: "simple" cross-site requests a browser sends
without asking the bridge first (no-cors fetches with text/plain, HTML form posts). `cors_page` is a
page the owner trusts (its origin listed in `[server] cors_origins`): a CORS fetch with
application/json that reads the answer.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHAT_JSON = {"model": "gpt-sim", "messages": [{"role": "user", "content": "cross-site hello"}]}
MESSAGES_JSON = {"model": "claude-sim", "max_tokens": 64, "messages": [{"role": "user", "content": "cross-site hello"}]}
RESPONSES_JSON = {"model": "resp-sim", "input": "cross-site hello"}
GEMINI_JSON = {"contents": [{"role": "user", "parts": [{"text": "cross-site hello"}]}]}

# path -> body a hostile page posts there
NO_CORS_TARGETS = {
    "/v1/chat/completions": CHAT_JSON,
    "/v1/messages": MESSAGES_JSON,
    "/v1/messages/count_tokens": MESSAGES_JSON,
    "/v1/responses": RESPONSES_JSON,
    "/v1beta/models/gem-sim:generateContent": GEMINI_JSON,
    "/v1beta/models/gem-sim:streamGenerateContent?alt=sse": GEMINI_JSON,
}


class PageServer:
    """Serves `pages` (path -> HTML) on 127.0.0.1; `port=0` picks a free port."""

    def __init__(self, port: int = 0) -> None:
        self.pages: dict[str, str] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                page = outer.pages.get(self.path.split("?")[0])
                body = (page or "not found").encode()
                self.send_response(200 if page is not None else 404)
                self.send_header("content-type", "text/html; charset=utf-8" if page is not None else "text/plain")
                self.send_header("content-length", str(len(body)))
                self.send_header("cache-control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return self.origin + path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def attack_page(bridge_url: str) -> str:
    """A hostile page: `noCors()` posts JSON as text/plain to every chat endpoint, `corsJson()`
    tries a real CORS call, and the forms post a JSON-shaped text/plain body and a url-encoded one."""
    # the classic JSON-by-form trick: name + "=" + value spells a JSON object
    chat = json.dumps(CHAT_JSON)
    form_name, form_value = chat[:-1] + ', "pad": "', '"}'
    targets = json.dumps({bridge_url + path: body for path, body in NO_CORS_TARGETS.items()})
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>totally harmless</title></head>
<body>
<iframe name="sink1" id="sink1"></iframe>
<iframe name="sink2" id="sink2"></iframe>
<form id="plain-form" method="POST" enctype="text/plain" action="{bridge_url}/v1/chat/completions" target="sink1">
  <input type="hidden" name='{_attr(form_name)}' value='{_attr(form_value)}'>
</form>
<form id="urlencoded-form" method="POST" action="{bridge_url}/v1/messages" target="sink2">
  <input type="hidden" name="model" value="claude-sim">
  <input type="hidden" name="max_tokens" value="64">
  <input type="hidden" name="messages" value='[{{"role":"user","content":"hi"}}]'>
</form>
<script>
const TARGETS = {targets};
async function noCors() {{
  const outcomes = [];
  for (const [url, body] of Object.entries(TARGETS)) {{
    try {{
      const answer = await fetch(url, {{mode: "no-cors", method: "POST", headers: {{"content-type": "text/plain"}},
                                        body: JSON.stringify(body)}});
      outcomes.push({{url, type: answer.type}});
    }} catch (error) {{
      outcomes.push({{url, error: String(error)}});
    }}
  }}
  return outcomes;
}}
async function corsJson() {{
  try {{
    const answer = await fetch("{bridge_url}/v1/chat/completions", {{method: "POST",
      headers: {{"content-type": "application/json"}}, body: JSON.stringify({chat})}});
    return {{status: answer.status, text: await answer.text()}};
  }} catch (error) {{
    return {{error: String(error)}};
  }}
}}
</script>
</body></html>
"""


def cors_page(bridge_url: str) -> str:
    """A page the owner trusts: real CORS calls (they need a preflight: application/json and SDK headers)."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>my own dev app</title></head>
<body>
<script>
async function call(path, body, headers) {{
  try {{
    const answer = await fetch("{bridge_url}" + path, {{method: "POST",
      headers: Object.assign({{"content-type": "application/json"}}, headers || {{}}), body: JSON.stringify(body)}});
    return {{status: answer.status, body: await answer.json(), requestId: answer.headers.get("x-request-id")}};
  }} catch (error) {{
    return {{error: String(error)}};
  }}
}}
async function chat() {{
  return call("/v1/chat/completions", {json.dumps(CHAT_JSON)}, {{"authorization": "Bearer placeholder"}});
}}
async function messages() {{
  return call("/v1/messages", {json.dumps(MESSAGES_JSON)}, {{"x-api-key": "placeholder", "anthropic-version": "2023-06-01"}});
}}
async function unknownModel() {{
  return call("/v1/chat/completions", {{"model": "no-such-model", "messages": [{{"role": "user", "content": "hi"}}]}});
}}
</script>
</body></html>
"""


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("'", "&#39;")
