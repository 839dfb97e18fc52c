"""A simulator speaking WorkOS, Factory and Trae, and bridge.toml files pointing the
factory and trae presets at it (with their token store in a temporary folder)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.bridge_process import BridgeProcess
from tests.simulator import Simulator
from tests.simulator.factory import FactorySimulator
from tests.simulator.trae import TraeSimulator
from tests.simulator.workos import WorkOSSimulator

# real-looking secrets: the scan test looks for each of them everywhere the bridge writes
DROID_REFRESH = "wos_rt_9f8e7d6c5b4a39281706f5e4d3c2b1a0Zy"
TRAE_REFRESH = "trae_rt_5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0dQw"
TRAE_CLIENT_ID = "trae-client-7c2f9e"
TRAE_USER_ID = "7460281153"
TRAE_APP_ID = "6eefa01c-1036-4c7e-9ca5-d891f63bfcd8"


class CredentialUpstreams:
    def __init__(self, *, workos_delay_s: float = 0.0, access_ttl_s: float = 8 * 3600,
                 anthropic_key: str | None = None, openai_key: str | None = None, replay_grace_s: float = 0.0) -> None:
        self.workos = WorkOSSimulator(refresh_tokens=[DROID_REFRESH], delay_s=workos_delay_s, access_ttl_s=access_ttl_s,
                                      replay_grace_s=replay_grace_s)
        self.trae = TraeSimulator(refresh_tokens=[TRAE_REFRESH], client_id=TRAE_CLIENT_ID, user_id=TRAE_USER_ID, app_id=TRAE_APP_ID)
        self.sim = Simulator(anthropic_key, openai_key, strict_turns=False)
        self.factory = FactorySimulator(self.workos, self.sim.context)
        self.sim.fronts = [self.workos, self.factory, self.trae]

    def __enter__(self) -> "CredentialUpstreams":
        self.sim.start_in_thread()
        return self

    def __exit__(self, *exc) -> None:
        self.sim.stop()

    @property
    def base_url(self) -> str:
        return self.sim.base_url


def credentials_toml(base_url: str, store: Path, *, factory: bool = True, trae: bool = True, extra: str = "") -> str:
    text = f'[credentials]\nstore = "{store}"\n'
    if factory:
        text += f"""
[[providers]]
name = "factory"
preset = "factory"
base_url = "{base_url}"
auth = {{ type = "workos", refresh_token = "env:DROID_REFRESH_KEY", token_url = "{base_url}/user_management/authenticate" }}

[[models]]
id = "claude-sonnet-4-5"
provider = "factory"
upstream_model = "claude-sonnet-4-5-20250929"

[[models]]
id = "gpt-5"
provider = "factory"

[[models]]
id = "glm-4.6"
provider = "factory"
"""
    if trae:
        text += f"""
[[providers]]
name = "trae"
preset = "trae"
base_url = "{base_url}"
auth = {{ type = "trae", refresh_token = "env:TRAE_REFRESH_TOKEN", client_id = "env:TRAE_CLIENT_ID", user_id = "env:TRAE_USER_ID", token_url = "{base_url}" }}
headers = {{ "x-app-id" = "{TRAE_APP_ID}", "x-device-id" = "7519203348611", "x-machine-id" = "4f1c0a9e8b7d6c5f4e3d2c1b0a9f8e7d", "x-ide-version" = "1.2.10", "x-ide-version-code" = "20250325", "x-ide-version-type" = "stable", "x-device-type" = "windows", "x-device-cpu" = "AMD", "x-device-brand" = "92L3", "x-os-version" = "Windows 11 Pro" }}

[[models]]
id = "claude-3-7-sonnet"
provider = "trae"
upstream_model = "aws_sdk_claude37_sonnet"
"""
    return text + extra


def credential_env() -> dict[str, str]:
    return {
        **os.environ, "DROID_REFRESH_KEY": DROID_REFRESH, "TRAE_REFRESH_TOKEN": TRAE_REFRESH,
        "TRAE_CLIENT_ID": TRAE_CLIENT_ID, "TRAE_USER_ID": TRAE_USER_ID,
    }


def start_bridge(folder: Path, toml: str, *args: str, name: str = "bridge") -> BridgeProcess:
    config = folder / f"{name}.toml"
    config.write_text(toml)
    return BridgeProcess(f"--set=bridge_config={config}", *args, log_path=folder / f"{name}.log", env=credential_env()).wait_ready()


class KillAtIssue:
    """The WorkOS simulator's `on_issue`: SIGKILLs the refreshing bridge the moment the provider has rotated the
    refresh token, before its answer is written. The new token then exists nowhere but in a dead process: the
    window between the refresh and its save, made as wide as it can be."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.killed_at: float | None = None

    def __call__(self, body: dict) -> None:
        if self.pid is not None and self.killed_at is None:
            os.kill(self.pid, signal.SIGKILL)
            self.killed_at = time.monotonic()
