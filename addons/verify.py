"""`uv run python -m addons.verify [--config bridge.toml] [--quiet] PATH...`: re-check recorded traffic.

Every bridged exchange in the given `.flow` files (or in the `.flow` files below the given folders: the
bridge's own recordings, `mitmdump -w` files, mitmweb's "Save") is translated again with the current
code, both ways, and compared with what was recorded (addons/recording/verify.py). One line per exchange:

    ok   <file>#<n>  <label>
    FAIL <file>#<n>  <label>: <difference>
    skip <file>#<n>  <reason>

then `N exchanges: X ok, Y failed, Z skipped`. Exit status: 0 when none failed and at least one was
checked, 1 when one failed (or none could be checked), 2 for a usage error (no path, a file that is not a
flow file, an empty folder, a bad --config), told in one line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

if not __package__:  # run as a file (python addons/verify.py): the project root holds the packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from addons.config import ConfigError, load_config  # noqa: E402
from addons.model_router import ModelRouter  # noqa: E402
from addons.recording.verify import RecordingError, check_flow, iter_flow_files, read_flows  # noqa: E402

USAGE = "python -m addons.verify [--config bridge.toml] [--quiet] PATH..."
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(message)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="python -m addons.verify", usage=USAGE,
        description="Check recorded llm-bridge exchanges (.flow files) against the current translation code.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help=".flow files, or folders searched for them")
    parser.add_argument("--config", metavar="bridge.toml",
                        help="translate each request with this configuration's route for its model "
                             "(upstream model, max_tokens, quirks) instead of the recorded one")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only failures and the summary")
    args = parser.parse_args(argv)
    if not args.paths:
        raise UsageError("no PATH given: name .flow files or folders holding them")
    return args


def run(args: argparse.Namespace, out=None) -> int:
    out = out or sys.stdout
    router = None
    if args.config:
        try:
            router = ModelRouter(load_config(args.config))
        except (OSError, ValueError) as exc:  # a folder, an unreadable or binary file
            raise ConfigError(f"{args.config}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    # every file is read before anything is reported: an unreadable one is a usage error, not a half report
    files = [(path, read_flows(path)) for path in iter_flow_files(args.paths)]
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    for path, flows in files:
        for number, flow in enumerate(flows, start=1):
            verdict = check_flow(flow, router=router)
            where = f"{path}#{number}"
            if verdict.ok:
                counts["ok"] += 1
                line = None if args.quiet else f"ok   {where}  {verdict.label}"
            elif verdict.difference is not None:
                counts["failed"] += 1
                line = f"FAIL {where}  {verdict.label}: {verdict.difference}"
            else:
                counts["skipped"] += 1
                line = None if args.quiet else f"skip {where}  {verdict.skipped}"
            if line is not None:
                print(line, file=out)
    total = sum(counts.values())
    print(f"{total} exchange{'' if total == 1 else 's'}: {counts['ok']} ok, {counts['failed']} failed, "
          f"{counts['skipped']} skipped", file=out)
    return EXIT_OK if counts["ok"] and not counts["failed"] else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a recorded text that the terminal's encoding lacks
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    # the translation code logs its failures; here they are findings, reported in the lines
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        return run(parse_args(argv))
    except BrokenPipeError:  # `... | head`: the reader has gone
        sys.stdout = open(os.devnull, "w")  # (and no second error when Python flushes stdout at exit)
        return EXIT_FAILED
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except (UsageError, RecordingError, ConfigError) as exc:
        print(f"error: {exc} (usage: {USAGE})" if isinstance(exc, UsageError) else f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
