"""`python -m addons.verify PATH...`: users re-check their own recorded traffic with the current code
(addons/verify.py, addons/recording/verify.py). tests/test_flows.py runs the same check on flows/."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from mitmproxy import io
from mitmproxy.test import tflow

from addons.recording.verify import (
    byte_difference,
    check_flow,
    iter_flow_files,
    json_difference,
    read_flows,
    RecordingError,
)
from addons.verify import main
from transforms.anthropic import stop_reason
from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS
from transforms.translation import stream_translator

ROOT = Path(__file__).resolve().parent.parent
FLOWS = sorted((ROOT / "flows").rglob("*.flow"))
LINE = re.compile(r"^(ok  |FAIL|skip) (\S+#\d+)  (.*)$")


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "addons.verify", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def run(capsys, *args: str) -> tuple[int, list[str], str]:
    """The command in process (so a monkeypatched translation is the one it runs): status, stdout lines, stderr."""
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def load(name: str):
    (flow,) = read_flows(ROOT / "flows" / name)
    return flow


def results(lines: list[str]) -> dict[str, tuple[str, str]]:
    """file#n (relative to flows/) -> (kind, rest of the line)."""
    found = {}
    for line in lines[:-1]:
        match = LINE.match(line)
        assert match, line
        found[match[2].removeprefix("flows/")] = (match[1].strip(), match[3])
    return found


def write_flows(path: Path, flows) -> Path:
    with path.open("wb") as fh:
        writer = io.FlowWriter(fh)
        for flow in flows:
            writer.add(flow)
    return path


# --- (a) the recorded fixtures, as a user runs it ----------------------------------------


def test_every_recorded_flow_checks_ok_from_the_command_line():
    done = cli("flows/")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(FLOWS) + 1
    assert lines[-1] == f"{len(FLOWS)} exchanges: {len(FLOWS)} ok, 0 failed, 0 skipped"
    found = results(lines)
    assert set(found) == {f"{p.relative_to(ROOT / 'flows').as_posix()}#1" for p in FLOWS}
    assert {kind for kind, _ in found.values()} == {"ok"}
    assert found["anthropic/text-stream.flow#1"][1] == \
        "openai-chat /v1/chat/completions -> claude (anthropic, claude-sonnet-4-5), streamed"
    assert found["anthropic/text-whole.flow#1"][1].endswith(", whole")
    assert done.stderr == ""


def test_quiet_prints_only_the_summary_when_all_is_well():
    done = cli("--quiet", "flows/anthropic", "flows/azure/text-whole.flow")
    count = len(list((ROOT / "flows" / "anthropic").glob("*.flow"))) + 1
    assert (done.returncode, done.stdout) == (0, f"{count} exchanges: {count} ok, 0 failed, 0 skipped\n")


# --- (b) a changed answer translation -----------------------------------------------------


def test_a_changed_stop_reason_mapping_fails_the_affected_flows_in_the_answer_direction(capsys, monkeypatch):
    monkeypatch.setitem(stop_reason.FINISH_REASON_BY_STOP_REASON, "end_turn", "length")
    status, lines, _ = run(capsys, "flows")
    assert status == 1
    found = results(lines)
    failed = {name: rest for name, (kind, rest) in found.items() if kind == "FAIL"}
    assert lines[-1] == f"{len(FLOWS)} exchanges: {len(FLOWS) - len(failed)} ok, {len(failed)} failed, 0 skipped"
    # every Anthropic answer ending its turn, translated for another protocol (Bedrock's too) ...
    for name in ("anthropic/text-stream.flow#1", "anthropic/text-whole.flow#1", "anthropic/thinking-stream.flow#1",
                 "bedrock/text-stream.flow#1", "bedrock/text-whole.flow#1", "gemini-client/anthropic/text-stream.flow#1",
                 "responses-client/anthropic/text-stream.flow#1", "bedrock/anthropic-client-thinking-stream.flow#1"):
        assert name in failed, name
    # ... and nothing else: not a passthrough, not another reason to stop, not another upstream
    for name in failed:
        meta = load(name.removesuffix("#1")).metadata["llm_bridge"]
        assert meta["upstream_protocol"] in ("anthropic", "bedrock")
        assert (meta["client_protocol"], meta["upstream_protocol"]) != ("anthropic", "anthropic")
        upstream = b"".join(bytes(c) for _, c in meta.get("upstream_chunks", [])) or meta["upstream_body"]
        if meta["upstream_protocol"] == "anthropic":
            assert b'"stop_reason":"end_turn"' in upstream, name
    for name in ("anthropic/stop-max-tokens.flow#1", "anthropic/parallel-tools-stream.flow#1",
                 "anthropic-client/anthropic/passthrough-stream.flow#1", "openai-chat/passthrough-whole.flow#1"):
        assert found[name][0] == "ok", name
    # the place: the direction, the SSE event and the JSON path in it, recorded vs now
    assert re.fullmatch(r'.*, streamed: answer SSE event \d+ choices\[0\]\.finish_reason: recorded "stop", now "length"',
                        failed["anthropic/text-stream.flow#1"])
    assert failed["anthropic/text-whole.flow#1"].endswith(
        ', whole: answer choices[0].finish_reason: recorded "stop", now "length"')
    assert re.search(r'answer SSE event \d+ \(message_delta\) delta\.stop_reason: recorded "end_turn", now "max_tokens"$',
                     failed["bedrock/anthropic-client-thinking-stream.flow#1"])
    assert all(": answer " in rest for rest in failed.values())


def test_check_flow_reports_the_answer_difference(monkeypatch):
    monkeypatch.setitem(stop_reason.FINISH_REASON_BY_STOP_REASON, "end_turn", "length")
    verdict = check_flow(load("gemini-client/anthropic/text-stream.flow"))
    assert not verdict.ok and verdict.skipped is None
    assert re.fullmatch(r'answer SSE event \d+ candidates\[0\]\.finishReason: recorded "STOP", now "MAX_TOKENS"',
                        verdict.difference)
    # the request direction alone still matches
    assert check_flow(load("gemini-client/anthropic/text-stream.flow"), directions=("request",)).ok


# --- (c) a changed request translation -----------------------------------------------------


def test_a_changed_request_encoding_fails_in_the_request_direction_naming_the_json_path(capsys, monkeypatch):
    anthropic = UPSTREAM_CODECS["anthropic"]

    def halved_max_tokens(request, **kwargs):
        body = anthropic.encode_request(request, **kwargs)
        body["max_tokens"] //= 2
        return body

    monkeypatch.setitem(UPSTREAM_CODECS, "anthropic", dataclasses.replace(anthropic, encode_request=halved_max_tokens))
    status, lines, _ = run(capsys, "--quiet", "flows")
    assert status == 1
    failed = {name: rest for name, (kind, rest) in results(lines).items() if kind == "FAIL"}
    translated = set()
    for path in FLOWS:
        meta = read_flows(path)[0].metadata["llm_bridge"]
        if meta["upstream_protocol"] == "anthropic" and meta["client_protocol"] != "anthropic":
            translated.add(f"{path.relative_to(ROOT / 'flows').as_posix()}#1")
    assert set(failed) == translated  # the Anthropic passthrough and Bedrock's own encoding are untouched
    for name, rest in failed.items():
        recorded = orjson.loads(load(name.removesuffix("#1")).request.content)["max_tokens"]
        assert rest.endswith(f": request max_tokens: recorded {recorded}, now {recorded // 2}"), rest
    assert len(lines) == len(failed) + 1  # --quiet: the failures and the summary


def test_a_changed_message_names_the_nested_json_path(monkeypatch):
    chat = UPSTREAM_CODECS["openai-chat"]

    def reworded(request, **kwargs):
        body = chat.encode_request(request, **kwargs)
        body["messages"][-1]["content"] = body["messages"][-1]["content"].replace("!", "?")
        for tool in body.get("tools", ()):
            tool["function"]["parameters"]["properties"]["city"]["type"] = "object"
        return body

    monkeypatch.setitem(UPSTREAM_CODECS, "openai-chat", dataclasses.replace(chat, encode_request=reworded))
    verdict = check_flow(load("anthropic-client/openai-chat/text-whole.flow"))
    assert verdict.difference == 'request messages[1].content: recorded "Hello!", now "Hello?"'
    verdict = check_flow(load("anthropic-client/openai-chat/parallel-tools-whole.flow"))
    assert verdict.difference == ('request tools[0].function.parameters.properties.city.type: '
                                  'recorded "string", now "object"')


def test_differences_are_shortened_around_where_they_part():
    long_a, long_b = "x" * 500 + "recorded ending", "x" * 500 + "current ending"
    found = json_difference({"messages": [{"content": long_a}]}, {"messages": [{"content": long_b}]}, "request")
    assert found.startswith("request messages[0].content: recorded ...xxx")
    recorded, now = found.split(": recorded ")[1].split(", now ")
    assert "recorded ending" in recorded and "current ending" in now
    assert len(recorded) <= 90 and len(now) <= 90
    assert json_difference({"a": 1}, {"a": 1, "b": None}, "request") == "request b: recorded (missing), now null"
    assert json_difference({"a": True}, {"a": 1}, "answer") == "answer a: recorded true, now 1"
    assert json_difference({"x-y": [1, 2]}, {"x-y": [1]}, "request") == "request x-y[1]: recorded 2, now (missing)"
    assert json_difference({"o": {"a.b": 1}}, {"o": {"a.b": 2}}, "request") == 'request o["a.b"]: recorded 1, now 2'
    assert json_difference([1], {"a": 1}, "answer") == 'answer body: recorded [1], now {"a":1}'
    assert byte_difference(b"data: abc\n\n", b"data: abd\n\n") == r"at byte 8: recorded 'data: abc\n\n', now 'data: abd\n\n'"


# --- (d) files holding many flows ------------------------------------------------------------


def test_a_file_with_several_flows_is_read_whole_one_line_per_flow(tmp_path):
    copies = [load(name).copy() for name in ("anthropic/text-stream.flow", "gemini/chat-client-text-whole.flow",
                                             "bedrock/parallel-tools-stream.flow")]
    saved = write_flows(tmp_path / "session.flow", [copies[0], tflow.tflow(resp=True), copies[1],
                                                    tflow.ttcpflow(), copies[2]])
    assert len(read_flows(saved)) == 5
    done = cli(str(saved))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0:2] for line in lines[:-1]] == [
        ["ok", f"{saved}#1"], ["skip", f"{saved}#2"], ["ok", f"{saved}#3"], ["skip", f"{saved}#4"], ["ok", f"{saved}#5"]]
    assert "not a bridged flow (no llm_bridge metadata)" in lines[1]
    assert "not an HTTP flow (tcp)" in lines[3]
    assert lines[-1] == "5 exchanges: 3 ok, 0 failed, 2 skipped"


def test_a_flow_kept_with_its_client_chunks_is_checked_chunk_by_chunk():
    """Flows kept by the bridge (mitmweb, `-w` files, recordings) may hold the client's side of a stream chunk
    by chunk (`client_chunks`): the same bytes cut otherwise (held back, say) is a difference."""
    # (a recording whose upstream sent every byte apart: how an ordinary stream's chunks arrived is the network's
    # affair, and may be one or two reads)
    flow = load("anthropic/text-stream-split-every-byte.flow").copy()
    meta = flow.metadata["llm_bridge"]
    client, upstream = CLIENT_CODECS[meta["client_protocol"]], UPSTREAM_CODECS[meta["upstream_protocol"]]
    body = orjson.loads(meta["client_request"]["body"])
    translator = stream_translator(client, upstream, client.decode_request(body), body, created=meta["created"],
                                   provider=meta["provider"])
    pieces = [translator.feed(bytes(chunk)) for _, chunk in meta["upstream_chunks"]] + [translator.close()]
    meta["client_chunks"] = [[0.0, piece] for piece in pieces if piece]
    assert len(meta["client_chunks"]) > 2 and b"".join(pieces) == flow.response.content
    assert check_flow(flow).ok
    meta["client_chunks"][1:3] = [[0.0, meta["client_chunks"][1][1] + meta["client_chunks"][2][1]]]
    assert check_flow(flow).difference.startswith("answer chunk 2: the same bytes in other pieces")
    meta["client_chunks"].append([0.0, b"data: extra\n\n"])
    assert "the stream ends after" in check_flow(flow).difference
    # flows saved live by older versions kept the client's bytes aside
    del meta["client_chunks"]
    meta["client_body"], flow.response.content = flow.response.content, b""
    assert check_flow(flow).ok


def test_iter_flow_files_takes_files_and_searches_folders(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    nested = write_flows(tmp_path / "a" / "b" / "one.flow", [load("anthropic/text-whole.flow")])
    named = write_flows(tmp_path / "named.mitm", [load("anthropic/text-whole.flow")])
    (tmp_path / "a" / "notes.txt").write_text("not a flow")
    assert list(iter_flow_files([tmp_path / "a", named])) == [nested, named]
    with pytest.raises(RecordingError, match="no such file"):
        list(iter_flow_files([tmp_path / "missing"]))


# --- (e) garbage ---------------------------------------------------------------------------------


def test_garbage_is_a_usage_error_in_one_line(tmp_path):
    (tmp_path / "notes.flow").write_text("these are not flows\n")
    (tmp_path / "empty").mkdir()
    for args, message in [
        ((str(tmp_path / "notes.flow"),), f"error: {tmp_path / 'notes.flow'}: not a mitmproxy flow file"),
        ((str(tmp_path / "empty"),), f"error: {tmp_path / 'empty'}: no .flow files in this folder"),
        ((str(tmp_path / "nowhere"),), f"error: {tmp_path / 'nowhere'}: no such file or folder"),
        ((), "error: no PATH given"),
        (("--config", str(tmp_path / "notes.flow"), "flows"), f"error: {tmp_path / 'notes.flow'}: not valid TOML"),
        (("--config", str(tmp_path / "absent.toml"), "flows"), f"error: {tmp_path / 'absent.toml'}: file not found"),
    ]:
        done = cli(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(message), (args, done.stderr)


def test_an_unreadable_file_among_good_ones_stops_before_any_report(capsys, tmp_path):
    (tmp_path / "zz-broken.flow").write_bytes(b"12:not a flow!,")
    write_flows(tmp_path / "aa-good.flow", [load("anthropic/text-whole.flow")])
    status, lines, err = run(capsys, str(tmp_path))
    assert (status, lines) == (2, [])
    assert "zz-broken.flow: not a mitmproxy flow file" in err


# --- (f) what cannot be checked ----------------------------------------------------------------


def test_a_flow_cut_at_the_memory_cap_is_skipped_with_the_reason(capsys, tmp_path):
    flow = load("anthropic/text-stream.flow").copy()
    flow.metadata["llm_bridge"]["truncated"] = ["upstream_chunks", "client_chunks"]
    verdict = check_flow(flow)
    assert (verdict.ok, verdict.difference) == (False, None)
    assert verdict.skipped == ("the upstream answer was cut at the memory cap (upstream_chunks, client_chunks) "
                               "(the request matches)")
    status, lines, _ = run(capsys, str(write_flows(tmp_path / "cut.flow", [flow])))
    assert lines == [f"skip {tmp_path / 'cut.flow'}#1  {verdict.skipped}", "1 exchange: 0 ok, 0 failed, 1 skipped"]
    assert status == 1  # nothing was checked
    flow.metadata["llm_bridge"]["truncated"] = ["client_request"]  # a part this version does not know: nothing is checked
    assert check_flow(flow).skipped == "the recording was cut at the memory cap (client_request)"


def test_other_unanswered_flows_are_skipped_with_their_reason():
    flow = load("anthropic/text-stream.flow").copy()
    del flow.metadata["llm_bridge"]["upstream_chunks"]
    assert check_flow(flow).skipped.startswith("no upstream answer recorded: the answer was streamed while the bridge "
                                               "was not recording")
    flow.response = None
    assert check_flow(flow).skipped == "no answer recorded (the request matches)"
    flow = load("anthropic/text-whole.flow").copy()
    flow.metadata["llm_bridge"]["upstream_headers"] = 7
    assert check_flow(flow).skipped.startswith("the llm_bridge metadata does not have the expected shape (TypeError")
    flow.metadata["llm_bridge"]["upstream_protocol"] = "carrier-pigeon"
    assert check_flow(flow).skipped == "upstream protocol 'carrier-pigeon' has no codec in this version"
    assert check_flow(tflow.tflow(resp=True)).skipped.startswith("not a bridged flow")


# --- --config: the current configuration's route ------------------------------------------------


def test_config_translates_with_the_configured_route(capsys, tmp_path):
    toml = tmp_path / "bridge.toml"
    toml.write_text('[[providers]]\nname = "mine"\nprotocol = "anthropic"\nbase_url = "https://example.invalid/v1"\n'
                    'api_key = "k"\n\n[[models]]\nid = "claude-sim"\nprovider = "mine"\nupstream_model = "claude-sonnet-4-5"\n'
                    'max_tokens = 333\n')
    status, lines, _ = run(capsys, "--config", str(toml), "flows/anthropic/text-stream.flow", "flows/openai-chat")
    found = results(lines)
    kind, rest = found["anthropic/text-stream.flow#1"]
    assert kind == "FAIL"
    assert rest == ("openai-chat /v1/chat/completions -> mine (anthropic, claude-sonnet-4-5, as configured), "
                    "streamed: request max_tokens: recorded 64000, now 333")
    assert all(kind == "ok" for name, (kind, _) in found.items() if name.startswith("openai-chat/"))  # not configured
    assert status == 1
    toml.write_text(toml.read_text().replace('protocol = "anthropic"', 'protocol = "openai-chat"'))
    _, lines, _ = run(capsys, "--config", str(toml), "flows/anthropic/text-whole.flow")
    assert lines[0].endswith(": request: the configuration sends model 'claude-sim' to provider 'mine' (openai-chat); "
                             "the recording went to 'claude' (anthropic)")
