"""Run the bridge as a user does: a real `mitmdump -s addons/bridge.py` subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MITMDUMP = Path(sys.executable).parent / "mitmdump"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BridgeProcess:
    def __init__(self, *args: str, log_path: Path, cwd: Path = ROOT, env: dict | None = None,
                 program: str = "mitmdump") -> None:
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(MITMDUMP.parent / program), "-s", str(ROOT / "addons" / "bridge.py"), "-p", str(self.port),
             "--listen-host", "127.0.0.1", *args],
            cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )
        self.base_url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 20) -> "BridgeProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mitmdump exited ({self.process.returncode}):\n{self.log()}")
            try:
                # the models route answers locally once the reverse listener is up
                r = httpx.get(f"{self.base_url}/v1/models", timeout=1)
                if r.status_code in (200, 401) and r.headers.get("content-type") == "application/json":
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"bridge not ready:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


class MitmwebProcess(BridgeProcess):
    """`mitmweb -s addons/bridge.py`, its UI on a free loopback port with a known password (no browser)."""

    PASSWORD = "bridge-tests-web-password"

    def __init__(self, *args: str, log_path: Path, cwd: Path = ROOT, env: dict | None = None) -> None:
        self.web_port = free_port()
        super().__init__(f"--set=web_port={self.web_port}", "--set=web_open_browser=false",
                         f"--set=web_password={self.PASSWORD}", *args, log_path=log_path, cwd=cwd, env=env,
                         program="mitmweb")
        self.web_url = f"http://127.0.0.1:{self.web_port}"

    def api(self) -> httpx.Client:
        """mitmweb's HTTP API, authenticated (its XSRF cookie and header included, for POSTs)."""
        token = "0123456789abcdef0123456789abcdef"  # tornado checks that cookie and header carry the same token
        return httpx.Client(base_url=self.web_url, timeout=30, cookies={"_mitmproxy_xsrf": token},
                            headers={"Authorization": f"Bearer {self.PASSWORD}", "X-XSRFToken": token})
