"""The README's Quick start runs as written (issue 14, point 8): its bridge command starts the replay setup
from the project root, then every shell command and Python snippet after it gets an answer. The only change
made to them: port 8080 becomes a free port, so the test never takes a port someone else uses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.bridge_process import ROOT, free_port

ANSWER = "Hello from the simulator!"


def quick_start() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Quick start")
    section = readme[start:readme.index("\n### ", start)]  # up to "With your own provider"
    return section


def blocks(section: str) -> list[tuple[str, str]]:
    return [(m["lang"], m["code"]) for m in re.finditer(r"```(?P<lang>\w+)\n(?P<code>.*?)```", section, re.S)]


def test_the_quick_start_has_the_two_commands_and_snippets():
    found = blocks(quick_start())
    assert found[0] == ("sh", "python -m pip install -q uv && uv run mitmdump -s addons/bridge.py --set bridge_replay=flows\n")
    assert found[1] == ("sh", "python -m pip install -q uv && uv run pytest\n")
    assert [lang for lang, _ in found[2:]] == ["sh", "sh", "python", "python"]


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    """The README's first command, as written (from the project root), on a free port."""
    port = free_port()
    command = blocks(quick_start())[0][1].strip() + f" -p {port}"
    # `python` as a newcomer's shell has it (not this test run's virtualenv, which has no pip)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(ROOT / ".venv")))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",) and not k.endswith("_API_KEY")}
    log = (tmp_path_factory.mktemp("quick-start") / "bridge.log").open("wb")
    process = subprocess.Popen(["bash", "-c", command], cwd=ROOT,
                               env={**env, "PATH": path}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120  # uv may install the environment first
    while True:
        assert process.poll() is None, f"the bridge command exited: {log.name}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the bridge never answered"
        time.sleep(0.2)
    yield port, log.name
    os.killpg(process.pid, 15)
    process.wait(20)
    log.close()


def test_the_start_up_log_names_the_models(bridge):
    _, log = bridge
    text = open(log, errors="replace").read()
    line = [line for line in text.splitlines() if "llm-bridge: providers from" in line][-1]  # (with the recordings)
    assert "models: " in line and "claude-sim" in line and "gpt-sim" in line, line


@pytest.mark.parametrize("index", [2, 3, 4, 5])
def test_each_command_and_snippet_gets_an_answer(bridge, index):
    port, _ = bridge
    lang, code = blocks(quick_start())[index]
    code = code.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    command = ["bash", "-c", code] if lang == "sh" else [sys.executable, "-c", code]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    output = run.stdout
    if lang == "sh":  # the raw stream or body: the answer's pieces, JSON-escaped
        output = "".join(re.findall(r'"content":"((?:[^"\\]|\\.)*)"', output))
    assert ANSWER in output, run.stdout
