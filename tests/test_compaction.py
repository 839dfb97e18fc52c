"""Responses compaction for every upstream (issue 15, point 4): `POST /v1/responses/compact` and the
`compaction_trigger` item, through a real mitmdump with the official openai SDK, to the Anthropic, OpenAI Chat
and Gemini simulators (the bridge asks the model for the summary and seals it into the compaction item) and to
the Responses simulator (passthrough); the item's seal; and Codex compacting a session against the Anthropic
simulator, both ways it can (its own summary turn, and a `compaction_trigger`)."""

from __future__ import annotations


import httpx
import openai
import pytest

from addons.compaction import CompactionSeal
from addons.proxy_url.token import TokenSealer
from tests import codex_cli
from tests.conftest import simulator_bridge
from tests.test_proxy_urls_e2e import anthropic_target, v2
from transforms.errors import BridgeError
from transforms.ir import ChatRequest, Message, TextPart, ToolDefinition
from transforms.openai_responses import compaction as pure

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"  # what every simulator answers: the summary, here
SECRET = "compaction-test-secret-0123456789abcdef"
OTHER_SECRET = "another-bridge-secret-0123456789abcdef"
TRANSLATED = ["claude-sim", "gpt-sim", "gem-sim"]
UPSTREAM_PATHS = {"claude-sim": "/v1/messages", "gpt-sim": "/v1/chat/completions",
                  "gem-sim": "/v1beta/models/gemini-3-pro-preview:generateContent"}
CONVERSATION = [
    {"role": "user", "content": "Rename the config loader to load_settings in src/config.py."},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done: renamed it."}]},
    {"role": "user", "content": "Now update the callers."},
]


@pytest.fixture
def client(bridge):
    return openai.OpenAI(base_url=f"{bridge.base_url}/v1", api_key="client-key", max_retries=0, timeout=30)


def sent(request) -> str:
    """Every string the simulator received, one per line (a text as the model reads it)."""
    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)
    return "\n".join(strings(request.json))


def dumped(item) -> dict:
    # (the SDK reads a compacted answer's user messages as output messages: their input_text parts warn)
    return item.model_dump(exclude_none=True, warnings=False)


def error_of(excinfo) -> dict:
    return excinfo.value.response.json()["error"]


# --- the seal ---------------------------------------------------------------


def test_the_seal_opens_what_it_sealed_and_nothing_else():
    seal = CompactionSeal(lambda: [SECRET])
    content = seal.seal(b'{"summary": "s"}')
    assert content.startswith(pure.PREFIX) and b"summary" not in content.encode()
    assert seal.open(content) == b'{"summary": "s"}'
    assert seal.seal(b"x") != seal.seal(b"x")  # a fresh nonce each time
    token = content[len(pure.PREFIX):]
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert seal.open(pure.PREFIX + flipped) is None  # altered
    assert seal.open(pure.PREFIX + token + "=") is None  # not the canonical spelling
    assert seal.open(token) is None and seal.open("llmb2." + token) is None  # no or another version's prefix
    assert CompactionSeal(lambda: [OTHER_SECRET]).open(content) is None  # another bridge's secret
    rotated = CompactionSeal(lambda: [OTHER_SECRET, SECRET])
    assert rotated.open(content) == b'{"summary": "s"}'  # an older secret still listed opens
    assert CompactionSeal(lambda: [SECRET]).open(rotated.seal(b"new")) is None  # the newest seals


def test_the_seal_key_is_never_the_proxy_url_key():
    """A proxy-URL token holds provider keys: it must never open as a compaction item, nor the reverse."""
    seal, tokens = CompactionSeal(lambda: [SECRET]), TokenSealer([SECRET])
    token = tokens.seal(b'{"summary": "the provider keys"}')
    assert seal.open(pure.PREFIX + token) is None
    with pytest.raises(Exception):
        tokens.open(seal.seal(b'{"summary": "s"}')[len(pure.PREFIX):])


def test_without_a_secret_a_key_of_the_process_seals():
    seal = CompactionSeal()
    content = seal.seal(b'{"summary": "s"}')
    assert seal.open(content) == b'{"summary": "s"}'
    assert CompactionSeal().open(content) is None  # another process (a restart) cannot read it


# --- the pure parts ------------------------------------------------------------


def test_read_compaction_opens_the_bridges_items_and_leaves_the_others():
    body = {"model": "m", "input": [
        {"role": "user", "content": "a"},
        {"type": "compaction", "id": "cmp_1", "encrypted_content": pure.PREFIX + "bridge"},
        {"type": "compaction", "id": "cmp_2", "encrypted_content": "gAAAAB-openai"},
        {"type": "compaction_trigger"},
    ]}
    read = pure.read_compaction("/v1/responses", body, lambda content: "the summary")
    assert read.task == "trigger" and read.given is body
    assert read.body["input"][1] == pure.summary_message("the summary")
    assert read.body["input"][2] == body["input"][2] and read.body["input"][3] == {"type": "compaction_trigger"}
    with pytest.raises(BridgeError) as refused:
        pure.unreadable(read.body)
    assert refused.value.param == "input[2]"
    with pytest.raises(BridgeError) as tampered:
        pure.read_compaction("/v1/responses", body, lambda content: None)
    assert tampered.value.param == "input[1].encrypted_content"
    assert pure.read_compaction("/v1/responses/compact", {"model": "m", "input": "hi"}, str).task == "compact"
    with pytest.raises(BridgeError) as misplaced:
        pure.read_compaction("/v1/responses", {"input": [{"type": "compaction_trigger"}, {"role": "user", "content": "x"}]}, str)
    assert misplaced.value.param == "input[0]"


def test_the_summary_request_asks_for_text_once():
    request = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], tools=[ToolDefinition("t")],
                          stream=True, unsupported=[("image", "unknown parameter 'image'")])
    asked = pure.summary_request(request)
    assert asked.stream is False and asked.tool_choice.mode == "none" and asked.tools == request.tools
    assert asked.messages[-1].parts[0].text == pure.SUMMARY_INSTRUCTION and not asked.unsupported
    assert request.messages == [Message("user", [TextPart("hi")])]  # the client's request is left as it was


# --- through the bridge -----------------------------------------------------------


@pytest.mark.parametrize("model", TRANSLATED)
@pytest.mark.parametrize("stream", [False, True])
def test_compact_then_continue(client, simulator, model, stream):
    simulator.clear()
    compacted = client.responses.compact(model=model, input=CONVERSATION, instructions="Be brief.")
    assert compacted.object == "response.compaction"
    output = [dumped(item) for item in compacted.output]
    assert [(o["type"], o.get("role")) for o in output] == [("message", "user"), ("message", "user"), ("compaction", None)]
    assert [o["content"][0]["text"] for o in output[:2]] == [CONVERSATION[0]["content"], CONVERSATION[2]["content"]]
    item = output[-1]
    assert item["encrypted_content"].startswith(pure.PREFIX) and SIM_TEXT not in item["encrypted_content"]
    assert compacted.usage.output_tokens > 0
    asked = simulator.requests[-1]
    assert asked.path == UPSTREAM_PATHS[model]  # one whole answer asked of the model itself
    assert pure.SUMMARY_INSTRUCTION in sent(asked) and "Done: renamed it." in sent(asked) and "Be brief." in sent(asked)

    follow_up = [*output, {"role": "user", "content": "Carry on."}]
    if stream:
        with client.responses.stream(model=model, input=follow_up) as events:
            answer = events.get_final_response()
    else:
        answer = client.responses.create(model=model, input=follow_up)
    assert answer.output_text == SIM_TEXT
    continued = sent(simulator.requests[-1])
    assert pure.SUMMARY_INTRO + SIM_TEXT in continued and "Carry on." in continued  # the summary, as context
    assert "Done: renamed it." not in continued  # what was compacted is gone


@pytest.mark.parametrize("model", TRANSLATED)
@pytest.mark.parametrize("stream", [False, True])
def test_compaction_trigger(client, simulator, model, stream):
    simulator.clear()
    given = [*CONVERSATION, {"type": "compaction_trigger"}]
    if stream:
        events = list(client.responses.create(model=model, input=given, stream=True))
        assert [e.type for e in events] == [
            "response.created", "response.in_progress", "response.output_item.added", "response.compaction.compacting",
            "response.output_item.done", "response.completed"]
        assert [e.sequence_number for e in events] == list(range(6))
        response = events[-1].response
    else:
        response = client.responses.create(model=model, input=given)
    assert response.status == "completed" and [o.type for o in response.output] == ["compaction"]
    item = dumped(response.output[0])
    assert pure.SUMMARY_INSTRUCTION in sent(simulator.requests[-1])
    assert "compaction_trigger" not in sent(simulator.requests[-1])

    answer = client.responses.create(model=model, input=[CONVERSATION[0], item, {"role": "user", "content": "Next?"}])
    assert answer.output_text == SIM_TEXT
    assert pure.SUMMARY_INTRO + SIM_TEXT in sent(simulator.requests[-1])


def test_compacting_again_folds_the_earlier_summary_in(client, simulator):
    first = dumped(client.responses.compact(model="claude-sim", input=CONVERSATION).output[-1])
    again = client.responses.compact(model="claude-sim", input=[first, {"role": "user", "content": "More."}])
    assert [o.type for o in again.output] == ["message", "compaction"]  # the earlier item is summarised, not listed
    assert pure.SUMMARY_INTRO + SIM_TEXT in sent(simulator.requests[-1])


def test_items_that_cannot_be_read_are_refused_naming_them(client, simulator):
    item = dumped(client.responses.compact(model="claude-sim", input=CONVERSATION).output[-1])
    token = item["encrypted_content"]
    cases = {
        "altered": ({**item, "encrypted_content": token[:-2] + ("AA" if token[-2:] != "AA" else "BA")},
                    "input[1].encrypted_content"),
        "another bridge's": ({**item, "encrypted_content": CompactionSeal(lambda: [OTHER_SECRET]).seal(b'{"summary":"x"}')},
                             "input[1].encrypted_content"),
        "OpenAI's own": ({"type": "compaction", "id": "cmp_x", "encrypted_content": "gAAAAABo-openai-own"}, "input[1]"),
    }
    simulator.clear()
    for model in TRANSLATED:
        for what, (bad, param) in cases.items():
            with pytest.raises(openai.BadRequestError) as refused:
                client.responses.create(model=model, input=[CONVERSATION[0], bad, {"role": "user", "content": "go"}])
            assert error_of(refused)["param"] == param, what
            assert "compaction item" in error_of(refused)["message"], what
    assert simulator.requests == []  # nothing was forwarded


def test_a_misplaced_trigger_is_refused(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="gpt-sim", input=[{"type": "compaction_trigger"}, *CONVERSATION])
    assert error_of(refused)["param"] == "input[0]" and "final input item" in error_of(refused)["message"]


def test_a_responses_upstream_compacts_itself(client, simulator):
    simulator.clear()
    compacted = client.responses.compact(model="resp-sim", input=CONVERSATION)
    upstream = simulator.requests[-1]
    assert upstream.path == "/v1/responses/compact" and upstream.json["model"] == "gpt-5-mini"
    assert upstream.json["input"][1]["content"][0]["text"] == "Done: renamed it."  # as the client sent it
    item = dumped(compacted.output[-1])
    assert item["type"] == "compaction" and item["encrypted_content"].startswith("gAAAAB-simulated")

    answer = client.responses.create(model="resp-sim", input=[*[dumped(o) for o in compacted.output],
                                                              {"role": "user", "content": "Carry on."}])
    assert answer.output_text
    assert item in simulator.requests[-1].json["input"]  # OpenAI's own item goes up untouched

    client.responses.create(model="resp-sim", input=[*CONVERSATION, {"type": "compaction_trigger"}])
    assert simulator.requests[-1].path == "/v1/responses"
    assert simulator.requests[-1].json["input"][-1] == {"type": "compaction_trigger"}  # the upstream's to answer


def test_the_bridges_item_goes_to_a_responses_upstream_as_its_summary(client, simulator):
    item = dumped(client.responses.compact(model="gpt-sim", input=CONVERSATION).output[-1])
    client.responses.create(model="resp-sim", input=[item, {"role": "user", "content": "go"}])
    received = sent(simulator.requests[-1])
    assert pure.SUMMARY_INTRO + SIM_TEXT in received and pure.PREFIX not in received


def test_items_stay_readable_across_bridges_sharing_the_url_secret(simulator, tmp_path):
    """The item is the whole state: another bridge process with the same secret reads it; one without cannot.
    Behind a proxy URL (which needs the secret anyway) compaction works as on the bridge's own paths."""
    def start(name: str, secret: str):
        folder = tmp_path / name
        folder.mkdir()
        return simulator_bridge(simulator, folder, f"--set=bridge_url_secret={secret}")

    first = start("first", SECRET)
    try:
        sdk = openai.OpenAI(base_url=f"{first.base_url}/v1", api_key="k", max_retries=0, timeout=30)
        item = dumped(sdk.responses.compact(model="claude-sim", input=CONVERSATION).output[-1])
        generated = httpx.post(f"{first.base_url}/api/generate-url", timeout=10, json=v2(
            "openai", anthropic_target(simulator), {"mode": "force", "force": "claude-sonnet-4-5"}))
        proxied = openai.OpenAI(base_url=generated.json()["proxyUrl"] + "/v1", api_key="placeholder", max_retries=0)
        through_url = proxied.responses.compact(model="gpt-5", input=CONVERSATION)
        assert [o.type for o in through_url.output] == ["message", "message", "compaction"]
        answer = proxied.responses.create(model="gpt-5", input=[item, {"role": "user", "content": "go"}], stream=True)
        assert [e.type for e in answer][-1] == "response.completed"
        assert pure.SUMMARY_INTRO + SIM_TEXT in sent(simulator.requests[-1])
    finally:
        first.stop()
    for name, secret, status in (("same", SECRET, 200), ("other", OTHER_SECRET, 400)):
        bridge = start(name, secret)
        try:
            simulator.clear()
            r = httpx.post(f"{bridge.base_url}/v1/responses", timeout=30, json={
                "model": "claude-sim", "input": [item, {"role": "user", "content": "go"}]})
            assert r.status_code == status, r.text
            assert len(simulator.requests) == (status == 200)  # a refused item is never forwarded
        finally:
            bridge.stop()


# --- Codex ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def codex():
    binary = codex_cli.install()
    if binary is None:
        pytest.skip("npm is not installed: Codex cannot be installed")
    return binary


@pytest.mark.parametrize("provider_name", ["OpenAI", "llm-bridge"], ids=["compaction_trigger", "codex-summary-turn"])
def test_codex_completes_a_session_that_compacts(codex, bridge, simulator, tmp_path, provider_name):
    """Codex compacts before a turn once the context passes `model_auto_compact_token_limit`. A provider named
    "OpenAI" makes Codex ask the server (a `compaction_trigger` ending a streamed /v1/responses), which the
    bridge answers with its item; any other name makes Codex summarise in a turn of its own."""
    limit = ("-c", "model_auto_compact_token_limit=1000")
    simulator.clear()
    first = codex_cli.run(codex, bridge.base_url, "claude-sim", "remember the word Heron", tmp_path, args=limit,
                          provider_name=provider_name)
    assert first.returncode == 0, first.stdout + first.stderr
    second = codex_cli.run(codex, bridge.base_url, "claude-sim", "what was the word?", tmp_path,
                           args=(*limit, "resume", "--last"), provider_name=provider_name)
    assert second.returncode == 0, second.stdout + second.stderr
    assert SIM_TEXT in second.stdout
    calls = [r for r in simulator.requests if r.path == "/v1/messages"]
    assert len(calls) == 3  # the first turn, the summary, the second turn
    summary_call, last = sent(calls[1]), sent(calls[2])
    if provider_name == "OpenAI":
        assert pure.SUMMARY_INSTRUCTION in summary_call  # the bridge's summary request, for the trigger
        assert pure.SUMMARY_INTRO + SIM_TEXT in last  # the compaction item Codex kept, opened into context
    else:
        assert "CONTEXT CHECKPOINT COMPACTION" in summary_call  # Codex's own summary prompt, a turn like any
        assert SIM_TEXT in last and pure.SUMMARY_INTRO not in last
    assert "remember the word Heron" in last and "what was the word?" in last
