"""bridge.toml validation, env-var providers, and model routing."""

import subprocess

import pytest

from addons.config import ConfigError, config_from_env, load_config
from addons.model_router import ModelRouter
from tests.bridge_process import MITMDUMP, ROOT

GOOD = """
[server]
auth_tokens = ["t1"]
[[providers]]
name = "anthropic"
protocol = "anthropic"
base_url = "https://api.anthropic.com/"
api_key = "env:TEST_BRIDGE_KEY"
max_tokens = 2000
[[models]]
id = "claude-sonnet"
provider = "anthropic"
upstream_model = "claude-sonnet-4-5"
[[models]]
id = "claude-haiku-4-5"
provider = "anthropic"
max_tokens = 900
"""


def write(tmp_path, text):
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    return path


def test_good_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_BRIDGE_KEY", "sk-ant-x")
    config = load_config(write(tmp_path, GOOD))
    assert config.providers[0].api_key == "sk-ant-x"
    assert config.providers[0].base_url == "https://api.anthropic.com"
    router = ModelRouter(config)
    route = router.resolve("claude-sonnet")
    assert (route.provider.name, route.upstream_model, route.options.max_tokens) == ("anthropic", "claude-sonnet-4-5", 2000)
    assert router.resolve("claude-haiku-4-5").upstream_model == "claude-haiku-4-5"
    assert router.resolve("claude-haiku-4-5").options.max_tokens == 900
    assert router.resolve("anthropic/claude-opus-4-1").upstream_model == "claude-opus-4-1"
    assert router.resolve("nobody/x") is None and router.resolve("unknown") is None and router.resolve("anthropic/") is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('protocol = "anthropic"', 'protocol = "grpc"'), "providers[0].protocol"),
        (('base_url = "https://api.anthropic.com/"', 'base_url = "api.anthropic.com"'), "providers[0].base_url"),
        (('api_key = "env:TEST_BRIDGE_KEY"', 'api_key = "env:SURELY_NOT_SET_VAR"'), "SURELY_NOT_SET_VAR is not set"),
        (('provider = "anthropic"\nupstream_model', 'provider = "nope"\nupstream_model'), "models[0].provider: no provider named 'nope'"),
        (("max_tokens = 2000", "max_tokens = 0"), "providers[0].max_tokens"),
        (("[server]", "[server]\nport = 1"), "server.port: unknown key"),
        (('id = "claude-haiku-4-5"', 'id = "claude-sonnet"'), "models[1].id: 'claude-sonnet' is used twice"),
        (("auth_tokens = [\"t1\"]", "auth_tokens = ["), "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path, monkeypatch, change, named):
    monkeypatch.setenv("TEST_BRIDGE_KEY", "k")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(*change)))
    assert named in str(info.value)
    assert "\n" not in str(info.value)


def test_providers_from_standard_env_vars():
    config = config_from_env({"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o", "GROQ_API_KEY": ""})
    assert [(p.name, p.protocol, p.base_url) for p in config.providers] == [
        ("anthropic", "anthropic", "https://api.anthropic.com"), ("openai", "openai-chat", "https://api.openai.com/v1")]
    assert config_from_env({}).providers == []


def test_bad_config_stops_mitmdump_with_one_line(tmp_path):
    path = write(tmp_path, GOOD.replace('protocol = "anthropic"', 'protocol = "grpc"'))
    result = subprocess.run(
        [str(MITMDUMP), "-s", str(ROOT / "addons" / "bridge.py"), "-p", "0", f"--set=bridge_config={path}"],
        capture_output=True, text=True, timeout=30, env={"TEST_BRIDGE_KEY": "k", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "llm-bridge config error" in line]
    assert len(errors) == 1 and "providers[0].protocol" in errors[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_bridge_toml_in_the_working_directory_is_used(tmp_path, simulator):
    from tests.bridge_process import BridgeProcess
    from tests.conftest import bridge_toml

    (tmp_path / "bridge.toml").write_text(bridge_toml(simulator.base_url))
    proc = BridgeProcess(log_path=tmp_path / "mitmdump.log", cwd=tmp_path,
                         env={"SIM_OPENAI_KEY": "k", "PATH": "/usr/bin:/bin"}).wait_ready()
    try:
        import httpx

        models = httpx.get(f"{proc.base_url}/v1/models").json()
        assert sorted(m["id"] for m in models["data"]) == ["claude-sim", "gem-sim", "gpt-sim", "resp-sim"]
    finally:
        proc.stop()


def test_pattern_routes_and_client_suffixes(monkeypatch):
    from addons.config import BridgeConfig

    config = BridgeConfig.model_validate({
        "providers": [{"name": "groq", "protocol": "openai-chat", "base_url": "https://api.groq.com/openai/v1"},
                      {"name": "deepseek", "protocol": "openai-chat", "base_url": "https://api.deepseek.com/v1"}],
        "models": [{"id": "claude-sonnet-4-6", "provider": "deepseek", "upstream_model": "deepseek-chat"}],
        "routes": [{"match": "*haiku*", "provider": "groq", "upstream_model": "llama-3.1-8b-instant", "max_output_tokens": 8192},
                   {"match": "claude-*", "provider": "deepseek", "upstream_model": "deepseek-reasoner"}],
    })
    router = ModelRouter(config)
    assert router.resolve("claude-sonnet-4-6[1m]").upstream_model == "deepseek-chat"  # suffix stripped, exact id wins
    haiku = router.resolve("Claude-HAIKU-5-5")
    assert (haiku.provider.name, haiku.upstream_model, haiku.options.max_output_tokens) == ("groq", "llama-3.1-8b-instant", 8192)
    assert router.resolve("claude-opus-5-5[1m]").upstream_model == "deepseek-reasoner"
    assert router.resolve("gpt-4o") is None
    assert ModelRouter(config.model_copy(update={"model_names": config.model_names.model_copy(
        update={"strip_client_suffix": False})})).resolve("claude-sonnet-4-6[1m]").upstream_model == "deepseek-reasoner"
    with pytest.raises(Exception, match="routes.0.provider|no provider named"):
        BridgeConfig.model_validate({"routes": [{"match": "*", "provider": "nobody"}]})


# --- presets ---

def test_factory_preset_fills_endpoints_headers_and_credentials_from_the_environment(monkeypatch):
    from addons.config import ProviderConfig

    monkeypatch.setenv("FACTORY_API_KEY", "fk-123")
    provider = ProviderConfig.model_validate({"name": "factory", "preset": "factory"})
    assert provider.api_key == "fk-123" and provider.auth is None
    assert provider.base_url_for("anthropic") == "https://api.factory.ai/api/llm/a"
    assert provider.base_url_for("openai-responses") == "https://api.factory.ai/api/llm/o/v1"
    assert provider.protocol_for("claude-opus-4-1") == "anthropic"
    assert provider.protocol_for("gpt-5-codex") == "openai-responses"
    assert provider.protocol_for("glm-4.6") == "openai-chat"
    assert provider.headers["x-factory-client"] == "cli" and provider.headers["user-agent"].startswith("factory-cli/")


def test_factory_preset_prefers_a_refresh_token_over_the_cli_file_and_lets_headers_be_overridden(monkeypatch, tmp_path):
    from addons.config import ProviderConfig

    monkeypatch.delenv("FACTORY_API_KEY", raising=False)
    monkeypatch.setenv("DROID_REFRESH_KEY", "rt-1")
    provider = ProviderConfig.model_validate({"name": "f", "preset": "factory", "headers": {"User-Agent": "factory-cli/0.99.0"}})
    assert provider.auth.type == "workos" and provider.auth.refresh_token == "rt-1"
    assert provider.headers["user-agent"] == "factory-cli/0.99.0"


def test_factory_preset_without_credentials_says_where_they_come_from(monkeypatch, tmp_path):
    monkeypatch.delenv("FACTORY_API_KEY", raising=False)
    monkeypatch.delenv("DROID_REFRESH_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "bridge.toml"
    path.write_text('[[providers]]\nname = "factory"\npreset = "factory"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert "FACTORY_API_KEY" in str(raised.value) and "DROID_REFRESH_KEY" in str(raised.value)


def test_trae_preset_needs_an_app_id_and_reads_the_fingerprint_from_the_environment(monkeypatch, tmp_path):
    from addons.config import ProviderConfig

    monkeypatch.setenv("TRAE_IDE_TOKEN", "ide-token")
    monkeypatch.delenv("TRAE_APP_ID", raising=False)
    path = tmp_path / "bridge.toml"
    path.write_text('[[providers]]\nname = "trae"\npreset = "trae"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert "TRAE_APP_ID" in str(raised.value)
    monkeypatch.setenv("TRAE_APP_ID", "app-1")
    monkeypatch.setenv("TRAE_DEVICE_ID", "dev-1")
    provider = ProviderConfig.model_validate({"name": "trae", "preset": "trae"})
    assert provider.protocol == "trae" and provider.api_key == "ide-token"
    assert provider.headers == {"x-app-id": "app-1", "x-device-id": "dev-1"}


def test_auth_and_api_key_together_are_refused(tmp_path):
    path = tmp_path / "bridge.toml"
    path.write_text('[[providers]]\nname = "p"\nprotocol = "anthropic"\nbase_url = "https://x.test"\napi_key = "k"\n'
                    'auth = { type = "workos", refresh_token = "rt" }\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert "cannot be combined" in str(raised.value)
