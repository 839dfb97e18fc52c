"""With no auth tokens, the bridge listens on loopback only."""

import subprocess

import pytest
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons

from addons.config import BridgeConfig, ServerConfig
from addons.listen_guard import ListenGuard, is_loopback
from addons.settings import BridgeSettings
from tests.bridge_process import MITMDUMP, ROOT


def guard(tokens=()):
    settings = BridgeSettings()
    settings.use(BridgeConfig(server=ServerConfig(auth_tokens=list(tokens))), source="test")
    return ListenGuard(settings)


def test_default_host_becomes_loopback_without_tokens():
    addon = guard()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, listen_host="")
        assert tctx.options.listen_host == "127.0.0.1"


def test_tokens_or_an_explicit_yes_allow_other_addresses():
    addon = guard(["t"])
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, listen_host="")
        assert tctx.options.listen_host == ""
    addon = guard()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, bridge_allow_remote=True, listen_host="0.0.0.0")
        assert tctx.options.listen_host == "0.0.0.0"


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.0.0.2", False), ("", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_mitmdump_refuses_a_public_listen_address_without_tokens(tmp_path):
    result = subprocess.run([str(MITMDUMP), "-s", str(ROOT / "addons" / "bridge.py"), "--listen-host", "0.0.0.0", "-p", "0"],
                            capture_output=True, text=True, timeout=30, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0 with no [server] auth_tokens" in result.stdout + result.stderr
