"""The upstream simulator's OpenAI Responses API (`POST /v1/responses`), driven by the official SDK."""

from __future__ import annotations

import itertools
import json

import httpx
import openai
import pytest

from tests.simulator import Simulator
from tests.simulator.openai_responses import encrypted_content

OPENAI_KEY = "sk-sim"
HELLO = "Hello from the simulator! Ünïcödé ✓ 🌍"
RAINY = [{"type": "input_text", "text": "rainy"}]
MODEL = "gpt-sim"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture(scope="module")
def sim():
    with Simulator(openai_key=OPENAI_KEY) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def gpt(sim):
    return openai.OpenAI(base_url=f"{sim.base_url}/v1", api_key=OPENAI_KEY, max_retries=0)


def create(client, text, **params):
    return client.responses.create(model=MODEL, input=text, **params)


def stream(client, text, **params):
    """Stream through the SDK helper: the final response and the event types seen."""
    with client.responses.stream(model=MODEL, input=text, **params) as events:
        seen = [event.type for event in events]
        return events.get_final_response(), seen


def raw_events(sim, body: dict) -> list[tuple[str, dict]]:
    """POST a streamed request with httpx; the (event name, data) frames as sent."""
    body = {"model": MODEL, "stream": True, **body}
    response = httpx.post(
        f"{sim.base_url}/v1/responses", headers={"authorization": f"Bearer {OPENAI_KEY}"}, json=body, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = []
    for block in response.text.split("\n\n"):
        if not block:
            continue
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        frames.append((name_line[len("event: ") :], json.loads(data_line[len("data: ") :])))
    return frames


def check_grammar(frames: list[tuple[str, dict]]) -> None:
    """Event names match their data, sequence numbers count from 0, item events agree with their item."""
    assert [data["sequence_number"] for _, data in frames] == list(range(len(frames)))
    assert all(name == data["type"] for name, data in frames)
    assert [name for name, _ in frames[:2]] == ["response.created", "response.in_progress"]
    assert frames[0][1]["response"]["status"] == "in_progress" and frames[0][1]["response"]["output"] == []
    open_items: dict[int, str] = {}
    done: list[dict] = []
    for name, data in frames[2:-1]:
        if name == "response.output_item.added":
            assert data["output_index"] == len(done) and data["output_index"] not in open_items
            open_items[data["output_index"]] = data["item"]["id"]
        elif name == "response.output_item.done":
            assert open_items.pop(data["output_index"]) == data["item"]["id"]
            done.append(data["item"])
        else:
            assert open_items.get(data["output_index"]) == data["item_id"], name
    assert not open_items
    final = frames[-1][1]["response"]
    assert final["output"] == done
    assert final["usage"]["total_tokens"] == final["usage"]["input_tokens"] + final["usage"]["output_tokens"]


# --- replies ---------------------------------------------------------------------------------


def test_text(gpt):
    response = create(gpt, "hi")
    assert response.output_text == HELLO
    assert response.object == "response" and response.id.startswith("resp_sim_")
    assert response.status == "completed" and response.model == MODEL and response.created_at > 0
    (message,) = response.output
    assert (message.type, message.role, message.status) == ("message", "assistant", "completed")
    assert message.phase == "final_answer"
    assert message.content[0].type == "output_text" and message.content[0].annotations == []
    usage = response.usage
    assert usage.input_tokens > 0 and usage.output_tokens == 5
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0 and usage.output_tokens_details.reasoning_tokens == 0
    assert response._request_id.startswith("req_sim_")

    final, seen = stream(gpt, "hi")
    assert final.output_text == HELLO and final.status == "completed"
    opening = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    closing = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    assert seen == [*opening, *["response.output_text.delta"] * 5, *closing, "response.completed"]


def test_text_stream_wire_format(sim):
    frames = raw_events(sim, {"input": "hi"})
    check_grammar(frames)
    deltas = [data for name, data in frames if name == "response.output_text.delta"]
    assert "".join(data["delta"] for data in deltas) == HELLO
    assert all(data["content_index"] == 0 and data["logprobs"] == [] and data["obfuscation"] for data in deltas)
    assert frames[-1][1]["response"]["completed_at"] is not None
    without = raw_events(sim, {"input": "hi", "stream_options": {"include_obfuscation": False}})
    assert not any("obfuscation" in data for _, data in without)


def test_split_every_byte_gives_same_final_response(gpt, sim):
    whole, _ = stream(gpt, "[sim:tools]")
    split, _ = stream(gpt, "[sim:tools split=1]")
    assert split.output_text == whole.output_text == "Let me check."
    assert [item.model_dump(exclude={"id"}) for item in split.output] == [
        item.model_dump(exclude={"id"}) for item in whole.output
    ]
    check_grammar(raw_events(sim, {"input": "[sim:thinking split=1]", "reasoning": {"summary": "auto"}}))


def test_thinking_reasoning_item_with_summary(gpt, sim):
    params = {"reasoning": {"effort": "low", "summary": "auto"}, "include": ["reasoning.encrypted_content"]}
    for response in (create(gpt, "[sim:thinking]", **params), stream(gpt, "[sim:thinking]", **params)[0]):
        reasoning, message = response.output
        assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_sim_")
        assert [(part.type, part.text) for part in reasoning.summary] == [
            ("summary_text", "Let me think this through carefully.")
        ]
        assert reasoning.encrypted_content == encrypted_content(reasoning.id)
        assert response.output_text == "The answer is 42."
        assert response.usage.output_tokens_details.reasoning_tokens == 2
        assert response.reasoning.effort == "low" and response.reasoning.summary == "auto"

    frames = raw_events(sim, {"input": "[sim:thinking]", **params})
    check_grammar(frames)
    names = [name for name, _ in frames]
    assert names[2:9] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert all(data["summary_index"] == 0 for name, data in frames if "reasoning_summary" in name)


def test_thinking_without_summary_or_encrypted_content(gpt):
    response = create(gpt, "[sim:thinking]", reasoning={"effort": "high"})
    reasoning = response.output[0]
    assert reasoning.summary == [] and reasoning.encrypted_content is None
    assert response.usage.output_tokens_details.reasoning_tokens == 2
    _, seen = stream(gpt, "[sim:thinking]")
    assert not any("reasoning_summary" in name for name in seen)


def test_tools_two_parallel_function_calls(gpt, sim):
    expected = [{"city": "Paris"}, {"city": "London"}]
    for response in (create(gpt, "[sim:tools]", tools=[WEATHER]), stream(gpt, "[sim:tools]", tools=[WEATHER])[0]):
        assert response.status == "completed"
        message, *calls = response.output
        assert message.type == "message" and message.phase == "commentary"
        assert [call.type for call in calls] == ["function_call", "function_call"]
        assert [(call.id, call.call_id, call.name) for call in calls] == [
            ("fc_sim_01", "call_sim_01", "get_weather"),
            ("fc_sim_02", "call_sim_02", "get_weather"),
        ]
        assert [json.loads(call.arguments) for call in calls] == expected
        assert response.tools[0].name == "get_weather" and response.tools[0].strict is True

    frames = raw_events(sim, {"input": "[sim:tools]"})
    check_grammar(frames)
    fragments = [data["delta"] for name, data in frames if name == "response.function_call_arguments.delta"]
    assert fragments == ['{"ci', 'ty": "Pa', 'ris"}', '{"city"', ': "Lon', 'don"}']
    done = [data for name, data in frames if name == "response.function_call_arguments.done"]
    assert [(data["item_id"], data["output_index"], data["name"], json.loads(data["arguments"])) for data in done] == [
        ("fc_sim_01", 1, "get_weather", expected[0]),
        ("fc_sim_02", 2, "get_weather", expected[1]),
    ]


def test_function_call_output_round_trip(gpt):
    first = create(gpt, "[sim:tools]", tools=[WEATHER])
    follow_up = gpt.responses.create(
        model=MODEL,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "[sim:tools]"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": "call_sim_01", "output": "sunny"},
            {"type": "function_call_output", "call_id": "call_sim_02", "output": RAINY},
        ],
    )
    assert follow_up.output_text == "Tool results received: sunny; rainy"


def test_encrypted_reasoning_round_trip_and_forgery(gpt):
    params = {"reasoning": {"summary": "auto"}, "include": ["reasoning.encrypted_content"], "store": False}
    first = create(gpt, "[sim:thinking]", **params)
    replayed = [item.model_dump(exclude_none=True) for item in first.output]
    history = [{"role": "user", "content": "[sim:thinking]"}, *replayed]
    again = gpt.responses.create(model=MODEL, input=[*history, {"role": "user", "content": "more"}], **params)
    assert again.output_text == HELLO

    history[1]["encrypted_content"] = "gAAAAABforged=="
    with pytest.raises(openai.BadRequestError) as caught:
        gpt.responses.create(model=MODEL, input=[*history, {"role": "user", "content": "more"}], **params)
    assert caught.value.code == "invalid_encrypted_content"


def test_tool_without_arguments_and_read(gpt):
    call = create(gpt, "[sim:tool_noargs]").output[0]
    assert (call.name, call.arguments) == ("get_time", "{}")
    response, _ = stream(gpt, "[sim:read path=/tmp/notes.txt]")
    assert response.output_text == "I will read it."
    call = response.output[1]
    assert (call.name, json.loads(call.arguments)) == ("Read", {"file_path": "/tmp/notes.txt"})


def test_max_tokens_incomplete(gpt, sim):
    response = create(gpt, "[sim:max_tokens]", max_output_tokens=16)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete" and response.output_text == "This answer is cut off before it"
    assert response.max_output_tokens == 16

    with gpt.responses.stream(model=MODEL, input="[sim:max_tokens]") as events:
        last = list(events)[-1]
    assert last.type == "response.incomplete" and last.response.status == "incomplete"
    assert last.response.output_text == "This answer is cut off before it"

    frames = raw_events(sim, {"input": "[sim:max_tokens]"})
    check_grammar(frames)
    assert frames[-1][0] == "response.incomplete"
    assert frames[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_refusal_part(gpt, sim):
    for response in (create(gpt, "[sim:refusal]"), stream(gpt, "[sim:refusal]")[0]):
        (part,) = response.output[0].content
        assert (part.type, part.refusal) == ("refusal", "I can't help with that.")
        assert response.output_text == ""
    names = [name for name, _ in raw_events(sim, {"input": "[sim:refusal]"})]
    assert names.count("response.refusal.delta") == 2 and "response.refusal.done" in names


def test_multi_text_two_messages(gpt):
    response, _ = stream(gpt, "[sim:multi_text]")
    assert [(item.phase, item.content[0].text) for item in response.output] == [
        ("commentary", "Part one."),
        ("final_answer", "Part two."),
    ]


def test_cached_usage(gpt):
    for response in (create(gpt, "[sim:cached]"), stream(gpt, "[sim:cached]")[0]):
        usage = response.usage
        cached = usage.input_tokens_details.cached_tokens
        assert (usage.input_tokens, cached, usage.output_tokens, usage.total_tokens) == (1212, 1000, 9, 1221)


@pytest.mark.parametrize(
    ("scenario", "status", "error_class"),
    [
        ("error400", 400, openai.BadRequestError),
        ("error401", 401, openai.AuthenticationError),
        ("error403", 403, openai.PermissionDeniedError),
        ("error404", 404, openai.NotFoundError),
        ("error429", 429, openai.RateLimitError),
        ("error500", 500, openai.InternalServerError),
        ("error529", 503, openai.InternalServerError),
    ],
)
def test_errors(gpt, scenario, status, error_class):
    for streamed in (False, True):
        with pytest.raises(error_class) as caught:
            if streamed:
                stream(gpt, f"[sim:{scenario}]")
            else:
                create(gpt, f"[sim:{scenario}]")
        assert caught.value.status_code == status
        assert caught.value.body["message"].startswith("simulated ")
        assert set(caught.value.body) == {"message", "type", "param", "code"}


def test_midstream_error(gpt, sim):
    seen = []
    with pytest.raises(openai.APIError, match="simulated mid-stream failure") as caught:
        with gpt.responses.stream(model=MODEL, input="[sim:midstream_error]") as events:
            seen.extend(event.type for event in events)
    assert seen.count("response.output_text.delta") == 3
    assert caught.value.code == "server_error"

    frames = raw_events(sim, {"input": "[sim:midstream_error]"})
    assert [data["sequence_number"] for _, data in frames] == list(range(len(frames)))
    (name, error), (failed_name, failed) = frames[-2:]
    assert name == "error" and error["message"] == "simulated mid-stream failure" and error["code"] == "server_error"
    assert error["error"]["message"] == error["message"]  # nested too, as the live API sends it
    assert failed_name == "response.failed" and failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "server_error", "message": "simulated mid-stream failure"}
    assert failed["response"]["output"][0]["content"][0]["text"] == "Partial answer before"
    assert "response.output_text.done" not in [name for name, _ in frames]

    with pytest.raises(openai.InternalServerError):
        create(gpt, "[sim:midstream_error]")


def test_timed_stamps_are_paced(sim):
    frames = raw_events(sim, {"input": "[sim:timed n=3 interval_ms=15]"})
    deltas = [data["delta"] for name, data in frames if name == "response.output_text.delta"]
    (done,) = [data["text"] for name, data in frames if name == "response.output_text.done"]
    assert done == "".join(deltas) == frames[-1][1]["response"]["output"][0]["content"][0]["text"]
    stamps = [int(item[2:]) for item in done.split(";") if item]
    assert len(stamps) == 3
    assert all(later - earlier >= 10_000_000 for earlier, later in itertools.pairwise(stamps))


def test_echo_records_request_and_latest_user_text(sim, gpt):
    sim.clear()
    response = gpt.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "[sim:cached]"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
            {"role": "developer", "content": "no directive here"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "[sim:echo]"}]},
        ],
        metadata={"run": "1"},
    )
    echoed = json.loads(response.output_text)
    assert echoed["instructions"] == "Be brief." and echoed["metadata"] == {"run": "1"}
    (request,) = sim.requests
    assert request.path == "/v1/responses" and request.json == echoed
    assert response.instructions == "Be brief."


def test_authentication(sim):
    wrong = openai.OpenAI(base_url=f"{sim.base_url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        create(wrong, "hi")
    assert caught.value.code == "invalid_api_key"
    response = httpx.post(f"{sim.base_url}/v1/responses", json={"model": MODEL, "input": "hi"})
    assert response.status_code == 401 and "API key" in response.json()["error"]["message"]


# --- request checks --------------------------------------------------------------------------

CALL = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
CHAT_PART = [{"type": "text", "text": "x"}]  # Chat Completions content, not Responses
LOOSE = {"type": "function", "name": "loose", "parameters": {"type": "object"}}  # no `strict`, not strict-compatible
OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "ok"}


@pytest.mark.parametrize(
    ("change", "param", "fragment"),
    [
        ({"model": None}, "model", "Missing required parameter"),
        ({"input": None}, "input", "Missing required parameter"),
        ({"input": 7}, "input", "Invalid type"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "messages", "Unknown parameter"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role", "'robot'"),
        ({"input": [{"role": "user"}]}, "input[0].content", "Missing"),
        ({"input": [{"role": "user", "content": CHAT_PART}]}, "input[0].content[0].type", "'text'"),
        (
            {"input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]},
            "input[0].content[0].type",
            "'output_text' and 'refusal'",
        ),
        ({"input": [{**CALL, "arguments": {}}, OUTPUT]}, "input[0].arguments", "expected a string"),
        ({"input": [{"role": "user", "content": "hi"}, OUTPUT]}, "input", "No tool call found"),
        ({"input": [{"role": "user", "content": "hi"}, CALL, {"role": "user", "content": "b"}]}, "input",
         "No tool output found"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id", "Missing"),
        ({"input": [{"type": "reasoning", "id": "rs_1"}]}, "input[0].summary", "Missing"),
        ({"input": [{"type": "bogus"}]}, "input[0].type", "'bogus'"),
        ({"instructions": ["x"]}, "instructions", "expected a string"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools[0].name", "Missing"),
        ({"tools": [{"type": "function", "name": "bad name", "parameters": {}}]}, "tools[0].name", "pattern"),
        (
            {"tools": [{"type": "function", "name": "f", "strict": True, "parameters": {"type": "object",
                        "properties": {"a": {"type": "string"}}, "additionalProperties": False}}]},
            "tools[0].parameters",
            "Missing 'a'",
        ),
        ({"tools": [{"type": "teleport"}]}, "tools[0].type", "'teleport'"),
        ({"tool_choice": "sometimes"}, "tool_choice", "'sometimes'"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice.name", "Missing"),
        ({"tool_choice": {"type": "function", "name": "nope"}, "tools": [WEATHER]}, "tool_choice", "not found"),
        ({"parallel_tool_calls": "yes"}, "parallel_tool_calls", "expected a boolean"),
        ({"max_output_tokens": 8}, "max_output_tokens", ">= 16"),
        ({"reasoning": {"effort": "huge"}}, "reasoning.effort", "'huge'"),
        ({"reasoning": {"summary": "long"}}, "reasoning.summary", "'long'"),
        ({"store": "no"}, "store", "expected a boolean"),
        ({"stream": "yes"}, "stream", "expected a boolean"),
        ({"include": ["reasoning.everything"]}, "include[0]", "'reasoning.everything'"),
        ({"text": {"format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}}, "text.format.name",
         "Missing"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type", "'yaml'"),
        ({"stream_options": {"include_obfuscation": False}}, "stream_options", "only allowed"),
        ({"previous_response_id": "resp_x"}, "previous_response_id", "not found"),
    ],
)
def test_rejects_invalid_requests(sim, change, param, fragment):
    body = {"model": MODEL, "input": "hi", **change}
    body = {key: value for key, value in body.items() if value is not None}
    response = httpx.post(f"{sim.base_url}/v1/responses", headers={"authorization": f"Bearer {OPENAI_KEY}"}, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param and fragment in error["message"]


def test_validation_through_the_sdk(gpt):
    with pytest.raises(openai.BadRequestError) as caught:
        gpt.responses.create(
            model=MODEL, input=[{"type": "function_call_output", "call_id": "call_nope", "output": "x"}]
        )
    assert caught.value.param == "input" and "call_nope" in caught.value.message


def test_accepts_the_documented_request_shapes(gpt):
    response = gpt.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input=[
            {"role": "system", "content": "sys"},
            {"role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "look"},
                                         {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hm"}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
             "arguments": '{"city":"Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "It is sunny."}]},
            {"role": "user", "content": "[sim:text]"},
        ],
        tools=[WEATHER, {"type": "web_search"}, LOOSE],
        tool_choice="auto",
        parallel_tool_calls=True,
        max_output_tokens=1000,
        reasoning={"effort": "medium", "summary": "concise"},
        store=False,
        include=["reasoning.encrypted_content"],
        text={"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}}, "verbosity": "low"},
    )
    assert response.output_text == HELLO
    assert [tool.type for tool in response.tools] == ["function", "web_search", "function"]
    assert response.tools[2].strict is False  # strict omitted and the schema is not strict-compatible
    assert response.store is False and response.text.verbosity == "low"


def test_after_tools_only_when_input_ends_with_outputs(gpt):
    history = [{"role": "user", "content": "[sim:cached]"}, CALL, OUTPUT]
    assert gpt.responses.create(model=MODEL, input=history).output_text == "Tool results received: ok"
    later = gpt.responses.create(model=MODEL, input=[*history, {"role": "user", "content": "[sim:refusal]"}])
    assert later.output[0].content[0].type == "refusal"
