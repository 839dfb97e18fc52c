"""Regenerate flows/: one recorded exchange per provider quirk.

    uv run python -m tests.record_flows                       # every flow below
    uv run python -m tests.record_flows --only bedrock,azure  # only flows/bedrock/ and flows/azure/

Starts the simulator (with its Bedrock and Azure OpenAI fronts, which check the SigV4
signature and the api-key) and a real bridge with `--set bridge_record=...`, sends
each client request below, and files each recording under flows/<provider>/
<quirk>.flow. The recordings are redacted by the bridge's own recorder. `--only`
records the exchanges whose first folder is one of those named and leaves every
other file in flows/ as it is.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from tests.bridge_process import ROOT, BridgeProcess
from tests.conftest import OPENAI_KEY, bridge_toml
from tests.simulator import Simulator
from tests.simulator.azure import AzureSimulator
from tests.simulator.bedrock import BedrockSimulator

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
TOOL_TURN = [
    {"role": "user", "content": "[sim:tools] Weather in Paris and London?"},
    {"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"id": "toolu_sim_01", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "toolu_sim_02", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "London"}'}}]},
    {"role": "tool", "tool_call_id": "toolu_sim_01", "content": "18°C, sunny"},
    {"role": "tool", "tool_call_id": "toolu_sim_02", "content": "12°C, rain"},
]
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Weather for a city.",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
ANTHROPIC_TOOL_TURN = [
    {"role": "user", "content": "[sim:tools] Weather in Paris and London?"},
    {"role": "assistant", "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_sim_01", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_sim_02", "name": "get_weather", "input": {"city": "London"}}]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_sim_01", "content": "18°C, sunny"},
        {"type": "tool_result", "tool_use_id": "call_sim_02", "content": [{"type": "text", "text": "12°C, rain"}], "is_error": False}]},
]


RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city.",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def responses(model: str, text: str, **extra) -> dict:
    return {"model": model, "input": [{"role": "user", "content": [{"type": "input_text", "text": text}]}],
            "max_output_tokens": 1024, **extra}


GEMINI_TOOLS = [{"functionDeclarations": [{"name": "get_weather", "description": "Weather for a city.",
                                            "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}]}]


def gemini(model: str, text: str, stream: bool = False, **extra) -> dict:
    return {"_gemini": (model, stream), "contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def claude(text: str, **extra) -> dict:
    return {"model": "gpt-sim", "max_tokens": 1024, "messages": user(text), **extra}


def anthropic_client(body: dict) -> dict:
    """An Anthropic Messages client's request filed outside anthropic-client/ ("_client" marks it for the recorder)."""
    return {"_client": "anthropic", **body}


# Bedrock and Azure OpenAI upstreams: the simulator's fronts check what the real services check
# (the SigV4 signature over the exact request; the api-key header, api-version and deployment).
# Fake credentials, which the recorder keeps out of the recordings: record() checks that they did.
AWS_ACCESS_KEY_ID = "AKIDFLOWRECORDER0001"
AWS_SECRET_ACCESS_KEY = "flow-recorder-aws-secret/0123456789+abcdef"
AWS_SESSION_TOKEN = "flow-recorder-aws-session-token-0123456789"
AWS_REGION = "us-east-1"
BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"  # its ":" goes up as %3A, as boto3 sends it
AZURE_KEY = "flow-recorder-azure-api-key-0123456789abcdef"
AZURE_DEPLOYMENT = "gpt-4o-prod"
SECRETS = (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AZURE_KEY, OPENAI_KEY, "sk-ant-sim-provider-key")


def bedrock_azure_toml(base_url: str) -> str:
    return f"""
[[providers]]
name = "bedrock"
protocol = "bedrock"
base_url = "{base_url}"
aws = {{ access_key_id = "{AWS_ACCESS_KEY_ID}", secret_access_key = "{AWS_SECRET_ACCESS_KEY}", session_token = "{AWS_SESSION_TOKEN}", region = "{AWS_REGION}" }}

[[models]]
id = "bedrock-sim"
provider = "bedrock"
upstream_model = "{BEDROCK_MODEL}"
max_tokens = 1024

[[providers]]
name = "azure"
protocol = "azure"
base_url = "{base_url}"
api_key = "{AZURE_KEY}"
api_version = "2024-10-21"

[[models]]
id = "azure-sim"
provider = "azure"
upstream_model = "{AZURE_DEPLOYMENT}"
"""


# (folder/quirk, request body)
EXCHANGES: list[tuple[str, dict]] = [
    ("anthropic/text-stream", {"model": "claude-sim", "stream": True, "messages": user("Hello!")}),
    ("anthropic/text-whole", {"model": "claude-sim", "messages": [{"role": "system", "content": "Be brief."}, *user("Hello!")]}),
    ("anthropic/text-stream-split-every-byte", {"model": "claude-sim", "stream": True, "messages": user("[sim:text split=1]")}),
    ("anthropic/multiple-text-blocks", {"model": "claude-sim", "stream": True, "messages": user("[sim:multi_text]")}),
    ("anthropic/thinking-stream", {"model": "claude-sim", "stream": True, "reasoning_effort": "low", "messages": user("[sim:thinking]")}),
    ("anthropic/thinking-whole", {"model": "claude-sim", "reasoning_effort": "medium", "messages": user("[sim:thinking]")}),
    ("anthropic/parallel-tools-stream", {"model": "claude-sim", "stream": True, "tools": TOOLS, "messages": user("[sim:tools]")}),
    ("anthropic/parallel-tools-whole", {"model": "claude-sim", "tools": TOOLS, "tool_choice": "required", "messages": user("[sim:tools]")}),
    ("anthropic/tool-without-arguments", {"model": "claude-sim", "stream": True, "parallel_tool_calls": False,
                                          "tools": [{"type": "function", "function": {"name": "get_time"}}], "messages": user("[sim:tool_noargs]")}),
    ("anthropic/tool-results-turn", {"model": "claude-sim", "stream": True, "tools": TOOLS, "messages": TOOL_TURN}),
    ("anthropic/stop-max-tokens", {"model": "claude-sim", "stream": True, "max_tokens": 20, "messages": user("[sim:max_tokens]")}),
    ("anthropic/stop-sequence", {"model": "claude-sim", "stream": True, "stop": ["STOP"], "messages": user("[sim:stop_sequence]")}),
    ("anthropic/refusal", {"model": "claude-sim", "stream": True, "messages": user("[sim:refusal]")}),
    ("anthropic/cached-usage", {"model": "claude-sim", "stream": True, "stream_options": {"include_usage": True}, "messages": user("[sim:cached]")}),
    ("anthropic/web-search-server-tool", {"model": "claude-sim", "stream": True, "messages": user("[sim:web_search]")}),
    ("anthropic/image-input", {"model": "claude-sim", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}]}),
    ("anthropic/error-400-invalid-request", {"model": "claude-sim", "messages": user("[sim:error400]")}),
    ("anthropic/error-401-authentication", {"model": "claude-sim", "stream": True, "messages": user("[sim:error401]")}),
    ("anthropic/error-429-rate-limit", {"model": "claude-sim", "stream": True, "messages": user("[sim:error429]")}),
    ("anthropic/error-529-overloaded", {"model": "claude-sim", "messages": user("[sim:error529]")}),
    ("anthropic/mid-stream-error", {"model": "claude-sim", "stream": True, "messages": user("[sim:midstream_error]")}),
    ("openai-chat/passthrough-stream-usage-dropped", {"model": "gpt-sim", "stream": True, "messages": user("Hello!")}),
    ("openai-chat/passthrough-stream-usage-asked", {"model": "gpt-sim", "stream": True, "stream_options": {"include_usage": True}, "messages": user("Hello!")}),
    ("openai-chat/passthrough-whole", {"model": "gpt-sim", "n": 1, "messages": user("Hello!")}),
    ("openai-chat/passthrough-tools-stream", {"model": "gpt-sim", "stream": True, "tools": TOOLS, "messages": user("[sim:tools]")}),
    ("openai-chat/passthrough-error-429", {"model": "gpt-sim", "messages": user("[sim:error429]")}),
    # Anthropic Messages clients
    ("anthropic-client/openai-chat/text-stream", claude("Hello!", stream=True)),
    ("anthropic-client/openai-chat/text-whole", claude("Hello!", system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}])),
    ("anthropic-client/openai-chat/thinking-stream", claude("[sim:thinking]", stream=True, thinking={"type": "enabled", "budget_tokens": 2048})),
    ("anthropic-client/openai-chat/adaptive-thinking-effort", claude("[sim:thinking]", stream=True, thinking={"type": "adaptive"}, output_config={"effort": "high"})),
    ("anthropic-client/openai-chat/parallel-tools-stream", claude("[sim:tools]", stream=True, tools=ANTHROPIC_TOOLS)),
    ("anthropic-client/openai-chat/parallel-tools-whole", claude("[sim:tools]", tools=ANTHROPIC_TOOLS, tool_choice={"type": "any", "disable_parallel_tool_use": False})),
    ("anthropic-client/openai-chat/tool-results-turn", {"model": "gpt-sim", "max_tokens": 1024, "stream": True, "tools": ANTHROPIC_TOOLS, "messages": ANTHROPIC_TOOL_TURN}),
    ("anthropic-client/openai-chat/stop-sequence-vllm", claude("[sim:stop_sequence vllm=1]", stream=True, stop_sequences=["STOP"])),
    ("anthropic-client/openai-chat/stop-max-tokens", claude("[sim:max_tokens]", stream=True)),
    ("anthropic-client/openai-chat/refusal", claude("[sim:refusal]")),
    ("anthropic-client/openai-chat/cached-usage", claude("[sim:cached]", stream=True)),
    ("anthropic-client/openai-chat/split-every-byte", claude("[sim:tools split=1]", stream=True, tools=ANTHROPIC_TOOLS)),
    ("anthropic-client/openai-chat/error-429", claude("[sim:error429]", stream=True)),
    ("anthropic-client/openai-chat/error-529-overloaded", claude("[sim:error529]")),
    ("anthropic-client/openai-chat/mid-stream-error", claude("[sim:midstream_error]", stream=True)),
    ("anthropic-client/anthropic/passthrough-stream", {**claude("[sim:thinking]", stream=True, thinking={"type": "enabled", "budget_tokens": 1024}), "model": "claude-sim", "max_tokens": 2048}),
    ("anthropic-client/anthropic/passthrough-whole", {**claude("Hello!"), "model": "claude-sim"}),
    # OpenAI Responses clients
    ("responses-client/anthropic/text-stream", responses("claude-sim", "Hello!", stream=True)),
    ("responses-client/anthropic/reasoning-stream", responses("claude-sim", "[sim:thinking]", stream=True, reasoning={"effort": "low"}, max_output_tokens=4096)),
    ("responses-client/anthropic/parallel-tools-whole", responses("claude-sim", "[sim:tools]", tools=RESPONSES_TOOLS)),
    ("responses-client/openai-chat/parallel-tools-stream", responses("gpt-sim", "[sim:tools]", stream=True, tools=RESPONSES_TOOLS)),
    ("responses-client/openai-chat/text-whole", responses("gpt-sim", "Hello!", instructions="Be brief.")),
    ("responses-client/openai-chat/error-429", responses("gpt-sim", "[sim:error429]", stream=True)),
    ("responses-client/openai-responses/passthrough-stream", responses("resp-sim", "[sim:thinking]", stream=True, reasoning={"effort": "low", "summary": "auto"}, include=["reasoning.encrypted_content"], store=False)),
    ("responses-client/openai-responses/passthrough-whole", responses("resp-sim", "Hello!")),
    # other clients to an OpenAI Responses upstream
    ("openai-responses/chat-client-parallel-tools-stream", {"model": "resp-sim", "stream": True, "tools": TOOLS, "messages": user("[sim:tools]")}),
    ("openai-responses/chat-client-max-tokens", {"model": "resp-sim", "messages": user("[sim:max_tokens]")}),
    ("anthropic-client/openai-responses/thinking-stream", {**claude("[sim:thinking]", stream=True, thinking={"type": "enabled", "budget_tokens": 2048}), "model": "resp-sim"}),
    # a Gemini upstream (gemini-3: thought signatures must come back)
    ("gemini/chat-client-parallel-tools-stream", {"model": "gem-sim", "stream": True, "tools": TOOLS, "messages": user("[sim:tools]")}),
    ("gemini/chat-client-text-whole", {"model": "gem-sim", "messages": [{"role": "system", "content": "Be brief."}, *user("Hello!")]}),
    ("gemini/chat-client-mid-stream-error", {"model": "gem-sim", "stream": True, "messages": user("[sim:midstream_error]")}),
    ("anthropic-client/gemini/thinking-stream", {**claude("[sim:thinking]", stream=True, thinking={"type": "enabled", "budget_tokens": 2048}), "model": "gem-sim", "max_tokens": 4096}),
    ("responses-client/gemini/text-stream", responses("gem-sim", "Hello!", stream=True)),
    # Gemini clients (the model and the method are in the URL; "_gemini" marks them for the recorder)
    ("gemini-client/anthropic/text-stream", gemini("claude-sim", "Hello!", stream=True)),
    ("gemini-client/openai-chat/parallel-tools-stream", gemini("gpt-sim", "[sim:tools]", stream=True, tools=GEMINI_TOOLS)),
    ("gemini-client/openai-responses/thinking-whole", gemini("resp-sim", "[sim:thinking]", generationConfig={"maxOutputTokens": 4000, "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}})),
    ("gemini-client/gemini/passthrough-stream", gemini("gem-sim", "[sim:tools]", stream=True, tools=GEMINI_TOOLS)),
    ("anthropic-client/openai-responses/tool-results-turn", {"model": "resp-sim", "max_tokens": 1024, "stream": True, "tools": ANTHROPIC_TOOLS, "messages": ANTHROPIC_TOOL_TURN}),
    # Amazon Bedrock (Anthropic models, SigV4, AWS event-stream answers)
    ("bedrock/text-stream", {"model": "bedrock-sim", "stream": True, "messages": user("Hello!")}),
    ("bedrock/text-whole", {"model": "bedrock-sim", "messages": [{"role": "system", "content": "Be brief."}, *user("Hello!")]}),
    ("bedrock/parallel-tools-stream", {"model": "bedrock-sim", "stream": True, "tools": TOOLS, "messages": user("[sim:tools]")}),
    ("bedrock/anthropic-client-thinking-stream", anthropic_client({**claude("[sim:thinking]", stream=True, thinking={"type": "enabled", "budget_tokens": 1024}),
                                                                   "model": "bedrock-sim", "max_tokens": 2048})),
    # Azure OpenAI (the deployment in the path, api-version in the query, the key as api-key)
    ("azure/text-stream", {"model": "azure-sim", "stream": True, "messages": user("Hello!")}),
    ("azure/text-whole", {"model": "azure-sim", "messages": [{"role": "system", "content": "Be brief."}, *user("Hello!")]}),
    ("azure/parallel-tools-stream", {"model": "azure-sim", "stream": True, "tools": TOOLS, "messages": user("[sim:tools]")}),
]

ANTHROPIC_CLIENT_HEADERS = {"anthropic-version": "2023-06-01", "anthropic-beta": "interleaved-thinking-2025-05-14",
                            "x-api-key": "sk-ant-client-secret-never-recorded"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.record_flows", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", metavar="FOLDERS", default="",
                        help="comma-separated first folders of flows/ to record (e.g. bedrock,azure); the rest stay untouched")
    return parser.parse_args(argv)


def selected(only: str) -> list[tuple[str, dict]]:
    if not only:
        return EXCHANGES
    wanted = {part.strip().strip("/") for part in only.split(",") if part.strip()}
    known = {name.split("/", 1)[0] for name, _ in EXCHANGES}
    if unknown := wanted - known:
        raise SystemExit(f"--only: no exchanges under {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    return [(name, body) for name, body in EXCHANGES if name.split("/", 1)[0] in wanted]


def send(bridge: BridgeProcess, name: str, body: dict) -> httpx.Response:
    body = dict(body)
    client = body.pop("_client", None)
    if name.startswith("gemini-client/"):
        model, stream = body.pop("_gemini")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return httpx.post(f"{bridge.base_url}/v1beta/models/{model}:{method}", timeout=30, json=body,
                          headers={"x-goog-api-key": "sk-client-secret-never-recorded"})
    if name.startswith("responses-client/"):
        return httpx.post(f"{bridge.base_url}/v1/responses", json=body, timeout=30,
                          headers={"authorization": "Bearer sk-client-secret-never-recorded"})
    if name.startswith("anthropic-client/") or client == "anthropic":
        return httpx.post(f"{bridge.base_url}/v1/messages?beta=true", json=body, timeout=30, headers=ANTHROPIC_CLIENT_HEADERS)
    return httpx.post(f"{bridge.base_url}/v1/chat/completions", json=body, timeout=30,
                      headers={"authorization": "Bearer sk-client-secret-never-recorded"})


def main(argv: list[str] | None = None) -> None:
    exchanges = selected(parse_args(argv).only)
    sim = Simulator(anthropic_key="sk-ant-sim-provider-key", openai_key=OPENAI_KEY)
    sim.fronts.extend([
        BedrockSimulator(sim.context, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_SESSION_TOKEN),
        AzureSimulator(sim.context, AZURE_KEY, deployments=[AZURE_DEPLOYMENT]),
    ])
    with sim, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "bridge.toml").write_text(bridge_toml(sim.base_url) + bedrock_azure_toml(sim.base_url))
        record = tmp / "recorded"
        env = {"SIM_OPENAI_KEY": OPENAI_KEY, "PATH": "/usr/bin:/bin"}
        bridge = BridgeProcess(f"--set=bridge_config={tmp / 'bridge.toml'}", f"--set=bridge_record={record}",
                               log_path=tmp / "mitmdump.log", env=env).wait_ready()
        try:
            for name, body in exchanges:
                before = set(record.glob("*.flow")) if record.exists() else set()
                answer = send(bridge, name, body)
                for _ in range(100):  # the flow is written when the response hook ran
                    new = set(record.glob("*.flow")) - before
                    if new:
                        break
                    time.sleep(0.05)
                (target := ROOT / "flows" / f"{name}.flow").parent.mkdir(parents=True, exist_ok=True)
                if not new:
                    raise SystemExit(f"{name}: nothing was recorded; the bridge answered {answer.status_code} {answer.text[:300]}")
                recorded = new.pop()
                content = recorded.read_bytes()
                if leaked := [s for s in SECRETS if s.encode() in content]:
                    raise SystemExit(f"{name}: the recording holds a provider credential ({len(leaked)} of them); not filed")
                shutil.move(str(recorded), target)
                print("recorded", target.relative_to(ROOT))
        finally:
            bridge.stop()


if __name__ == "__main__":
    main()
