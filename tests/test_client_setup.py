"""`python -m addons.client_setup` (issue 14, point 6): Codex's, the Gemini CLI's and opencode's own configuration
pointed at the bridge, safely; then each real CLI (and Claude Code) run against a real mitmdump bridge with
nothing but what the command wrote.

The unit tests work in tmp_path with HOME pointed there (and the clients' folder variables unset), so no real
configuration is read or written; they run the command in process (`main`), the end-to-end ones as a subprocess.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addons.client_setup import command, config_file
from addons.client_setup.command import main
from addons.client_setup.config_file import BACKUP_SUFFIX, DEFAULT_URL
from addons.client_setup.formats import DotenvDocument
from tests import claude_code_cli, codex_cli, gemini_cli, opencode_cli
from tests.bridge_process import ROOT, BridgeProcess
from tests.conftest import OPENAI_KEY, bridge_toml
from tests.npm_cli import installed_or_skip

TOKEN = "sk-bridge-0123456789-abcd"
MASKED = "sk-…abcd"
FOLDER_VARIABLES = ("CODEX_HOME", "GEMINI_CLI_HOME", "XDG_CONFIG_HOME", "CLAUDE_CONFIG_DIR")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for name in (*FOLDER_VARIABLES, "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def age(path: Path) -> int:
    """Push the file's mtime into the past and return it, so a rewrite is visible."""
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return path.stat().st_mtime_ns


def read_env(path: Path) -> dict[str, str]:
    return dict(DotenvDocument(path.read_text()))


def parsed(path: Path):
    if path.suffix == ".toml":
        return tomllib.loads(path.read_text())
    if path.name == ".env":
        return read_env(path)
    return json.loads(path.read_text() or "{}")


# --- what each client's files hold before and after ---------------------------------------------------------

CODEX_USER = b"""# my Codex settings
model = "gpt-5.5"  # the one I like
model_provider = "openai"
approval_policy = "on-request"

[model_providers.ollama]
name = "Ollama"
base_url = "http://localhost:11434/v1"

[profiles.fast]
model = "o4-mini"

[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"]
"""

GEMINI_SETTINGS_USER = json.dumps({
    "security": {"auth": {"selectedType": "oauth-personal"}},
    "ui": {"theme": "GitHub"},
    "model": {"name": "gemini-2.5-pro", "maxSessionTurns": 20},
}, indent=4).encode()

GEMINI_ENV_USER = b"""# keys
export GOOGLE_CLOUD_PROJECT=my-project
GEMINI_API_KEY=AIza-a-real-google-key-1234
DEBUG=0
"""

OPENCODE_USER = json.dumps({
    "$schema": "https://opencode.ai/config.json",
    "theme": "opencode",
    "provider": {"anthropic": {"options": {"apiKey": "{env:ANTHROPIC_API_KEY}"}}},
    "model": "anthropic/claude-sonnet-4-5",
    "share": "disabled",
}, indent=4).encode()


@dataclass(frozen=True)
class Case:
    client: str
    files: tuple[str, ...]  # relative to HOME; the first is the one --config names
    user: tuple[bytes, ...]  # an existing file of each, with settings of the user's own
    args: tuple[str, ...] = ()  # what setup needs besides --token

    def paths(self, home: Path) -> list[Path]:
        return [home / f for f in self.files]

    def write_user_files(self, home: Path) -> list[bytes]:
        for path, data in zip(self.paths(home), self.user, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return list(self.user)

    def setup(self, *extra: str) -> int:
        return main([self.client, "--token", TOKEN, *self.args, *extra])


CASES = {
    "codex": Case("codex", (".codex/config.toml",), (CODEX_USER,), ("--model", "claude-sim")),
    "gemini-cli": Case("gemini-cli", (".gemini/settings.json", ".gemini/.env"), (GEMINI_SETTINGS_USER, GEMINI_ENV_USER),
                       ("--model", "claude-sim")),
    "opencode": Case("opencode", (".config/opencode/opencode.json",), (OPENCODE_USER,),
                     ("--model", "claude-sim", "--model", "gpt-sim")),
}
each_client = pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))

CODEX_FRESH = {
    "model_provider": "llm-bridge",
    "model": "claude-sim",
    "model_providers": {"llm-bridge": {"name": "llm-bridge", "base_url": f"{DEFAULT_URL}/v1", "wire_api": "responses",
                                       "experimental_bearer_token": TOKEN}},
}
OPENCODE_PROVIDER = {
    "npm": "@ai-sdk/openai-compatible",
    "name": "llm-bridge",
    "options": {"baseURL": f"{DEFAULT_URL}/v1", "apiKey": TOKEN},
    "models": {"claude-sim": {"name": "claude-sim"}, "gpt-sim": {"name": "gpt-sim"}},
}


# --- a fresh setup --------------------------------------------------------------------------------------------


def test_codex_fresh(home, capsys):
    assert CASES["codex"].setup() == 0
    path = home / ".codex" / "config.toml"
    assert parsed(path) == CODEX_FRESH
    out = capsys.readouterr().out
    assert f'model_providers.llm-bridge.experimental_bearer_token: (absent) -> "{MASKED}"' in out and TOKEN not in out


def test_gemini_cli_fresh(home, capsys):
    assert CASES["gemini-cli"].setup() == 0
    folder = home / ".gemini"
    assert parsed(folder / "settings.json") == {"security": {"auth": {"selectedType": "gemini-api-key"}},
                                                "model": {"name": "claude-sim"}}
    assert (folder / ".env").read_text() == f"GOOGLE_GEMINI_BASE_URL={DEFAULT_URL}\nGEMINI_API_KEY={TOKEN}\n"
    out = capsys.readouterr().out
    assert f'GEMINI_API_KEY: (absent) -> "{MASKED}"' in out and TOKEN not in out


def test_gemini_cli_without_a_token_writes_a_placeholder_key(home):
    assert main(["gemini-cli"]) == 0
    assert read_env(home / ".gemini" / ".env") == {"GOOGLE_GEMINI_BASE_URL": DEFAULT_URL, "GEMINI_API_KEY": "llm-bridge"}


def test_opencode_fresh(home, capsys):
    assert CASES["opencode"].setup() == 0
    path = home / ".config" / "opencode" / "opencode.json"
    assert parsed(path) == {"provider": {"llm-bridge": OPENCODE_PROVIDER}, "model": "llm-bridge/claude-sim"}
    out = capsys.readouterr().out
    assert 'provider.llm-bridge.models: (absent) -> ["claude-sim", "gpt-sim"]' in out and TOKEN not in out


@each_client
def test_new_files_and_folders_are_private(case, home):
    assert case.setup() == 0
    for path in case.paths(home):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert not backup_of(path).exists()  # nothing to back up


@pytest.mark.parametrize(("variable", "where"), [("CODEX_HOME", "codex-home/config.toml"),
                                                 ("GEMINI_CLI_HOME", "gemini-home/.gemini/.env"),
                                                 ("XDG_CONFIG_HOME", "xdg/opencode/opencode.json")])
def test_the_clients_folder_variables_are_honoured(tmp_path, monkeypatch, variable, where):
    monkeypatch.setenv(variable, str(tmp_path / where.split("/")[0]))
    client = {"CODEX_HOME": "codex", "GEMINI_CLI_HOME": "gemini-cli", "XDG_CONFIG_HOME": "opencode"}[variable]
    assert main([client, "--model", "claude-sim"]) == 0
    assert (tmp_path / where).exists()
    assert not (tmp_path / "home").exists()


@each_client
def test_config_option_names_the_file(case, tmp_path, home):
    target = tmp_path / "elsewhere" / Path(case.files[0]).name
    assert case.setup("--config", str(target)) == 0
    assert target.exists() and not home.exists()
    if len(case.files) > 1:  # the Gemini CLI's .env goes beside its settings.json
        assert (target.parent / ".env").exists()


# --- existing files -----------------------------------------------------------------------------------------------


def test_codex_keeps_every_other_line_and_comment(home):
    CASES["codex"].write_user_files(home)
    assert CASES["codex"].setup() == 0
    text = (home / ".codex" / "config.toml").read_text()
    diff = list(difflib.ndiff(CODEX_USER.decode().splitlines(), text.splitlines()))
    assert [line[2:] for line in diff if line.startswith("- ")] == ['model = "gpt-5.5"  # the one I like',
                                                                    'model_provider = "openai"']
    assert sorted(line[2:] for line in diff if line.startswith("+ ")) == sorted([
        'model = "claude-sim"  # the one I like', 'model_provider = "llm-bridge"',  # the values, in place
        "[model_providers.llm-bridge]", 'name = "llm-bridge"', f'base_url = "{DEFAULT_URL}/v1"',
        'wire_api = "responses"', f'experimental_bearer_token = "{TOKEN}"', "",
    ])
    result = tomllib.loads(text)
    original = tomllib.loads(CODEX_USER.decode())
    assert result["model_providers"]["ollama"] == original["model_providers"]["ollama"]
    assert result["profiles"] == original["profiles"] and result["mcp_servers"] == original["mcp_servers"]
    assert result["model_providers"]["llm-bridge"] == CODEX_FRESH["model_providers"]["llm-bridge"]
    assert "\n\n[profiles.fast]" in text  # the new table does not run into the next one


def test_gemini_cli_keeps_other_settings_and_env_lines(home):
    CASES["gemini-cli"].write_user_files(home)
    assert CASES["gemini-cli"].setup() == 0
    assert parsed(home / ".gemini" / "settings.json") == {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "ui": {"theme": "GitHub"},
        "model": {"name": "claude-sim", "maxSessionTurns": 20},
    }
    assert (home / ".gemini" / ".env").read_text() == (
        f"# keys\nexport GOOGLE_CLOUD_PROJECT=my-project\nGEMINI_API_KEY={TOKEN}\nDEBUG=0\nGOOGLE_GEMINI_BASE_URL={DEFAULT_URL}\n"
    )


def test_opencode_keeps_other_settings_and_providers(home):
    CASES["opencode"].write_user_files(home)
    assert CASES["opencode"].setup() == 0
    result = parsed(home / ".config" / "opencode" / "opencode.json")
    original = json.loads(OPENCODE_USER)
    assert list(result) == list(original)  # key order kept; "model" is replaced in place
    assert result["provider"] == {**original["provider"], "llm-bridge": OPENCODE_PROVIDER}
    assert result["model"] == "llm-bridge/claude-sim"
    assert {k: v for k, v in result.items() if k not in ("provider", "model")} == \
        {k: v for k, v in original.items() if k not in ("provider", "model")}


@each_client
def test_the_originals_are_backed_up_once(case, home, capsys):
    originals = case.write_user_files(home)
    assert case.setup() == 0
    assert [backup_of(p).read_bytes() for p in case.paths(home)] == originals
    assert case.setup("--url", "http://127.0.0.1:9999") == 0
    assert [backup_of(p).read_bytes() for p in case.paths(home)] == originals
    assert capsys.readouterr().out.count("Saved the original") == len(originals)


@each_client
@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "existing"])
def test_a_second_identical_run_writes_nothing(case, home, capsys, existing):
    if existing:
        case.write_user_files(home)
    assert case.setup() == 0
    before = [(age(p), p.stat().st_ino) for p in case.paths(home)]
    capsys.readouterr()
    assert case.setup() == 0
    assert "Already set" in capsys.readouterr().out
    assert [(p.stat().st_mtime_ns, p.stat().st_ino) for p in case.paths(home)] == before


@each_client
def test_a_kept_file_mode_is_reported_when_others_may_read_the_token(case, home, capsys):
    case.write_user_files(home)
    for path in case.paths(home):
        path.chmod(0o644)
    assert case.setup() == 0
    out = capsys.readouterr().out
    for path in case.paths(home):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    token_file = case.paths(home)[-1]  # the one holding the token
    assert f"Note: {token_file} holds the token and other users may read it (mode 0644)" in out


# --- dry run ------------------------------------------------------------------------------------------------------


@each_client
def test_dry_run_on_missing_files_writes_nothing(case, home, capsys):
    assert case.setup("--dry-run") == 0
    assert not home.exists()
    out = capsys.readouterr().out
    assert out.count("nothing written") == len(case.files) and MASKED in out and TOKEN not in out


@each_client
def test_dry_run_on_existing_files_writes_nothing(case, home, capsys):
    originals = case.write_user_files(home)
    mtimes = [age(p) for p in case.paths(home)]
    assert case.setup("--dry-run") == 0
    assert [p.read_bytes() for p in case.paths(home)] == originals
    assert [p.stat().st_mtime_ns for p in case.paths(home)] == mtimes
    assert not any(backup_of(p).exists() for p in case.paths(home))
    out = capsys.readouterr().out
    assert "would change" in out and TOKEN not in out


def test_dry_run_masks_the_token_being_replaced(home, capsys):
    CASES["gemini-cli"].write_user_files(home)
    assert CASES["gemini-cli"].setup("--dry-run") == 0
    out = capsys.readouterr().out
    assert f'GEMINI_API_KEY: "AIz…1234" -> "{MASKED}"' in out and "AIza-a-real-google-key-1234" not in out


# --- undo -----------------------------------------------------------------------------------------------------------


@each_client
def test_undo_restores_the_backup_byte_for_byte(case, home, capsys):
    originals = case.write_user_files(home)
    assert case.setup() == 0
    capsys.readouterr()
    assert main([case.client, "--undo"]) == 0
    assert [p.read_bytes() for p in case.paths(home)] == originals
    assert not any(backup_of(p).exists() for p in case.paths(home))  # it is the file again
    out = capsys.readouterr().out
    assert "byte for byte" in out and TOKEN not in out
    assert case.setup() == 0  # and the next setup backs the file up anew
    assert [backup_of(p).read_bytes() for p in case.paths(home)] == originals


@each_client
def test_undo_dry_run_writes_nothing(case, home, capsys):
    case.write_user_files(home)
    assert case.setup() == 0
    before = [(p.read_bytes(), age(p)) for p in case.paths(home)]
    capsys.readouterr()
    assert main([case.client, "--undo", "--dry-run"]) == 0
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in case.paths(home)] == before
    assert all(backup_of(p).exists() for p in case.paths(home))
    out = capsys.readouterr().out
    assert "would change" in out and TOKEN not in out and MASKED in out


@each_client
def test_undo_after_a_fresh_setup_takes_out_all_it_wrote(case, home):
    assert case.setup() == 0
    assert main([case.client, "--undo"]) == 0
    assert all(parsed(p) == {} for p in case.paths(home))
    assert main([case.client, "--undo"]) == 0  # nothing left to undo: no write
    mtimes = [age(p) for p in case.paths(home)]
    assert main([case.client, "--undo"]) == 0
    assert [p.stat().st_mtime_ns for p in case.paths(home)] == mtimes


@each_client
def test_undo_keeps_what_the_user_changed_since(case, home, capsys):
    case.write_user_files(home)
    assert case.setup() == 0
    first = case.paths(home)[0]
    if first.suffix == ".toml":
        first.write_text(first.read_text() + '\n[tui]\nnotifications = true\n')
    else:
        first.write_text(json.dumps({**json.loads(first.read_text()), "added_since": True}))
    capsys.readouterr()
    assert main([case.client, "--undo"]) == 0
    result = parsed(first)
    assert result.get("added_since") is True or result.get("tui") == {"notifications": True}
    assert "llm-bridge" not in json.dumps(result) and "gemini-api-key" not in json.dumps(result)
    assert backup_of(first).exists()
    assert f"Kept the backup {backup_of(first)}" in capsys.readouterr().out


@each_client
def test_undo_leaves_settings_that_point_elsewhere(case, home, capsys):
    assert case.setup("--url", "http://10.0.0.5:9000") == 0
    mtimes = [age(p) for p in case.paths(home)]
    capsys.readouterr()
    assert main([case.client, "--undo"]) == 0  # the default --url is not the one set
    out = capsys.readouterr().out
    assert "Nothing to undo" in out and "it is not --url" in out and "pass --token to remove it" in out
    assert TOKEN not in out
    assert [p.stat().st_mtime_ns for p in case.paths(home)] == mtimes


def test_undo_with_a_token_removes_only_a_matching_one(home):
    assert CASES["codex"].setup() == 0
    assert main(["codex", "--undo", "--token", "someone-elses-token"]) == 0  # the URL is ours: the rest goes
    assert parsed(home / ".codex" / "config.toml") == {"model_providers": {"llm-bridge": {"experimental_bearer_token": TOKEN}}}


def test_opencode_undo_keeps_a_default_model_of_another_provider(home, capsys):
    assert main(["opencode", "--model", "claude-sim"]) == 0
    path = home / ".config" / "opencode" / "opencode.json"
    path.write_text(json.dumps({**parsed(path), "model": "anthropic/claude-sonnet-4-5"}))
    assert main(["opencode", "--undo"]) == 0
    assert parsed(path) == {"model": "anthropic/claude-sonnet-4-5"}
    assert "Kept model" in capsys.readouterr().out


# --- failures -------------------------------------------------------------------------------------------------------


@each_client
def test_a_failed_write_leaves_every_file_as_it_was(case, home, monkeypatch, capsys):
    originals = case.write_user_files(home)

    def failing_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(config_file.os, "replace", failing_replace)
    assert case.setup() == 1
    assert "Cannot write" in capsys.readouterr().err
    assert [p.read_bytes() for p in case.paths(home)] == originals
    leftovers = [p.name for p in case.paths(home)[0].parent.iterdir() if p.name.endswith((".tmp", BACKUP_SUFFIX))]
    assert leftovers == []


def test_gemini_cli_a_failure_on_the_second_file_puts_the_first_back(home, monkeypatch, capsys):
    originals = CASES["gemini-cli"].write_user_files(home)
    real = command.write_atomically

    def failing_on_env(path, data, mode):
        if path.name == ".env":
            raise OSError(28, "No space left on device")
        real(path, data, mode)

    monkeypatch.setattr(command, "write_atomically", failing_on_env)
    assert CASES["gemini-cli"].setup() == 1
    err = capsys.readouterr().err
    assert "Cannot write" in err and "No space left on device" in err and "put back" in err
    assert [p.read_bytes() for p in CASES["gemini-cli"].paths(home)] == originals
    assert not any(backup_of(p).exists() for p in CASES["gemini-cli"].paths(home))


@pytest.mark.parametrize(
    ("client", "relative", "content", "words"),
    [
        ("codex", ".codex/config.toml", b'model = "a"\nmodel = "b"\n', "invalid TOML"),
        ("codex", ".codex/config.toml", b"model_providers = 3\n", '"model_providers" entry is not a TOML table'),
        ("codex", ".codex/config.toml", b'[model_providers]\nllm-bridge = "x"\n', '"model_providers.llm-bridge" entry'),
        ("codex", ".codex/config.toml", b"\xff\xfe", "not UTF-8"),
        ("gemini-cli", ".gemini/settings.json", b'{"security": {"auth": "x"}}', '"security.auth" entry is not a JSON object'),
        ("gemini-cli", ".gemini/settings.json", b'{\n  // comment\n}', "invalid JSON at line 2"),
        ("opencode", ".config/opencode/opencode.json", b'{"provider": []}', '"provider" entry is not a JSON object'),
        ("opencode", ".config/opencode/opencode.json", b'{"provider": {"llm-bridge": {"models": 1}}}',
         '"provider.llm-bridge.models" entry is not a JSON object'),
        ("opencode", ".config/opencode/opencode.json", b'// jsonc\n{}', "invalid JSON at line 1"),
    ],
)
@pytest.mark.parametrize("extra", [[], ["--undo"], ["--dry-run"]])
def test_malformed_files_exit_2_and_stay_untouched(home, capsys, client, relative, content, words, extra):
    path = home / relative
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    mtime = age(path)
    assert main([client, "--token", TOKEN, "--model", "m", *extra]) == 2
    err = capsys.readouterr().err
    assert words in err and str(path) in err and "not changed" in err
    assert path.read_bytes() == content and path.stat().st_mtime_ns == mtime
    assert not backup_of(path).exists()


def test_a_toml_layout_that_would_read_back_differently_is_refused(home, capsys):
    path = home / ".codex" / "config.toml"
    path.parent.mkdir(parents=True)
    original = b'model_providers.ollama.name = "Ollama"\n\n[tui]\nnotifications = true\n'
    path.write_bytes(original)  # top-level dotted keys: tomlkit would put model_provider under a table
    assert main(["codex", "--model", "m"]) == 2
    assert "Cannot edit" in capsys.readouterr().err
    assert path.read_bytes() == original and not backup_of(path).exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["codex", "--url", "http://127.0.0.1:8080/v1"], "this command writes <url>/v1 for Codex itself"),
        (["codex", "--url", "http://127.0.0.1:8080/v1/responses"], "ends in /v1/responses"),
        (["gemini-cli", "--url", "http://127.0.0.1:8080/v1beta"], "appends /v1beta/models"),
        (["opencode", "--url", "http://127.0.0.1:8080/v1", "--model", "m"], "for opencode itself"),
        (["opencode", "--url", "ftp://127.0.0.1"], "http:// or https://"),
        (["codex", "--model", "a", "--model", "b"], "codex takes one --model"),
        (["gemini-cli", "--model", "two words"], "--model must be non-empty"),
        (["codex", "--token", "two words"], "--token"),
        (["gemini-cli", "--token", "it's-\"quoted\""], "a .env file cannot hold it"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(home, capsys, argv, words):
    assert main(argv) == 2
    assert words in capsys.readouterr().err
    assert not home.exists()


def test_claude_code_takes_no_model_and_unknown_clients_are_refused(capsys):
    assert main(["claude-code", "--model", "x"]) == 2
    assert main(["cursor"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# --- .env files ---------------------------------------------------------------------------------------------------


def test_a_token_a_bare_env_value_cannot_hold_is_quoted(home):
    token = "sk-bridge#0123456789"
    assert main(["gemini-cli", "--token", token]) == 0
    env = home / ".gemini" / ".env"
    assert f"GEMINI_API_KEY='{token}'\n" in env.read_text()
    assert read_env(env)["GEMINI_API_KEY"] == token
    assert main(["gemini-cli", "--token", token]) == 0  # read back as written: already set


def test_env_assignments_are_read_as_dotenv_reads_them():
    text = "A=1\nexport B = two # note\nC='x#y'\nD=\"multi\nline\"\nE=\n# F=commented\nA=last\n"
    document = DotenvDocument(text)
    assert dict(document) == {"A": "last", "B": "two", "C": "x#y", "D": "multi\nline", "E": ""}
    assert document.text() == text
    document["B"] = "new"
    del document["A"]
    assert document.text() == "export B=new\nC='x#y'\nD=\"multi\nline\"\nE=\n# F=commented\n"


@given(st.text(alphabet=st.sampled_from("AB=#'\"` \t\nx\\:e"), max_size=60))
def test_env_text_is_kept_exactly(text):
    document = DotenvDocument(text)
    assert document.text() == text
    document["GOOGLE_GEMINI_BASE_URL"] = DEFAULT_URL
    assert DotenvDocument(document.text())["GOOGLE_GEMINI_BASE_URL"] == DEFAULT_URL


# --- opencode's model list, from the bridge ---------------------------------------------------------------------------


@pytest.fixture
def model_list():
    """A stand-in for the bridge's GET /v1/models, which wants `TOKEN`; `.models` is what it lists."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if self.headers.get("authorization") != f"Bearer {TOKEN}":
                status, body = 401, {"error": {"message": "Missing or invalid bridge token"}}
            else:
                status, body = 200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.models = ["claude-sim", "gpt-sim"]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_opencode_lists_the_models_the_bridge_serves(home, model_list, capsys):
    assert main(["opencode", "--url", model_list.url, "--token", TOKEN]) == 0
    result = parsed(home / ".config" / "opencode" / "opencode.json")
    assert result["provider"]["llm-bridge"]["models"] == {"claude-sim": {"name": "claude-sim"}, "gpt-sim": {"name": "gpt-sim"}}
    assert "model" not in result  # no --model: opencode's own default model is left alone
    assert TOKEN not in capsys.readouterr().out


def test_opencode_a_new_list_keeps_what_the_user_gave_a_model_and_drops_the_gone(home, model_list):
    assert main(["opencode", "--url", model_list.url, "--token", TOKEN]) == 0
    path = home / ".config" / "opencode" / "opencode.json"
    result = parsed(path)
    result["provider"]["llm-bridge"]["models"]["claude-sim"]["limit"] = {"context": 200000, "output": 8192}
    path.write_text(json.dumps(result))
    model_list.models = ["claude-sim", "resp-sim"]
    assert main(["opencode", "--url", model_list.url, "--token", TOKEN]) == 0
    assert parsed(path)["provider"]["llm-bridge"]["models"] == {
        "claude-sim": {"name": "claude-sim", "limit": {"context": 200000, "output": 8192}},
        "resp-sim": {"name": "resp-sim"},
    }


def test_opencode_undo_after_a_listed_setup_restores_the_users_file(home, model_list):
    CASES["opencode"].write_user_files(home)
    path = home / ".config" / "opencode" / "opencode.json"
    assert main(["opencode", "--url", model_list.url, "--token", TOKEN]) == 0
    assert parsed(path)["model"] == "anthropic/claude-sonnet-4-5"  # no --model: the user's default stays
    assert main(["opencode", "--url", model_list.url, "--undo"]) == 0
    assert path.read_bytes() == OPENCODE_USER and not backup_of(path).exists()


def test_opencode_a_refused_token_writes_nothing(home, model_list, capsys):
    assert main(["opencode", "--url", model_list.url, "--token", "sk-wrong-token-000000"]) == 2
    err = capsys.readouterr().err
    assert "refused to list its models (401)" in err and "--token" in err and "sk-wrong-token-000000" not in err
    assert not home.exists()


def test_opencode_an_unreachable_bridge_says_to_name_the_models(home, capsys):
    model_list_url = f"http://127.0.0.1:{_closed_port()}"
    assert main(["opencode", "--url", model_list_url, "--token", TOKEN]) == 1
    err = capsys.readouterr().err
    assert f"Cannot read the bridge's models at {model_list_url}/v1/models" in err and "--model" in err
    assert not home.exists()


def _closed_port() -> int:
    from tests.bridge_process import free_port  # noqa: PLC0415

    return free_port()


# --- help -------------------------------------------------------------------------------------------------------------


def test_help_lists_the_clients(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("claude-code", "codex", "gemini-cli", "opencode"))
    assert "--undo" in out and "byte for byte" in out


@pytest.mark.parametrize(("client", "words"), [
    ("codex", ["~/.codex/config.toml", "CODEX_HOME", "experimental_bearer_token", "--model"]),
    ("gemini-cli", ["~/.gemini/.env", "GOOGLE_GEMINI_BASE_URL", "--skip-trust", "x-goog-api-key"]),
    ("opencode", ["opencode.json", "GET <url>/v1/models", "repeatable", "XDG_CONFIG_HOME"]),
    ("claude-code", ["CLAUDE_CONFIG_DIR", "ANTHROPIC_AUTH_TOKEN", "--settings"]),
])
def test_each_clients_help_says_what_it_writes(capsys, client, words):
    assert main([client, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert all(" ".join(w.split()) in out for w in words), out


# --- each CLI against a real bridge, with nothing but what the command wrote ----------------------------------------

BRIDGE_TOKEN = "sk-bridge-e2e-0123456789-abcd"
WRONG_TOKEN = "sk-bridge-e2e-wrong-000000000"
SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
REFUSAL = "Missing or invalid bridge token"


@dataclass(frozen=True)
class Cli:
    install: Callable[[], Path | None]
    what: str
    setup_args: Callable[[str], tuple[str, ...]]  # for a model, besides --url and --token
    argv: Callable[[Path, str], list[str]]  # the CLI asking the model "hello"
    answer: Callable[[str], str]
    refusal_env: tuple[tuple[str, str], ...] = ()  # only to fail fast on the wrong token


CLIS = {
    # Claude Code asks for its own default claude-* model, which the bridge below routes
    "claude-code": Cli(claude_code_cli.install, "Claude Code", lambda model: (),
                       lambda cli, model: [str(cli), "-p", "hello", "--output-format", "json"],
                       lambda out: json.loads(out)["result"],
                       refusal_env=(("CLAUDE_CODE_MAX_RETRIES", "0"),)),  # else it retries a 401 for minutes
    "codex": Cli(codex_cli.install, "Codex", lambda model: ("--model", model),
                 lambda cli, model: [str(cli), "exec", "--skip-git-repo-check", "hello"], str.strip),
    "gemini-cli": Cli(gemini_cli.install, "the Gemini CLI", lambda model: ("--model", model),
                      lambda cli, model: [str(cli), "-p", "hello", "--output-format", "json", "--skip-trust"],
                      lambda out: json.loads(out)["response"]),
    # without --model: the list is read from the running bridge
    "opencode": Cli(opencode_cli.install, "opencode", lambda model: (),
                    lambda cli, model: [str(cli), "run", "-m", f"llm-bridge/{model}", "hello"], str.strip),
}


@pytest.fixture(scope="module")
def token_bridge(simulator, tmp_path_factory):
    """A real mitmdump bridge on the simulator (conftest's models, plus Claude Code's claude-* names routed to
    the Anthropic simulator) that wants BRIDGE_TOKEN."""
    folder = tmp_path_factory.mktemp("client-setup")
    config = folder / "bridge.toml"
    config.write_text(bridge_toml(simulator.base_url) + f"""
[[routes]]
match = "claude-*"
provider = "claude"
upstream_model = "claude-sonnet-4-5"

[server]
auth_tokens = ["{BRIDGE_TOKEN}"]
""")
    process = BridgeProcess(f"--set=bridge_config={config}", log_path=folder / "mitmdump.log",
                            env={**os.environ, "SIM_OPENAI_KEY": OPENAI_KEY}).wait_ready()
    yield process
    process.stop()


def _bare_env(home: Path, *extra: tuple[str, str]) -> dict[str, str]:
    """PATH and HOME, nothing else: no base URL, key or config folder from the environment."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **dict(extra)}


def _setup(client: str, home: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "addons.client_setup", client, "--url", url, *args], cwd=ROOT,
                          env=_bare_env(home), capture_output=True, text=True, timeout=60)


def _run(argv: list[str], home: Path, workdir: Path, *extra: tuple[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=workdir, env=_bare_env(home, *extra), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("client", CLIS)
def test_the_cli_answers_through_the_bridge_with_only_what_setup_wrote(client, token_bridge, simulator, tmp_path):
    spec = CLIS[client]
    cli = installed_or_skip(spec.install, spec.what)
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir(exist_ok=True)  # npm, installing the CLI on a first run, made it under this HOME
    workdir.mkdir()

    done = _setup(client, home, token_bridge.base_url, "--token", BRIDGE_TOKEN, *spec.setup_args("claude-sim"))
    assert done.returncode == 0, done.stderr
    assert BRIDGE_TOKEN not in done.stdout + done.stderr
    simulator.clear()
    run = _run(spec.argv(cli, "claude-sim"), home, workdir)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert spec.answer(run.stdout) == SIM_TEXT
    assert any(r.path == "/v1/messages" for r in simulator.requests)  # claude-sim (or claude-*): the Anthropic simulator

    # The token setup writes is the one the CLI sends: a wrong one is refused by the bridge.
    if client == "opencode":  # reading the model list with it is refused first, and nothing is written
        refused = _setup(client, home, token_bridge.base_url, "--token", WRONG_TOKEN)
        assert refused.returncode == 2 and "(401)" in refused.stderr
    with_models = ("--model", "claude-sim") if client == "opencode" else spec.setup_args("claude-sim")
    done = _setup(client, home, token_bridge.base_url, "--token", WRONG_TOKEN, *with_models)
    assert done.returncode == 0, done.stderr
    simulator.clear()
    run = _run(spec.argv(cli, "claude-sim"), home, workdir, *spec.refusal_env)
    assert run.returncode != 0
    assert REFUSAL in run.stdout + run.stderr
    assert simulator.requests == []

    # --undo takes the bridge out of the client's configuration again.
    undone = _setup(client, home, token_bridge.base_url, "--token", WRONG_TOKEN, "--undo")
    assert undone.returncode == 0, undone.stderr
    configs = [p for p in home.rglob("*") if p.name in ("settings.json", "config.toml", ".env", "opencode.json")]
    assert configs and not any(token_bridge.base_url in p.read_text() for p in configs)


@pytest.mark.parametrize("client", ["codex", "gemini-cli", "opencode"])
def test_without_a_token_on_a_bridge_without_auth_tokens(client, bridge, simulator, tmp_path):
    """conftest's bridge has no auth_tokens: setup without --token is enough (to an OpenAI-compatible upstream)."""
    spec = CLIS[client]
    cli = installed_or_skip(spec.install, spec.what)
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir(exist_ok=True)  # npm, installing the CLI on a first run, made it under this HOME
    workdir.mkdir()
    done = _setup(client, home, bridge.base_url, *spec.setup_args("gpt-sim"))
    assert done.returncode == 0, done.stderr
    simulator.clear()
    run = _run(spec.argv(cli, "gpt-sim"), home, workdir)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert spec.answer(run.stdout) == SIM_TEXT
    assert any(r.path == "/v1/chat/completions" for r in simulator.requests)
