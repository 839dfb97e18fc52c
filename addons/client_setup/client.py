"""What a client module declares: where its configuration lives and what setup writes there."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from addons.client_setup.formats import Format
from addons.client_setup.plan import Entry


@dataclass(frozen=True)
class ConfigFile:
    label: str  # how entries name the file
    format: Format
    name: str  # its name in the client's folder


@dataclass(frozen=True)
class Options:
    url: str
    token: str | None
    model: str | None = None  # the default model: the (first) --model
    models: tuple[str, ...] = ()  # the models to list: --model values, or the bridge's (opencode)


@dataclass(frozen=True)
class Client:
    name: str  # the command's argument: "codex"
    title: str  # "Codex"
    summary: str  # one line in the command's --help
    files: tuple[ConfigFile, ...]  # --config names the first; the others are beside it
    folder: Callable[[Mapping[str, str]], Path]  # the default folder, from the environment
    url_suffixes: tuple[str, ...]  # endings --url must not have
    url_why: str  # who appends them
    entries: Callable[[Options], list[Entry]]
    description: str  # the client's --help
    token_help: str
    next_step: Callable[[Options], str]
    model_help: str | None = None  # None: no --model
    single_model: bool = True  # --model at most once
    lists_models: bool = False  # without --model, ask the bridge's GET /v1/models
    notes: Callable[[Mapping[str, Mapping], Options, Mapping[str, str]], list[str]] = field(default=lambda *_: [])
    config_aliases: tuple[str, ...] = ()  # other spellings of --config

    def paths(self, config: Path | None, environ: Mapping[str, str]) -> dict[str, Path]:
        """Each file's path: `config` for the first and its folder for the others, else the default folder."""
        if config is not None:
            config = config.expanduser()
            return {f.label: (config if i == 0 else config.parent / f.name) for i, f in enumerate(self.files)}
        folder = self.folder(environ)
        return {f.label: folder / f.name for f in self.files}


def env_folder(variable: str, default: Callable[[], Path]) -> Callable[[Mapping[str, str]], Path]:
    """The folder named by `variable` when it is set and not blank, else `default()`."""

    def folder(environ: Mapping[str, str]) -> Path:
        value = environ.get(variable, "").strip()
        return Path(value).expanduser() if value else default()

    return folder
