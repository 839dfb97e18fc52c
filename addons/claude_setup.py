"""`python -m addons.claude_setup [options]`: the same as `python -m addons.client_setup claude-code [options]`.

Kept for its shorter name (README, habits); everything is in `addons/client_setup/` (`claude_code.py` says
what is written, `config_file.py` how).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from addons.client_setup import command
from addons.client_setup.config_file import BACKUP_SUFFIX, DEFAULT_URL, mask_secret

__all__ = ["BACKUP_SUFFIX", "DEFAULT_URL", "main", "mask_secret"]


def main(argv: Sequence[str] | None = None) -> int:
    rest = sys.argv[1:] if argv is None else list(argv)
    return command.main(["claude-code", *rest], prog="python -m addons.claude_setup")


if __name__ == "__main__":
    sys.exit(main())
