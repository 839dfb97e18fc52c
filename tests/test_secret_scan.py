"""After a run with real-looking secrets, none of them appears in the log, in a `-w` save
file, in `bridge_record` recordings or in any answer, errors included. `-w` and a
header-printing `flow_detail` are on, so every flow could be seen while in flight."""

from __future__ import annotations

import zlib

import httpx

from tests.credential_fixtures import DROID_REFRESH, TRAE_REFRESH, CredentialUpstreams, credentials_toml, start_bridge

ANTHROPIC_KEY = "sk-ant-api03-Xk29fLq0Rz7TnB4sVw1Yc8Hd5Jm2Pg6Ua3Eo0Ni9Kt7Lr4Qs1Zx-AbCdEfAA"
# sessions that session affinity (CRC-32 of the name over the keys) sends with the first and the second pooled key
SESSIONS = [next(f"scan-{n}" for n in range(100) if zlib.crc32(f"scan-{n}".encode()) % 2 == i) for i in (0, 1)]
OPENAI_KEYS = ("sk-proj-4fH8kL2mN6pQ9rS3tV7wX1yZ5aB0cD8eF2gH6iJ", "sk-proj-9aZ8yX7wV6uT5sR4qP3oN2mL1kJ0iH9gF8eD7cB")
BRIDGE_TOKEN = "llmb-7f3c9a2e5d8b1f4a6c0e9d2b7a5f3c1e"
CLIENT_KEY = "sk-ant-api03-client-own-key-Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzAA"
GEMINI_KEY = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"


def test_no_secret_is_logged_saved_recorded_or_answered(tmp_path):
    with CredentialUpstreams(anthropic_key=ANTHROPIC_KEY) as up:
        store = tmp_path / "store.json"
        extra = f"""
[server]
auth_tokens = ["{BRIDGE_TOKEN}"]

[[providers]]
name = "claude"
protocol = "anthropic"
base_url = "{up.base_url}"
api_key = "{ANTHROPIC_KEY}"

[[providers]]
name = "oai"
protocol = "openai-chat"
base_url = "{up.base_url}/v1"
api_keys = ["{OPENAI_KEYS[0]}", "{OPENAI_KEYS[1]}"]

[[providers]]
name = "own-key"
protocol = "anthropic"
base_url = "{up.base_url}"
client_key = true

[[models]]
id = "claude-sim"
provider = "claude"

[[models]]
id = "gpt-sim"
provider = "oai"

[[models]]
id = "own-sim"
provider = "own-key"
"""
        toml = credentials_toml(up.base_url, store, extra=extra)
        bridge = start_bridge(tmp_path, toml, f"--save-stream-file={tmp_path / 'saved.flow'}",
                              f"--set=bridge_record={tmp_path / 'recorded'}", "--set=flow_detail=4")
        answers = []
        auth = {"authorization": f"Bearer {BRIDGE_TOKEN}"}
        try:
            with httpx.Client(base_url=bridge.base_url, timeout=60) as client:
                for model in ("claude-sonnet-4-5", "gpt-5", "glm-4.6", "claude-3-7-sonnet", "claude-sim", "gpt-sim"):
                    for stream in (False, True):  # two sessions whose keys (session affinity) are the pool's two
                        answers.append(client.post("/v1/chat/completions", headers={**auth, "x-session-id": SESSIONS[stream]}, json={
                            "model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
                answers.append(client.post("/v1/messages", headers={**auth, "x-api-key": CLIENT_KEY}, json={
                    "model": "own-sim", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}))
                answers.append(client.post(f"/v1beta/models/claude-sim:generateContent?key={GEMINI_KEY}", headers=auth,
                                           json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
                answers.append(client.post("/v1/chat/completions", headers={"authorization": f"Bearer {BRIDGE_TOKEN}x"},
                                           json={"model": "gpt-sim", "messages": [{"role": "user", "content": "hi"}]}))
                answers.append(client.post("/v1/chat/completions", headers=auth, json={
                    "model": "claude-sim", "messages": [{"role": "user", "content": "[sim:error401] hi"}]}))
                up.workos.revoke_access_tokens()  # a 401 upstream: refresh and retry
                answers.append(client.post("/v1/chat/completions", headers=auth, json={
                    "model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]}))
                answers.append(client.get("/v1/models", headers=auth))
        finally:
            bridge.stop()

        assert [a.status_code for a in answers[:12]] == [200] * 12, [a.text[:200] for a in answers]
        assert answers[12].status_code == 401  # the simulator knows only the bridge's Anthropic key, not the client's own
        assert answers[13].status_code == 200
        assert answers[-4].status_code == 401 and answers[-3].status_code == 401 and answers[-2].status_code == 200
        assert up.workos.calls == 2 and up.trae.exchange_calls == 1

        secrets = {DROID_REFRESH, TRAE_REFRESH, ANTHROPIC_KEY, *OPENAI_KEYS, BRIDGE_TOKEN, CLIENT_KEY, GEMINI_KEY}
        secrets |= {body["refresh_token"] for body in up.workos.issued} | {body["access_token"] for body in up.workos.issued}
        secrets |= set(up.trae.access_tokens) | set(up.trae.refresh_tokens) | set(up.trae.retired_refresh_tokens)
        assert len(secrets) >= 14
        places = {"log": (tmp_path / "bridge.log").read_bytes(), "saved.flow": (tmp_path / "saved.flow").read_bytes()}
        recordings = sorted((tmp_path / "recorded").glob("*.flow"))
        assert len(recordings) >= 14
        places |= {f"recorded/{p.name}": p.read_bytes() for p in recordings}
        ledger = sorted(tmp_path.rglob("llm-bridge-usage.sqlite*"))  # the usage ledger (beside the config)
        assert ledger
        places |= {f"ledger/{p.name}": p.read_bytes() for p in ledger}
        places |= {f"answer {i}": a.content + str(a.headers).encode() for i, a in enumerate(answers)}
        leaks = [(secret[:12] + "...", place) for secret in secrets for place, data in places.items() if secret.encode() in data]
        assert leaks == []
        # the upstreams did get the real credentials: the scan looks for strings that were in use
        assert any(r.headers.get("x-api-key") == ANTHROPIC_KEY for r in up.sim.requests)
        assert any(r.headers.get("x-api-key") == CLIENT_KEY for r in up.sim.requests)
        assert {r.headers.get("authorization") for r in up.sim.requests} >= {f"Bearer {k}" for k in OPENAI_KEYS}
