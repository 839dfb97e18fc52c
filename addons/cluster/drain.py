"""SIGTERM or Ctrl-C: a drain, not a cut.

1. HAProxy soft-stops (SIGUSR1): its listener closes, so new connections are refused; idle keep-alive
   connections are closed; requests and streams under way go on.
2. When they have all finished HAProxy exits by itself; `--drain-seconds` (default 30) bounds the wait
   (HAProxy's own `hard-stop-after` is the same bound, and the cluster stops it a little after).
3. The workers get SIGTERM (SIGKILL 10 s later if one is still there), and the cluster exits 0.

A second SIGTERM / Ctrl-C during the drain ends it at once (same steps, no waiting).
"""

from __future__ import annotations

import subprocess
import time

SIGNAL_GRACE_S = 2.0  # after hard-stop-after, before the cluster stops HAProxy itself


def drain(haproxy, workers, drain_seconds: float, log, hurry=lambda: False) -> None:
    log(f"draining: no new connections; requests under way have up to {drain_seconds:g} s to finish")
    started = time.monotonic()
    haproxy.soft_stop()
    deadline = started + drain_seconds + SIGNAL_GRACE_S
    process = haproxy.process
    while process is not None and process.poll() is None:
        if hurry() or time.monotonic() > deadline:
            log("drain: stopping HAProxy now" + (" (asked again)" if hurry() else f" ({drain_seconds:g} s are over)"))
            haproxy.stop()
            break
        try:
            process.wait(0.2)
        except subprocess.TimeoutExpired:
            pass
    log(f"drained in {time.monotonic() - started:.1f} s; stopping the workers")
    workers.stop()
