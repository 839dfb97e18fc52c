"""`python -m addons.claude_setup`: editing Claude Code's settings.json safely.

Every test works in tmp_path with HOME and CLAUDE_CONFIG_DIR pointed there,
so the real ~/.claude is never read or written.
"""

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addons.client_setup import config_file
from addons.claude_setup import BACKUP_SUFFIX, DEFAULT_URL, main, mask_secret

TOKEN = "sk-bridge-0123456789-abcd"
MASKED = "sk-…abcd"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    folder = tmp_path / "claude"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def settings_file(config_dir) -> Path:
    return config_dir / "settings.json"


def write_json(path: Path, value) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(value, indent=4).encode()
    path.write_bytes(data)
    return data


def read_json(path: Path):
    return json.loads(path.read_text())


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def age(path: Path) -> int:
    """Push the file's mtime into the past and return it, so a rewrite is visible."""
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return path.stat().st_mtime_ns


# --- setting up --------------------------------------------------------------


def test_fresh_file_and_folder_are_created(settings_file, capsys):
    assert main([]) == 0
    assert read_json(settings_file) == {"env": {"ANTHROPIC_BASE_URL": DEFAULT_URL}}
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    assert not backup_of(settings_file).exists()  # nothing to back up
    out = capsys.readouterr().out
    assert f'env.ANTHROPIC_BASE_URL: (absent) -> "{DEFAULT_URL}"' in out


def test_token_is_written_as_auth_token_and_never_printed(settings_file, capsys):
    assert main(["--url", "http://10.0.0.5:9000/", "--token", TOKEN]) == 0
    assert read_json(settings_file)["env"] == {"ANTHROPIC_BASE_URL": "http://10.0.0.5:9000", "ANTHROPIC_AUTH_TOKEN": TOKEN}
    out = capsys.readouterr().out
    assert TOKEN not in out and MASKED in out


def test_other_keys_are_kept_in_order(settings_file):
    original = {
        "model": "opus",
        "permissions": {"allow": ["Bash(ls:*)"], "deny": []},
        "env": {"DISABLE_TELEMETRY": "1", "ANTHROPIC_BASE_URL": "https://old.example"},
        "statusLine": {"type": "command", "command": "echo hi"},
    }
    write_json(settings_file, original)
    assert main(["--token", TOKEN]) == 0
    result = read_json(settings_file)
    assert list(result) == list(original)
    assert {k: v for k, v in result.items() if k != "env"} == {k: v for k, v in original.items() if k != "env"}
    assert result["env"] == {"DISABLE_TELEMETRY": "1", "ANTHROPIC_BASE_URL": DEFAULT_URL, "ANTHROPIC_AUTH_TOKEN": TOKEN}


def test_backup_is_written_once_and_keeps_the_original(settings_file, capsys):
    original = write_json(settings_file, {"model": "opus"})
    assert main([]) == 0
    assert backup_of(settings_file).read_bytes() == original
    assert "Saved the original" in capsys.readouterr().out
    assert main(["--url", "http://127.0.0.1:9999"]) == 0
    assert backup_of(settings_file).read_bytes() == original
    assert "Saved the original" not in capsys.readouterr().out


def test_second_identical_run_reports_already_set_and_does_not_write(settings_file, capsys):
    assert main(["--token", TOKEN]) == 0
    mtime, inode = age(settings_file), settings_file.stat().st_ino
    capsys.readouterr()
    assert main(["--token", TOKEN]) == 0
    assert "Already set" in capsys.readouterr().out
    assert settings_file.stat().st_mtime_ns == mtime and settings_file.stat().st_ino == inode
    assert not backup_of(settings_file).exists()


def test_file_mode_is_kept(settings_file):
    write_json(settings_file, {})
    settings_file.chmod(0o640)
    assert main([]) == 0
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o640


def test_no_temporary_files_are_left_behind(settings_file):
    write_json(settings_file, {"model": "opus"})
    assert main(["--token", TOKEN]) == 0
    assert sorted(p.name for p in settings_file.parent.iterdir()) == ["settings.json", "settings.json" + BACKUP_SUFFIX]


def test_empty_file_counts_as_an_empty_object(settings_file):
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text("  \n")
    assert main([]) == 0
    assert read_json(settings_file) == {"env": {"ANTHROPIC_BASE_URL": DEFAULT_URL}}


def test_a_symlinked_settings_file_is_written_through(settings_file, tmp_path):
    real = tmp_path / "profiles" / "work.json"
    write_json(real, {"model": "opus"})
    settings_file.parent.mkdir(parents=True)
    settings_file.symlink_to(real)
    assert main([]) == 0
    assert settings_file.is_symlink()
    assert read_json(real) == {"model": "opus", "env": {"ANTHROPIC_BASE_URL": DEFAULT_URL}}


def test_write_failure_exits_1_and_leaves_the_file_alone(settings_file, monkeypatch, capsys):
    original = write_json(settings_file, {"model": "opus"})

    def failing_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(config_file.os, "replace", failing_replace)
    assert main([]) == 1
    assert "Cannot write" in capsys.readouterr().err
    assert settings_file.read_bytes() == original
    assert not [p for p in settings_file.parent.iterdir() if p.name.endswith(".tmp")]


# --- dry run -----------------------------------------------------------------


def test_dry_run_on_a_missing_file_writes_nothing(settings_file, capsys):
    assert main(["--dry-run", "--token", TOKEN]) == 0
    assert not settings_file.parent.exists()
    out = capsys.readouterr().out
    assert "nothing written" in out
    assert f'env.ANTHROPIC_BASE_URL: (absent) -> "{DEFAULT_URL}"' in out
    assert f'env.ANTHROPIC_AUTH_TOKEN: (absent) -> "{MASKED}"' in out
    assert TOKEN not in out


def test_dry_run_shows_old_and_new_values_masked_and_writes_nothing(settings_file, capsys):
    old_token = "sk-old-token-9876543210-wxyz"
    original = write_json(settings_file, {"env": {"ANTHROPIC_BASE_URL": "https://old.example", "ANTHROPIC_AUTH_TOKEN": old_token}})
    mtime = age(settings_file)
    assert main(["--dry-run", "--token", TOKEN]) == 0
    out = capsys.readouterr().out
    assert f'env.ANTHROPIC_BASE_URL: "https://old.example" -> "{DEFAULT_URL}"' in out
    assert f'env.ANTHROPIC_AUTH_TOKEN: "sk-…wxyz" -> "{MASKED}"' in out
    assert TOKEN not in out and old_token not in out
    assert settings_file.read_bytes() == original and settings_file.stat().st_mtime_ns == mtime
    assert not backup_of(settings_file).exists()


def test_dry_run_when_already_set_says_so(settings_file, capsys):
    main([])
    capsys.readouterr()
    assert main(["--dry-run"]) == 0
    assert "Already set" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("secret", "masked"),
    [("sk-bridge-abcdefgh-abcd", "sk-…abcd"), ("123456789012", "123…9012"), ("short-token", "…"), ("", "…")],
)
def test_mask_secret(secret, masked):
    assert mask_secret(secret) == masked


# --- undo --------------------------------------------------------------------


def test_undo_removes_the_keys_and_an_env_left_empty(settings_file, capsys):
    write_json(settings_file, {"model": "opus"})
    main(["--token", TOKEN])
    capsys.readouterr()
    assert main(["--undo"]) == 0
    assert read_json(settings_file) == {"model": "opus"}
    out = capsys.readouterr().out
    assert "(removed)" in out and TOKEN not in out


def test_undo_keeps_other_env_entries(settings_file):
    write_json(settings_file, {"env": {"DISABLE_TELEMETRY": "1"}})
    main(["--url", "http://127.0.0.1:9000", "--token", TOKEN])
    assert main(["--undo", "--url", "http://127.0.0.1:9000", "--token", TOKEN]) == 0
    assert read_json(settings_file) == {"env": {"DISABLE_TELEMETRY": "1"}}


def test_undo_keeps_a_url_the_user_changed_since_and_its_token(settings_file, capsys):
    main(["--token", TOKEN])
    data = read_json(settings_file)
    data["env"]["ANTHROPIC_BASE_URL"] = "https://gateway.example"
    write_json(settings_file, data)
    mtime = age(settings_file)
    capsys.readouterr()
    assert main(["--undo"]) == 0
    out = capsys.readouterr().out
    assert "Nothing to undo" in out and "Kept env.ANTHROPIC_BASE_URL" in out and "Kept env.ANTHROPIC_AUTH_TOKEN" in out
    assert TOKEN not in out
    assert settings_file.stat().st_mtime_ns == mtime


def test_undo_with_token_removes_only_a_matching_token(settings_file):
    write_json(settings_file, {"env": {"ANTHROPIC_BASE_URL": DEFAULT_URL, "ANTHROPIC_AUTH_TOKEN": "someone-elses-token"}})
    assert main(["--undo", "--token", TOKEN]) == 0
    assert read_json(settings_file) == {"env": {"ANTHROPIC_AUTH_TOKEN": "someone-elses-token"}}


def test_undo_with_matching_token_removes_it_even_if_the_url_changed(settings_file):
    write_json(settings_file, {"env": {"ANTHROPIC_BASE_URL": "https://gateway.example", "ANTHROPIC_AUTH_TOKEN": TOKEN}})
    assert main(["--undo", "--token", TOKEN]) == 0
    assert read_json(settings_file) == {"env": {"ANTHROPIC_BASE_URL": "https://gateway.example"}}


def test_undo_dry_run_writes_nothing(settings_file, capsys):
    main(["--token", TOKEN])
    before, mtime = settings_file.read_bytes(), age(settings_file)
    capsys.readouterr()
    assert main(["--undo", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f'env.ANTHROPIC_AUTH_TOKEN: "{MASKED}" -> (removed)' in out and "env: {} -> (removed" in out
    assert settings_file.read_bytes() == before and settings_file.stat().st_mtime_ns == mtime


def test_undo_twice_does_not_rewrite(settings_file, capsys):
    main([])
    main(["--undo"])
    mtime = age(settings_file)
    capsys.readouterr()
    assert main(["--undo"]) == 0
    assert "Nothing to undo" in capsys.readouterr().out
    assert settings_file.stat().st_mtime_ns == mtime


def test_undo_on_a_missing_file_creates_nothing(settings_file):
    assert main(["--undo"]) == 0
    assert not settings_file.exists()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
OTHER_ENV = st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: not k.startswith("ANTHROPIC_")), st.text(max_size=8), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    others=st.dictionaries(st.text(max_size=8).filter(lambda k: k != "env"), JSON_VALUES, max_size=4),
    env=st.none() | OTHER_ENV,
)
def test_setup_then_undo_gives_back_the_same_settings(others, env):
    original = others | ({"env": env} if env is not None else {})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.json"
        write_json(path, original)
        assert main(["--settings", str(path), "--token", TOKEN]) == 0
        assert main(["--settings", str(path), "--undo"]) == 0
        assert read_json(path) == original


# --- refusals ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"model": "opus",}', "invalid JSON at line 1"),
        (b"{", "invalid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b'{"env": ["A=1"]}', '"env" entry is not a JSON object'),
        (b'{"env": null}', '"env" entry is not a JSON object'),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
@pytest.mark.parametrize("extra", [[], ["--undo"], ["--dry-run"]])
def test_malformed_settings_exit_2_and_stay_untouched(settings_file, capsys, content, words, extra):
    settings_file.parent.mkdir(parents=True)
    settings_file.write_bytes(content)
    mtime = age(settings_file)
    assert main(["--token", TOKEN, *extra]) == 2
    err = capsys.readouterr().err
    assert words in err and str(settings_file) in err and "not changed" in err
    assert settings_file.read_bytes() == content and settings_file.stat().st_mtime_ns == mtime
    assert not backup_of(settings_file).exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--url", "ftp://127.0.0.1"], "http:// or https://"),
        (["--url", "127.0.0.1:8080"], "http:// or https://"),
        (["--url", "http://"], "http:// or https://"),
        (["--url", "http://127.0.0.1:8080/v1"], "appends /v1/messages"),
        (["--url", "http://127.0.0.1:8080/v1/messages"], "appends /v1/messages"),
        (["--url", "http://u:p@127.0.0.1:8080"], "user information"),
        (["--url", "http://127.0.0.1:8080/?a=1"], "query"),
        (["--token", ""], "--token"),
        (["--token", "two words"], "--token"),
        (["--token", "line\nbreak"], "--token"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(settings_file, capsys, argv, words):
    assert main(argv) == 2
    assert words in capsys.readouterr().err
    assert not settings_file.parent.exists()


def test_unreadable_settings_path_exits_1(settings_file, capsys):
    settings_file.mkdir(parents=True)  # a folder where the file should be
    assert main([]) == 1
    assert "Cannot read" in capsys.readouterr().err


def test_unknown_option_exits_2():
    assert main(["--frobnicate"]) == 2


# --- where the settings file is ----------------------------------------------


def test_claude_config_dir_is_honoured(tmp_path, monkeypatch):
    folder = tmp_path / "elsewhere"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(folder))
    assert main([]) == 0
    assert read_json(folder / "settings.json")["env"]["ANTHROPIC_BASE_URL"] == DEFAULT_URL
    assert not (tmp_path / "home").exists()


def test_home_claude_folder_is_the_default(tmp_path, monkeypatch):
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    assert main([]) == 0
    assert read_json(tmp_path / "home" / ".claude" / "settings.json")["env"]["ANTHROPIC_BASE_URL"] == DEFAULT_URL


def test_settings_option_wins_over_claude_config_dir(tmp_path, config_dir):
    path = tmp_path / "project" / ".claude" / "settings.local.json"
    assert main(["--settings", str(path)]) == 0
    assert read_json(path)["env"]["ANTHROPIC_BASE_URL"] == DEFAULT_URL
    assert not config_dir.exists()


def test_help_explains_the_token(capsys):
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "auth_tokens" in out and "any value works" in out and "ANTHROPIC_API_KEY is not needed" in out
    assert "CLAUDE_CONFIG_DIR" in out


def test_runs_as_a_module(tmp_path):
    env = os.environ | {"HOME": str(tmp_path / "home"), "CLAUDE_CONFIG_DIR": str(tmp_path / "cfg")}
    result = subprocess.run(
        [sys.executable, "-m", "addons.claude_setup", "--token", TOKEN], check=False, cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout
    assert read_json(tmp_path / "cfg" / "settings.json")["env"]["ANTHROPIC_AUTH_TOKEN"] == TOKEN
