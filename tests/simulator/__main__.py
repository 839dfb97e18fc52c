"""Serve the simulator until interrupted: `python -m tests.simulator --port 18500`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .simulator import Simulator


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18500)
    parser.add_argument("--anthropic-key", default=None, help="expected x-api-key (default: any non-empty key)")
    parser.add_argument("--openai-key", default=None, help="expected bearer key (default: any non-empty key)")
    parser.add_argument(
        "--lenient-turns", action="store_true", help="let Anthropic requests repeat a role, as today's API does"
    )
    args = parser.parse_args()

    async def serve() -> None:
        simulator = Simulator(
            args.anthropic_key, args.openai_key, host=args.host, port=args.port, strict_turns=not args.lenient_turns
        )
        await simulator.start()
        print(f"llm simulator listening on {simulator.base_url}", flush=True)
        try:
            await simulator.serve_forever()
        finally:
            await simulator.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
