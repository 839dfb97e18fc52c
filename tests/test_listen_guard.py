"""No listener beyond loopback by accident (addons/guards/listen.py).

The process tests start real `mitmdump`/`mitmweb -s addons/bridge.py` for every way of telling
mitmproxy where to listen, and read the sockets the process really has open: socket inodes from
/proc/<pid>/fd matched against /proc/<pid>/net/{tcp,tcp6,udp,udp6}, never the log. They run in
parallel threads. Nothing here binds or connects beyond loopback; the wildcard sockets in the
"allowed" cases are the bridge's, and only their local addresses are read.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from mitmproxy import exceptions
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons

from addons.config import BridgeConfig, ServerConfig
from addons.guards.listen import ListenGuard, is_loopback, plan, with_host
from addons.reverse_mode import PLACEHOLDER_MODE, ReverseMode, as_placeholder
from addons.settings import BridgeSettings
from tests.bridge_process import ROOT
from tests.debian_packages import require

BIN = Path(sys.executable).parent
SCRIPT = str(ROOT / "addons" / "bridge.py")
LINUX_PROC = Path("/proc/self/net/tcp").exists()


# --- the rule, without a process ---------------------------------------------------------------

def guard(tokens=()):
    settings = BridgeSettings()
    settings.use(BridgeConfig(server=ServerConfig(auth_tokens=list(tokens))), source="test")
    return ListenGuard(settings)


def test_default_host_becomes_loopback_without_tokens():
    addon = guard()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, listen_host="", mode=["regular@8082", "socks5"])
        assert tctx.options.listen_host == "127.0.0.1"
        assert tctx.options.mode == ["regular@127.0.0.1:8082", "socks5@127.0.0.1:1080"]


def test_tokens_or_an_explicit_yes_allow_other_addresses():
    addon = guard(["t"])
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, listen_host="", mode=["regular@8082"])
        assert tctx.options.listen_host == "" and tctx.options.mode == ["regular@8082"]
    addon = guard()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, bridge_allow_remote=True, listen_host="0.0.0.0")
        assert tctx.options.listen_host == "0.0.0.0"


def test_the_guard_waits_for_the_settings():
    """A nested update from an addon listed before the settings comes before bridge.toml is read."""
    addon = ListenGuard(BridgeSettings())  # bridge.toml not read yet
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, listen_host="")
        assert tctx.options.listen_host == ""


def test_at_run_time_a_listener_beyond_loopback_is_refused_and_rolled_back():
    addon = guard()
    with taddons.context(addon) as tctx:  # no proxyserver starting: a change at run time (e.g. in mitmweb)
        tctx.configure(addon, listen_host="127.0.0.1", mode=["regular@127.0.0.1:8082"])
        with pytest.raises(exceptions.OptionsError, match=r"refusing to listen on 0\.0\.0\.0:8083 \(--mode regular@0"):
            tctx.configure(addon, mode=["regular@0.0.0.0:8083"])
        assert tctx.options.mode == ["regular@127.0.0.1:8082"]
        tctx.configure(addon, mode=["regular@8084"])
        assert tctx.options.mode == ["regular@8084"]  # on --listen-host 127.0.0.1 already
        tctx.configure(addon, listen_host="", mode=["regular@8085"])
        assert (tctx.options.listen_host, tctx.options.mode) == ("127.0.0.1", ["regular@127.0.0.1:8085"])


def kw(**over):
    args = dict(modes=["regular"], listen_host="", listen_port=None, server=True, web_host=None, web_port=None,
                tokens=False, allow_remote=False)
    return args | over


@pytest.mark.parametrize(("over", "refused"), [
    (dict(listen_host="0.0.0.0"), "0.0.0.0:8080 (--listen-host 0.0.0.0)"),
    (dict(listen_host="::", listen_port=9000), "[::]:9000 (--listen-host ::)"),
    (dict(listen_host="lan-host"), "lan-host:8080 (--listen-host lan-host)"),
    (dict(modes=[as_placeholder("regular@0.0.0.0:8082")]), "0.0.0.0:8082 (--mode regular@0.0.0.0:8082)"),
    (dict(modes=[f"{PLACEHOLDER_MODE}@0.0.0.0:8083"]), f"0.0.0.0:8083 (--mode {PLACEHOLDER_MODE}@0.0.0.0:8083)"),
    (dict(modes=["socks5@192.168.1.2:1080"]), "192.168.1.2:1080 (--mode socks5@192.168.1.2:1080)"),
    (dict(modes=["wireguard@:::51820"]), "[::]:51820 (--mode wireguard@:::51820)"),
])
def test_explicit_addresses_beyond_loopback_are_refused(over, refused):
    result = plan(**kw(**over))
    assert result.refusal.startswith(f"llm-bridge: refusing to listen on {refused} with no [server] auth_tokens")
    assert "\n" not in result.refusal
    assert plan(**kw(**over, tokens=True)).refusal is None
    assert plan(**kw(**over, allow_remote=True)).refusal is None


def test_every_listener_without_a_host_is_moved_and_the_rest_kept():
    result = plan(**kw(modes=[as_placeholder("regular@8082"), "reverse:https://example.com", "dns@127.0.0.1:5353",
                              "local", "socks5@::1:1080"], listen_port=9000))
    assert result.refusal is None
    assert result.changes == {
        "listen_host": "127.0.0.1",
        "mode": [f"{PLACEHOLDER_MODE}@127.0.0.1:8082", "reverse:https://example.com@127.0.0.1:9000",
                 "dns@127.0.0.1:5353", "local", "socks5@::1:1080"],
    }
    assert [str(m) for m in result.moved] == ["127.0.0.1:8082 (regular@8082)",
                                              "127.0.0.1:9000 (reverse:https://example.com)"]
    assert plan(**kw(server=False)).changes == {"listen_host": "127.0.0.1"}  # no server: no listener


def test_mitmwebs_ui_needs_an_explicit_yes_even_with_tokens():
    for tokens in (False, True):
        result = plan(**kw(web_host="0.0.0.0", web_port=8081, tokens=tokens))
        assert "refusing to serve mitmweb's UI on 0.0.0.0:8081 (--web-host 0.0.0.0)" in result.refusal
    assert plan(**kw(web_host="0.0.0.0", web_port=8081, allow_remote=True)).refusal is None
    assert plan(**kw(web_host="", web_port=8081, tokens=True)).changes == {"web_host": "127.0.0.1"}
    assert plan(**kw(web_host="localhost", web_port=8081, tokens=True)).changes == {}


def test_a_refusal_is_one_line_naming_each_listener():
    message = plan(**kw(modes=["regular@0.0.0.0:1", "regular@127.0.0.1:2", "socks5@10.0.0.1:3"],
                        web_host="::", web_port=4)).refusal
    assert "\n" not in message
    assert "0.0.0.0:1 (--mode regular@0.0.0.0:1) and 10.0.0.1:3 (--mode socks5@10.0.0.1:3)" in message
    assert "[::]:4 (--web-host ::)" in message and "127.0.0.1:2" not in message


def test_with_host_keeps_everything_before_the_listen_address():
    assert with_host("reverse:http://127.0.0.1:9@8082", "127.0.0.1", 8082) == "reverse:http://127.0.0.1:9@127.0.0.1:8082"
    assert with_host("regular", "127.0.0.1", 8080) == "regular@127.0.0.1:8080"
    assert with_host("regular@:8080", "127.0.0.1", 8080) == "regular@127.0.0.1:8080"


def test_every_regular_mode_becomes_the_placeholder_on_its_own_address():
    addon = ReverseMode()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, mode=["regular@8082", "regular@0.0.0.0:8083", "socks5"])
        assert tctx.options.mode == [f"{PLACEHOLDER_MODE}@8082", f"{PLACEHOLDER_MODE}@0.0.0.0:8083", "socks5"]


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("::", False), ("10.0.0.2", False), ("", False),
    ("0", False), ("example.com", False), ("::ffff:10.0.0.1", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


# --- real processes: the sockets they have open ------------------------------------------------

def _address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word is host-endian
    return str(ipaddress.ip_address(raw)), int(port, 16)


def listeners(pid: int) -> set[tuple[str, str, int]]:
    """(proto, host, port) of every TCP socket in LISTEN and every unconnected UDP socket the process holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = set()
    for table, proto, state in (("tcp", "tcp", "0A"), ("tcp6", "tcp", "0A"), ("udp", "udp", "07"), ("udp6", "udp", "07")):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == state and fields[9] in inodes:
                    found.add((proto, *_address(fields[1])))
    return found


_handed_out: set[int] = set()


def free_port() -> int:
    """A port free for TCP and UDP (reverse:https also listens on UDP), not handed out before here."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def bridge_answers(host: str, port: int) -> bool:
    try:
        r = httpx.get(f"http://{'[::1]' if ':' in host else '127.0.0.1'}:{port}/v1/models", timeout=1)
    except httpx.HTTPError:
        return False
    return r.status_code in (200, 401) and r.headers.get("content-type") == "application/json"


@dataclass
class Case:
    id: str
    exe: str  # mitmdump | mitmweb
    args: str  # with {p}, {q} for ports
    setting: str  # none | allow | tokens
    expect: set | None = None  # (proto, host, port-name) the process listens on; None: refused
    refusal: str | None = None  # what the one refusal line names
    ports: dict = field(default_factory=dict)


LOOP, ANY4, ANY6 = "127.0.0.1", "0.0.0.0", "::"


def wild(port: str) -> set:
    """mitmproxy binds both families for "every interface"."""
    return {("tcp", ANY4, port), ("tcp", ANY6, port)}


PLACE = "reverse:http://127.0.0.1:9"  # the form the issue names (it happens to be the bridge's placeholder)
# Without tokens: every listener given without a host, in one process (each is checked by its own port).
HOSTLESS = f"--mode regular@{{p}} --mode {PLACE}@{{q}} --mode reverse:https://127.0.0.1:9@{{r}}"
# With tokens or bridge_allow_remote: every --mode form, in one process.
ALL_MODES = (f"--mode regular@{{p}} --mode regular@0.0.0.0:{{q}} --mode {PLACE}@{{r}} --mode {PLACE}@0.0.0.0:{{s}} "
             f"--mode {PLACE}@127.0.0.1:{{t}} --mode reverse:https://127.0.0.1:9@{{u}}")
ALL_MODES_BOUND = (wild("p") | {("tcp", ANY4, "q")} | wild("r") | {("tcp", ANY4, "s"), ("tcp", LOOP, "t")} | wild("u")
                   | {("udp", ANY4, "u"), ("udp", ANY6, "u")})
# (id, args, what happens without tokens: the sockets, or what the one refusal line names)
UNPROTECTED = [
    ("port", "-p {p}", {("tcp", LOOP, "p")}),
    ("listen-host-any4", "-p {p} --listen-host 0.0.0.0", "0.0.0.0:{p} (--listen-host 0.0.0.0)"),
    ("listen-host-any6", "-p {p} --listen-host ::", "[::]:{p} (--listen-host ::)"),
    ("modes-without-host", HOSTLESS, {("tcp", LOOP, "p"), ("tcp", LOOP, "q"), ("tcp", LOOP, "r"), ("udp", LOOP, "r")}),
    ("mode-regular-any", "--mode regular@0.0.0.0:{p}", "0.0.0.0:{p} (--mode regular@0.0.0.0:{p})"),
    ("mode-reverse-any", f"--mode {PLACE}@0.0.0.0:{{p}}", f"0.0.0.0:{{p}} (--mode {PLACE}@0.0.0.0:{{p}})"),
    ("several-modes", f"--mode {PLACE}@127.0.0.1:{{p}} --mode regular@0.0.0.0:{{q}}",
     "0.0.0.0:{q} (--mode regular@0.0.0.0:{q})"),
]
# (id, args, the sockets with tokens or bridge_allow_remote: bound as asked)
PROTECTED = [
    ("port", "-p {p}", wild("p")),
    ("listen-host-any4", "-p {p} --listen-host 0.0.0.0", {("tcp", ANY4, "p")}),
    ("listen-host-any6", "-p {p} --listen-host ::", {("tcp", ANY6, "p")}),
    ("all-modes", ALL_MODES, ALL_MODES_BOUND),
]
WEB = "--set web_open_browser=false --web-port {w} "
UI_HOST = WEB + "--web-host 0.0.0.0 -p {p}"
UI_REFUSAL = "mitmweb's UI on 0.0.0.0:{w} (--web-host 0.0.0.0)"


def cases() -> list[Case]:
    out = []
    for exe in ("mitmdump", "mitmweb"):
        web = WEB if exe == "mitmweb" else ""
        ui = {("tcp", LOOP, "w")} if exe == "mitmweb" else set()
        for form_id, args, outcome in UNPROTECTED:
            refused = isinstance(outcome, str)
            out.append(Case(f"{exe}-{form_id}-none", exe, web + args, "none",
                            None if refused else outcome | ui, outcome if refused else None))
        for form_id, args, bound in PROTECTED:
            for setting in ("allow", "tokens"):
                # tokens and bridge_allow_remote take the same path; mitmweb runs each form with one of them
                if exe == "mitmdump" or setting == "allow" or form_id == "all-modes":
                    out.append(Case(f"{exe}-{form_id}-{setting}", exe, web + args, setting, bound | ui))
    out += [
        Case("mitmweb-web-host-any-none", "mitmweb", UI_HOST, "none", None, UI_REFUSAL),
        # the UI is not covered by the bridge's tokens: refused with tokens too
        Case("mitmweb-web-host-any-tokens", "mitmweb", UI_HOST, "tokens", None, UI_REFUSAL),
        Case("mitmweb-web-host-any-allow", "mitmweb", UI_HOST, "allow", wild("p") | {("tcp", ANY4, "w")}),
    ]
    return out


CASES = cases()


def run_case(case: Case, workdir: Path) -> dict:
    ports = {name: free_port() for name in "pqrstuw"}
    case.ports = ports
    args = [str(BIN / case.exe), "-s", SCRIPT, *case.args.format(**ports).split()]
    if case.setting == "allow":
        args += ["--set", "bridge_allow_remote=true"]
    elif case.setting == "tokens":
        config = workdir / f"{case.id}.toml"
        config.write_text('[server]\nauth_tokens = ["t"]\n')
        args += ["--set", f"bridge_config={config}"]
    log_path = workdir / f"{case.id}.log"
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", str(workdir))}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(args, cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        try:
            return watch(case, process, ports) | {"log": log_path.read_text(errors="replace")}
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def watch(case: Case, process: subprocess.Popen, ports: dict) -> dict:
    deadline = time.monotonic() + 40
    proxy_ports = {name for _, _, name in case.expect or () if name != "w"}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return {"returncode": process.returncode, "sockets": None}
        if case.expect is not None:
            try:
                seen = listeners(process.pid)
            except OSError:
                seen = set()
            by_port = {port: host for proto, host, port in seen if proto == "tcp"}
            ready = all(ports[n] in by_port and bridge_answers(by_port[ports[n]], ports[n]) for n in proxy_ports)
            if ready and ("w" not in {n for _, _, n in case.expect} or ports["w"] in by_port):
                time.sleep(0.2)  # a stray listener closing or opening late would show in the next read
                return {"returncode": None, "sockets": listeners(process.pid)}
        time.sleep(0.05)
    return {"returncode": None, "sockets": "timeout"}


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    if not LINUX_PROC:
        pytest.skip("reads /proc/<pid>/net")
    workdir = tmp_path_factory.mktemp("listen")
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = {case.id: pool.submit(run_case, case, workdir) for case in CASES}
        return {case_id: future.result() for case_id, future in futures.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_sockets_the_process_opens(case, started):
    result = started[case.id]
    log = result["log"]
    if case.expect is None:
        assert result["returncode"] == 1, log
        lines = [line for line in log.splitlines() if "llm-bridge: refusing" in line]
        assert len(lines) == 1, log
        assert case.refusal.format(**case.ports) in lines[0], log
        return
    assert result["returncode"] is None, log
    sockets = result["sockets"]
    assert sockets != "timeout", log
    ports = case.ports
    expected = {(proto, host, ports[name]) for proto, host, name in case.expect}
    named = {(proto, host, port) for proto, host, port in sockets if port in ports.values()}
    assert named == expected, log
    # anything else the process listens on (the bridge's own helper servers) is loopback only
    assert all(is_loopback(host) for _, host, port in sockets if port not in ports.values()), sockets


# --- the start-up window -----------------------------------------------------------------------

BIND = re.compile(r'bind\(\d+, \{sa_family=AF_INET6?, (?:sin6?_port=htons\((\d+)\)).*?'
                  r'(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")')


def traced_binds(tmp_path: Path, exe: str, *args: str, ready_port: int) -> list[tuple[str, int]]:
    """Every IP address the process (and its threads) binds, from mitmproxy's first step on."""
    strace = require("strace", "strace")
    out = tmp_path / f"{exe}.strace"
    command = [strace, "-f", "-qq", "-e", "trace=bind", "-o", str(out), str(BIN / exe), "-s", SCRIPT, *args]
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path))}
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 40
        while not bridge_answers("127.0.0.1", ready_port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"could not run under strace: {process.stderr.read().decode(errors='replace')[-300:]}")
            time.sleep(0.05)
    finally:
        stop_traced(process)
    binds = []
    for match in BIND.finditer(out.read_text()):
        binds.append((match.group(2) or match.group(3), int(match.group(1))))
    return binds


def stop_traced(process: subprocess.Popen) -> None:
    """SIGTERM to the traced mitmproxy (strace itself would only detach on it)."""
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        os.kill(int(child), 15)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux's /proc")
@pytest.mark.parametrize(("exe", "args"), [
    ("mitmdump", "-p {p}"),
    ("mitmdump", "--mode regular@{p}"),
    ("mitmweb", "--set web_open_browser=false --web-port {w} -p {p}"),
])
def test_no_socket_beyond_loopback_at_any_moment_of_start_up(tmp_path, exe, args):
    """Before the fix mitmproxy bound *:PORT at every start-up, until the bridge re-applied its servers."""
    p, w = free_port(), free_port()
    binds = traced_binds(tmp_path, exe, *args.format(p=p, w=w).split(), ready_port=p)
    assert ("127.0.0.1", p) in binds, binds  # strace saw the listener
    assert [b for b in binds if not is_loopback(b[0])] == []


def test_a_connection_to_a_listener_mitmproxy_opened_early_is_never_served(tmp_path):
    """An IP-literal listener is bound before the script runs (mitmproxy binds it before it imports the
    script). With tokens, `--mode regular@127.0.0.1:P` is such a listener: a plain forward proxy, which the
    bridge replaces by its own. A client that connects while the import runs is reset, never served
    (before the fix the forward proxy stayed and served it)."""
    config = tmp_path / "bridge.toml"
    config.write_text('[server]\nauth_tokens = ["t"]\n')
    p = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path))}
    process = subprocess.Popen([str(BIN / "mitmdump"), "-s", SCRIPT, "--mode", f"regular@127.0.0.1:{p}",
                                "--set", f"bridge_config={config}"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        client = connect_early(p, process)  # polls every millisecond from the start
        early = listener_inode(process.pid, p)
        client.sendall(b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAuthorization: Bearer t\r\n\r\n")
        client.settimeout(10)
        try:
            answer = client.recv(100)
        except ConnectionResetError:
            answer = b""
        client.close()
        deadline = time.monotonic() + 30
        while not bridge_answers("127.0.0.1", p):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        assert answer == b""
        assert early is not None and early != listener_inode(process.pid, p)  # the early listener was replaced
    finally:
        process.terminate()
        process.wait(10)


def connect_early(port: int, process: subprocess.Popen) -> socket.socket:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        client = socket.socket()
        try:
            client.connect(("127.0.0.1", port))
            return client
        except OSError:
            client.close()
            time.sleep(0.001)
    raise AssertionError("mitmdump never listened")


def listener_inode(pid: int, port: int) -> str | None:
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A" and _address(fields[1])[1] == port:
                    return fields[9]
    return None
