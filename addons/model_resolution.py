"""Which upstream model a client's model name becomes: one set of rules for
bridge.toml routes and proxy URLs.

In order: a forced model wins; the client's variant suffix (`claude-sonnet-4-6[1m]`)
is stripped when asked; an exact map entry; the first wildcard entry that matches,
its `*` captures written into the target's `*` (`claude-*` -> `gpt-4.1-*`); else
the name itself. Exact names match exactly; wildcard patterns match case-insensitively
(only `*` is special) and the captures keep the client's case.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

CLIENT_SUFFIX = re.compile(r"\[[^\]]*\]$")


def strip_client_suffix(name: str) -> str:
    return CLIENT_SUFFIX.sub("", name)


MAX_NAME_CHARS = 256  # longer client model names are never matched against patterns


@functools.lru_cache(maxsize=256)
def _pattern(glob: str) -> re.Pattern[str]:
    """`*` -> a capture. Each star but the last commits to the first place its following literal
    occurs (an atomic group, as fnmatch does), so matching is linear: no input can make it backtrack."""
    parts = glob.split("*")
    regex = re.escape(parts[0])
    for middle in parts[1:-1]:
        regex += f"(?>(.*?){re.escape(middle)})"
    if len(parts) > 1:
        regex += f"(.*){re.escape(parts[-1])}"
    return re.compile(regex + r"\Z", re.IGNORECASE | re.DOTALL)


def wildcard_match(glob: str, name: str) -> tuple[str, ...] | None:
    """The `*` captures of `name` against `glob`, or None when it does not match."""
    if len(name) > MAX_NAME_CHARS:
        return None
    found = _pattern(glob).match(name)
    return found.groups() if found else None


def substitute(target: str, captures: tuple[str, ...]) -> str:
    """Write captures into the target's `*`s in order; a target without `*` is taken as is."""
    if "*" not in target:
        return target
    pieces = target.split("*")
    out = [pieces[0]]
    for i, piece in enumerate(pieces[1:]):
        out.append(captures[i] if i < len(captures) else "")
        out.append(piece)
    return "".join(out)


@dataclass(frozen=True)
class ModelMapping:
    force: str | None = None
    map: dict[str, str] = field(default_factory=dict)  # exact names and `*` patterns
    strip_suffix: bool = True

    def resolve(self, name: str) -> str:
        if self.force:
            return self.force
        raw = name
        if self.strip_suffix:
            name = strip_client_suffix(name)
        exact = self.map.get(name, self.map.get(raw))
        if exact is not None and "*" not in name:
            return exact
        for glob, target in self.map.items():
            if "*" in glob:
                captures = wildcard_match(glob, name)
                if captures is not None:
                    return substitute(target, captures)
        return name

    def client_names(self) -> list[str]:
        """Model names a client can list: the forced model, or the map's exact names."""
        if self.force:
            return [self.force]
        return [name for name in self.map if "*" not in name]
